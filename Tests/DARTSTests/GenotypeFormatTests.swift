import Foundation
import Testing
import TestSupport
@testable import DARTS

// MARK: Helpers shared with GenotypeErrorTests

/// DARTS_V2 exactly as the official genotypes.py (and docs/algorithm.md §5) writes it.
let officialDartsV2Text = """
    DARTS_V2 = Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])
    """

/// The genotype in pt.darts's layout: one list of two pairs per node, double quotes, range(2, 6),
/// one field per line.
func nestedText(_ g: Genotype) -> String {
    func cell(_ edges: [Genotype.Edge]) -> String {
        "[" + stride(from: 0, to: edges.count, by: 2).map { k in
            "[" + edges[k..<k + 2].map { "(\"\($0.operation.rawValue)\", \($0.input))" }.joined(separator: ", ") + "]"
        }.joined(separator: ",\n        ") + "]"
    }
    return "Genotype(\n    normal=\(cell(g.normal)),\n    normal_concat=range(2, 6),\n"
        + "    reduce=\(cell(g.reduce)),\n    reduce_concat=range(2, 6)\n)"
}

/// An NNI architecture as JSON text, each edge value rendered by `edge` (nil when dropped) and
/// each switch by `choice` (its chosen inputs, the node's number of inputs, the key prefix "normal_n3_").
func nniText(_ g: Genotype, edge: (Primitive?) -> String,
             choice: (_ inputs: [Int], _ states: Int, _ keyPrefix: String) -> String) throws -> String {
    let architecture = try g.nniArchitecture()
    let lines = architecture.keys.sorted().map { key -> String in
        let value: String
        switch architecture[key]! {
        case .operation(let name): value = edge(Genotype.nniOperations.first { $0.nniName == name }!)
        case .dropped: value = edge(nil)
        case .edges(let keys):
            let prefix = String(key.dropLast("switch".count))
            let states = Int(String(key.dropFirst("normal_n".count).prefix(1)))!   // "reduce_n" is as long
            value = choice(keys.map { Int($0.dropFirst(prefix.count + 1))! }, states, prefix)
        }
        return "\"\(key)\": \(value)"
    }
    return "{" + lines.joined(separator: ",\n ") + "}"
}

/// NNI 1.2-1.5's boolean form: a 7-long one-hot list per edge, an n-long list per switch.
func nniBooleanText(_ g: Genotype) throws -> String {
    try nniText(g, edge: { op in
        "[" + Genotype.nniOperations.map { $0 == op ? "true" : "false" }.joined(separator: ", ") + "]"
    }, choice: { inputs, states, _ in
        "[" + (0..<states).map { inputs.contains($0) ? "true" : "false" }.joined(separator: ", ") + "]"
    })
}

/// Operations as indices into NNI's 7-op list, switches as edge keys.
func nniIntegerText(_ g: Genotype) throws -> String {
    try nniText(g, edge: { op in op.map { String(Genotype.nniOperations.firstIndex(of: $0)!) } ?? "[]" },
                choice: { inputs, _, prefix in "[" + inputs.map { "\"\(prefix)p\($0)\"" }.joined(separator: ", ") + "]" })
}

// MARK: Round trips

@Test(arguments: [("DARTS_V1", Genotype.dartsV1), ("DARTS_V2", Genotype.dartsV2)])
func genotypeSurvivesEveryTextFormat(name: String, genotype: Genotype) throws {
    #expect(try Genotype.parse(genotype.dartsText) == genotype)
    #expect(try Genotype.parse("\(name) = \(genotype.dartsText)") == genotype)
    #expect(try Genotype.parse(nestedText(genotype)) == genotype)
    #expect(try Genotype.parse(genotype.jsonText) == genotype)
    #expect(try Genotype.parse(String(decoding: JSONEncoder().encode(genotype), as: UTF8.self)) == genotype)
    // NNI does not rank a node's two edges: they come back in input order.
    let nni = String(decoding: try genotype.nniJSON(), as: UTF8.self)
    #expect(try Genotype.parse(nni) == genotype.inputOrdered)
    #expect(try Genotype.parse(nniBooleanText(genotype)) == genotype.inputOrdered)
    #expect(try Genotype.parse(nniIntegerText(genotype)) == genotype.inputOrdered)
}

@Test func jsonTextDecodesWithTheCodableForm() throws {
    let decoded = try JSONDecoder().decode(Genotype.self, from: Data(Genotype.dartsV2.jsonText.utf8))
    #expect(decoded == Genotype.dartsV2)
}

@Test func inputOrderedSortsEachNodesTwoEdgesOnly() {
    let ordered = Genotype.dartsV2.inputOrdered
    #expect(ordered.normal.map(\.input) == [0, 1, 0, 1, 0, 1, 0, 2])
    #expect(ordered.normal[4] == Genotype.Edge(.skipConnect, 0) && ordered.normal[5] == Genotype.Edge(.sepConv3x3, 1))
    #expect(ordered.reduce.map(\.input) == [0, 1, 1, 2, 0, 2, 1, 2])
    #expect(ordered.inputOrdered == ordered)
}

// MARK: DARTS text

@Test func officialDartsV2TextParsesToDartsV2() throws {
    #expect(try Genotype.parse(officialDartsV2Text) == Genotype.dartsV2)
}

@Test func ptDartsNestedGenotypeWithRangeConcatParses() throws {
    let text = """
        Genotype(
            normal=[[('sep_conv_3x3', 0), ('dil_conv_5x5', 1)], [('skip_connect', 0), ('dil_conv_3x3', 2)],
                    [('sep_conv_3x3', 1), ('skip_connect', 0)], [('sep_conv_3x3', 1), ('skip_connect', 0)]],
            normal_concat=range(2, 6),
            reduce=[[('max_pool_3x3', 0), ('max_pool_3x3', 1)], [('max_pool_3x3', 0), ('skip_connect', 2)],
                    [('skip_connect', 3), ('max_pool_3x3', 0)], [('skip_connect', 2), ('max_pool_3x3', 0)]],
            reduce_concat=range(2, 6)
        )
        """
    let g = try Genotype.parse(text)
    #expect(g.normal == [.init(.sepConv3x3, 0), .init(.dilConv5x5, 1), .init(.skipConnect, 0), .init(.dilConv3x3, 2),
                         .init(.sepConv3x3, 1), .init(.skipConnect, 0), .init(.sepConv3x3, 1), .init(.skipConnect, 0)])
    #expect(g.reduce[4] == .init(.skipConnect, 3) && g.reduce[7] == .init(.maxPool3x3, 0))
    #expect(g.normalConcat == [2, 3, 4, 5] && g.reduceConcat == [2, 3, 4, 5])
}

@Test func textToleratesPositionalFieldsCommentsTrailingCommasAndListRange() throws {
    let v1 = Genotype.dartsV1
    func flat(_ e: [Genotype.Edge]) -> String { "[" + e.map { "(\"\($0.operation.rawValue)\",\($0.input)),\n" }.joined() + "]" }
    let text = """
        # searched on CIFAR-10
        genotypes.Genotype(\(flat(v1.normal)), list(range(2, 6)),
            reduce = \(flat(v1.reduce)),   # reduction cell
            reduce_concat = (2, 3, 4, 5),
        )
        """
    #expect(try Genotype.parse(text) == v1)
}

// MARK: NNI export

@Test func nniExportOfDartsV2HasTheThirtySixSortedKeys() throws {
    let text = String(decoding: try Genotype.dartsV2.nniJSON(), as: UTF8.self)
    let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    #expect(object.count == 36)
    #expect(Set(object.keys) == Set(Genotype.nniKeys))
    #expect(Genotype.nniKeys == Genotype.nniKeys.sorted())
    // Keys appear in sorted order in the text.
    let positions = Genotype.nniKeys.map { text.range(of: "\"\($0)\":")!.lowerBound }
    #expect(positions == positions.sorted())
    #expect(text.hasPrefix("{\n  \"normal_n2_p0\": \"sepconv3x3\",\n  \"normal_n2_p1\": \"sepconv3x3\",\n"
        + "  \"normal_n2_switch\": [\n    \"normal_n2_p0\",\n    \"normal_n2_p1\"\n  ],\n"))
}

@Test func nniExportOfDartsV2HasTheHandDerivedValues() throws {
    let a = try Genotype.dartsV2.nniArchitecture()
    #expect(a.count == 36)
    // normal node 2 lists (sep_conv_3x3, 1) before (skip_connect, 0); NNI's switch is in index order.
    #expect(a["normal_n4_p0"] == .operation("skipconnect"))
    #expect(a["normal_n4_p1"] == .operation("sepconv3x3"))
    #expect(a["normal_n4_p2"] == .dropped && a["normal_n4_p3"] == .dropped)
    #expect(a["normal_n4_switch"] == .edges(["normal_n4_p0", "normal_n4_p1"]))
    #expect(a["normal_n5_p2"] == .operation("dilconv3x3"))
    #expect(a["normal_n5_switch"] == .edges(["normal_n5_p0", "normal_n5_p2"]))
    #expect(a["reduce_n3_p0"] == .dropped)
    #expect(a["reduce_n3_p1"] == .operation("maxpool") && a["reduce_n3_p2"] == .operation("skipconnect"))
    #expect(a["reduce_n3_switch"] == .edges(["reduce_n3_p1", "reduce_n3_p2"]))
    #expect(a["reduce_n5_switch"] == .edges(["reduce_n5_p1", "reduce_n5_p2"]))
    #expect(a.filter { $0.value == .dropped }.count == 2 * (14 - 8))
    let text = String(decoding: try Genotype.dartsV2.nniJSON(), as: UTF8.self)
    #expect(text.contains("\"reduce_n5_p0\": [],"))
}

@Test func nniExportRefusesANodeThatReadsOneInputTwice() {
    var g = Genotype.dartsV2
    g.normal[1] = .init(.skipConnect, 0)
    #expect(throws: GenotypeError.duplicateInput(cell: .normal, node: 0, input: 0)) { try g.nniJSON() }
    #expect("\(GenotypeError.duplicateInput(cell: .normal, node: 0, input: 0))"
        == "normal, node 0: both edges read input 0; NNI's exported architecture holds one operation per edge, so the two inputs must differ")
}

@Test func nniOperationsFollowNNIsOrder() {
    #expect(Genotype.nniOperations.map { $0.nniName! }
        == ["maxpool", "avgpool", "skipconnect", "sepconv3x3", "sepconv5x5", "dilconv3x3", "dilconv5x5"])
}

// MARK: Names, files, random

@Test func namedGenotypesIgnoreCase() {
    #expect(Genotype.named("DARTS_V1") == Genotype.dartsV1)
    #expect(Genotype.named("darts_v2") == Genotype.dartsV2)
    #expect(Genotype.named("DARTS") == Genotype.dartsV2)
    #expect(Genotype.named("DARTS_V3") == nil)
}

@Test func loadReadsAFileAndTheGenotypeJSONOfARunFolder() throws {
    let tmp = try TemporaryFolder(prefix: "genotype-load")
    defer { tmp.remove() }
    let folder = tmp.url
    let text = folder.appendingPathComponent("v1.txt")
    try Data(Genotype.dartsV1.dartsText.utf8).write(to: text)
    #expect(try Genotype.load(path: text.path) == Genotype.dartsV1)
    try JSONEncoder().encode(Genotype.dartsV2).write(to: folder.appendingPathComponent("genotype.json"))
    #expect(try Genotype.load(path: folder.path) == Genotype.dartsV2)
}

@Test func randomGenotypeIsDeterministicValidAndDependsOnTheSeed() throws {
    let a = Genotype.random(seed: 7)
    #expect(Genotype.random(seed: 7) == a)
    #expect(Genotype.random(seed: 8) != a)
    for seed: UInt64 in 0..<200 {
        let g = Genotype.random(seed: seed)
        try g.validate()
        for edges in [g.normal, g.reduce] {
            for node in 0..<4 { #expect(edges[2 * node].input < edges[2 * node + 1].input) }
        }
        #expect(try Genotype.parse(String(decoding: g.nniJSON(), as: UTF8.self)) == g)
    }
}

@Test func randomGenotypesCoverEveryOperationAndInput() {
    var operations = Set<Primitive>(), inputsOfLastNode = Set<Int>()
    for seed: UInt64 in 0..<100 {
        let g = Genotype.random(seed: seed)
        operations.formUnion((g.normal + g.reduce).map(\.operation))
        inputsOfLastNode.formUnion([g.normal[6].input, g.normal[7].input])
    }
    #expect(operations == Set(Primitive.allCases.filter { $0 != .none }))
    #expect(inputsOfLastNode == [0, 1, 2, 3, 4])
}

// MARK: Graphviz

@Test func dotOfACellHasVisualizePysNodesAndEveryOperationLabel() {
    let dot = Genotype.dartsV2.dot(cell: .normal)
    #expect(dot.hasPrefix("digraph normal {"))
    #expect(dot.contains("rankdir=LR"))
    for name in ["c_{k-2}", "c_{k-1}", "0", "1", "2", "3", "c_{k}"] {
        #expect(dot.contains("\"\(name)\" [label=\"\(name)\""), "node \(name)")
    }
    #expect(dot.contains("\"c_{k-2}\" -> \"0\" [label=\"sep_conv_3x3\""))
    #expect(dot.contains("\"0\" -> \"3\" [label=\"dil_conv_3x3\""))
    #expect(dot.contains("\"1\" -> \"c_{k}\""))
    #expect(dot.components(separatedBy: "[label=\"skip_connect\"").count - 1 == 2)
    #expect(dot.components(separatedBy: " -> ").count - 1 == 8 + 4)
    let reduce = Genotype.dartsV2.dot(cell: .reduce)
    #expect(reduce.contains("[label=\"max_pool_3x3\"") && reduce.contains("[label=\"skip_connect\""))
}

@Test func combinedDotHoldsBothCellsAsClusters() {
    let dot = Genotype.dartsV1.dot()
    #expect(dot.contains("subgraph cluster_normal") && dot.contains("subgraph cluster_reduce"))
    #expect(dot.contains("label=\"normal cell\"") && dot.contains("label=\"reduction cell\""))
    #expect(dot.contains("\"normal_c_{k-1}\" [label=\"c_{k-1}\""))
    #expect(dot.contains("\"reduce_0\" -> \"reduce_3\" [label=\"skip_connect\""))
    #expect(dot.contains("\"reduce_c_{k-2}\" -> \"reduce_3\" [label=\"avg_pool_3x3\""))
    #expect(dot.components(separatedBy: " -> ").count - 1 == 2 * (8 + 4))
}
