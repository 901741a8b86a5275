import Foundation
import Testing
@testable import DARTS
@testable import DartsTensor

/// The genotype a small network derives from the given alpha rows (14 rows of 8 each).
private func derive(normal: [[Float]], reduce: [[Float]]) -> Genotype {
    var rng = RandomGenerator(seed: 2)
    let network = SearchNetwork(SearchConfiguration(inputChannels: 1, imageSize: 8, channels: 2, layers: 3), rng: &rng)
    network.alphaNormal.assign(normal.flatMap { $0 })
    network.alphaReduce.assign(reduce.flatMap { $0 })
    return network.genotype()
}

private let zeroAlphas = [[Float]](repeating: [Float](repeating: 0, count: 8), count: 14)

private func edges(_ pairs: [(String, Int)]) -> [Genotype.Edge] {
    pairs.map { Genotype.Edge(Primitive(rawValue: $0.0)!, $0.1) }
}

// MARK: Derivation

@Test func derivedGenotypeMatchesTheOfficialDerivationOnFixtureAlphas() throws {
    let fixture = try Fixture("search_small")
    var rng = RandomGenerator(seed: 1)
    let network = SearchNetwork(SearchConfiguration(inputChannels: 1, imageSize: 8, channels: 4, layers: 5), rng: &rng)
    network.alphaNormal.assign(fixture.values("genotype.alpha.normal"))
    network.alphaReduce.assign(fixture.values("genotype.alpha.reduce"))
    let url = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/genotype_small.txt")
    let expected = try String(contentsOf: url, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(network.genotype().dartsText == expected)
}

@Test func noneNeverAppearsEvenWhenItIsEveryEdgesStrongestOperation() {
    // Every row: none = 5 (the largest weight everywhere), one other operation 1 + 0.1 * level,
    // the levels (5 e mod 14) all distinct, so the ranking of edges is defined.
    let rows: [[Float]] = (0..<14).map { e in
        var row = [Float](repeating: 0, count: 8)
        row[0] = 5
        row[e % 7 + 1] = 1 + 0.1 * Float(e * 5 % 14)
        return row
    }
    let genotype = derive(normal: rows, reduce: rows)
    #expect(!genotype.normal.contains { $0.operation == .none })
    #expect(!genotype.reduce.contains { $0.operation == .none })
    // The official derivation (Python, genotype() of model_search.py) on the same alphas:
    let expected = edges([("avg_pool_3x3", 1), ("max_pool_3x3", 0), ("skip_connect", 0), ("sep_conv_5x5", 2),
                          ("avg_pool_3x3", 3), ("dil_conv_3x3", 0), ("sep_conv_5x5", 2), ("dil_conv_5x5", 4)])
    #expect(genotype.normal == expected)
    #expect(genotype.reduce == expected)
    #expect(genotype.normalConcat == [2, 3, 4, 5] && genotype.reduceConcat == [2, 3, 4, 5])
}

@Test func noneIsSkippedEvenWhenEveryOtherOperationIsFarWeaker() {
    var rows = zeroAlphas
    for e in 0..<14 { rows[e] = [30, -30, -30, -30, -30, -29, -30, -30] }
    let genotype = derive(normal: rows, reduce: zeroAlphas)
    #expect(genotype.normal.allSatisfy { $0.operation == .sepConv5x5 })
    #expect(genotype.normal.map(\.input) == [0, 1, 0, 1, 0, 1, 0, 1])
}

@Test func tiesResolveToTheEarlierEdgeAndTheLowerOperationIndex() {
    // All alphas equal: every weight ties, so each node keeps inputs 0 and 1 with max_pool_3x3 (index 1).
    let genotype = derive(normal: zeroAlphas, reduce: zeroAlphas)
    let expected = edges([("max_pool_3x3", 0), ("max_pool_3x3", 1), ("max_pool_3x3", 0), ("max_pool_3x3", 1),
                          ("max_pool_3x3", 0), ("max_pool_3x3", 1), ("max_pool_3x3", 0), ("max_pool_3x3", 1)])
    #expect(genotype.normal == expected)
    #expect(genotype.reduce == expected)
}

@Test func tiedStrongestEdgesKeepTheirInputOrderAndTiedOperationsTheLowerIndex() {
    // Node 3 (edges 9..13, inputs 0..4): inputs 1 and 3 tie as strongest, each with
    // sep_conv_3x3 (4) and dil_conv_3x3 (6) tied; the others are uniform.
    var rows = zeroAlphas
    rows[10] = [0, 0, 0, 0, 2, 0, 2, 0]
    rows[12] = rows[10]
    let genotype = derive(normal: zeroAlphas, reduce: rows)
    #expect(Array(genotype.reduce[6...]) == edges([("sep_conv_3x3", 1), ("sep_conv_3x3", 3)]))
    #expect(Array(genotype.reduce[..<6]) == Array(genotype.normal[..<6]))
}

@Test func keptEdgesAreListedStrongestFirst() {
    // Node 0: input 1 (avg_pool_3x3) stronger than input 0 (skip_connect).
    var rows = zeroAlphas
    rows[0] = [0, 0, 0, 1, 0, 0, 0, 0]
    rows[1] = [0, 0, 3, 0, 0, 0, 0, 0]
    let genotype = derive(normal: rows, reduce: zeroAlphas)
    #expect(Array(genotype.normal[..<2]) == edges([("avg_pool_3x3", 1), ("skip_connect", 0)]))
}

@Test func edgesAreRankedBySoftmaxWeightNotByRawAlpha() {
    // Node 1 (edges 2..4). Raw maxima 2, 1, 1.5 would keep inputs 0 and 2 (pt.darts);
    // softmax maxima 0.140, 0.280, 0.150 keep inputs 1 and 2 (official).
    var rows = zeroAlphas
    rows[2] = [0, 2, 2, 2, 2, 2, 2, 2]
    rows[3] = [0, 0, 1, 0, 0, 0, 0, 0]
    rows[4] = [0, 1.4, 1.4, 1.5, 1.4, 1.4, 1.4, 1.4]
    let genotype = derive(normal: rows, reduce: zeroAlphas)
    #expect(Array(genotype.normal[2..<4]) == edges([("avg_pool_3x3", 1), ("skip_connect", 2)]))
}

@Test func softmaxRowsNormaliseEachRow() {
    let t = Tensor(shape: [2, 3], values: [0, 0, 0, 1, 2, 3])
    let rows = softmaxRows(t)
    #expect(rows.count == 2)
    #expect(rows[0] == [Float](repeating: 1 / 3, count: 3))
    let e: [Double] = [1, M_E, M_E * M_E]
    let s = e.reduce(0, +)
    for k in 0..<3 { #expect(abs(Double(rows[1][k]) - e[k] / s) < 1e-6) }
}

// MARK: Text and JSON forms

@Test func dartsV1TextIsTheOfficialOne() {
    #expect(Genotype.dartsV1.dartsText == "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])")
}

@Test func dartsV2TextIsTheOfficialOne() {
    #expect(Genotype.dartsV2.dartsText == "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")
}

@Test(arguments: [Genotype.dartsV1, Genotype.dartsV2])
func genotypeSurvivesAJSONRoundTrip(genotype: Genotype) throws {
    let data = try JSONEncoder().encode(genotype)
    #expect(try JSONDecoder().decode(Genotype.self, from: data) == genotype)
}

@Test func genotypeJSONUsesOperationNameAndInputPairs() throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    let json = String(decoding: try encoder.encode(Genotype.dartsV2), as: UTF8.self)
    #expect(json.hasPrefix("{\"normal\":[[\"sep_conv_3x3\",0],[\"sep_conv_3x3\",1],"))
    #expect(json.contains("\"normal_concat\":[2,3,4,5]"))
    #expect(json.contains("\"reduce_concat\":[2,3,4,5]"))
    #expect(json.contains("[\"max_pool_3x3\",1]]"))
}

@Test func decodingAnUnknownOperationFailsWithAnErrorNamingIt() {
    let json = """
        {"normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["conv_7x1_1x7", 0], ["sep_conv_3x3", 1],
                    ["sep_conv_3x3", 1], ["skip_connect", 0], ["skip_connect", 0], ["dil_conv_3x3", 2]],
         "normal_concat": [2, 3, 4, 5],
         "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 2], ["max_pool_3x3", 1],
                    ["max_pool_3x3", 0], ["skip_connect", 2], ["skip_connect", 2], ["max_pool_3x3", 1]],
         "reduce_concat": [2, 3, 4, 5]}
        """
    do {
        _ = try JSONDecoder().decode(Genotype.self, from: Data(json.utf8))
        Issue.record("an unknown operation was accepted")
    } catch DecodingError.dataCorrupted(let context) {
        #expect(context.debugDescription.contains("'conv_7x1_1x7'"))
        #expect(context.debugDescription.contains("normal[2]"))
    } catch {
        Issue.record("unexpected error \(error)")
    }
}

// MARK: The cap on parameter-free edges (P-DARTS, docs/algorithm.md §11.3)

/// 14 softmax-like rows of a normal cell whose derived cell has 5 parameter-free edges, kept
/// weights 0.40 (skip, edge 0), 0.35 (avg, edge 3), 0.30 (skip, edge 5), 0.25 (max, edge 2) and
/// 0.20 (skip, edge 12), each with a weaker convolution on the same edge.
private let capRows: [[Float]] = {
    func row(_ entries: [Primitive: Float]) -> [Float] {
        Primitive.allCases.map { entries[$0] ?? 0.05 }
    }
    let weak = [Float](repeating: 0.1, count: 8)
    return [
        row([.skipConnect: 0.40, .sepConv3x3: 0.20]),                     // 0: node 0 from 0
        row([.sepConv3x3: 0.30]),                                         // 1: node 0 from 1
        row([.maxPool3x3: 0.25, .dilConv3x3: 0.22, .sepConv5x5: 0.21]),   // 2: node 1 from 0
        row([.avgPool3x3: 0.35, .sepConv5x5: 0.15, .dilConv5x5: 0.15]),   // 3: node 1 from 1
        weak,                                                             // 4
        row([.skipConnect: 0.30, .sepConv5x5: 0.28]),                     // 5: node 2 from 0
        row([.dilConv3x3: 0.45]),                                         // 6: node 2 from 1
        weak, weak, weak,                                                 // 7, 8, 9
        row([.sepConv5x5: 0.5]),                                          // 10: node 3 from 1
        weak,                                                             // 11
        row([.skipConnect: 0.20, .dilConv5x5: 0.19]),                     // 12: node 3 from 3
        weak,                                                             // 13
    ]
}()

@Test func withoutACapTheHandMadeCellHasFiveParameterFreeEdges() {
    let uncapped = Genotype(weightsNormal: capRows, weightsReduce: capRows)
    #expect(uncapped.normal == edges([("skip_connect", 0), ("sep_conv_3x3", 1), ("avg_pool_3x3", 1), ("max_pool_3x3", 0),
                                      ("dil_conv_3x3", 1), ("skip_connect", 0), ("sep_conv_5x5", 1), ("skip_connect", 3)]))
    #expect(uncapped.normal.filter { $0.operation.isParameterFree }.count == 5)
    // A cap at or above the count changes nothing.
    for m in 5...8 { #expect(Genotype(weightsNormal: capRows, weightsReduce: capRows, maxParameterFree: m) == uncapped) }
}

@Test func aCapOfTwoGivesTheThreeWeakestParameterFreeEdgesTheirBestConvolution() {
    let capped = Genotype(weightsNormal: capRows, weightsReduce: capRows, maxParameterFree: 2)
    // 0.20 (skip from 3) -> dil_conv_5x5 0.19; 0.25 (max from 0) -> dil_conv_3x3 0.22;
    // 0.30 (skip from 0) -> sep_conv_5x5 0.28; skip 0.40 and avg 0.35 stay. Inputs unchanged.
    #expect(capped.normal == edges([("skip_connect", 0), ("sep_conv_3x3", 1), ("avg_pool_3x3", 1), ("dil_conv_3x3", 0),
                                    ("dil_conv_3x3", 1), ("sep_conv_5x5", 0), ("sep_conv_5x5", 1), ("dil_conv_5x5", 3)]))
    #expect(capped.keptWeights(of: .normal, weights: capRows) == [0.40, 0.30, 0.35, 0.22, 0.45, 0.28, 0.5, 0.19])
    // The reduction cell is not capped.
    #expect(capped.reduce == Genotype(weightsNormal: capRows, weightsReduce: capRows).reduce)
    #expect(capped.reduce.filter { $0.operation.isParameterFree }.count == 5)
}

@Test func aCapOfFourReplacesOnlyTheWeakestAndACapOfZeroReplacesAll() {
    let four = Genotype(weightsNormal: capRows, weightsReduce: capRows, maxParameterFree: 4)
    #expect(four.normal.map(\.operation.rawValue) == ["skip_connect", "sep_conv_3x3", "avg_pool_3x3", "max_pool_3x3",
                                                      "dil_conv_3x3", "skip_connect", "sep_conv_5x5", "dil_conv_5x5"])
    let zero = Genotype(weightsNormal: capRows, weightsReduce: capRows, maxParameterFree: 0)
    // avg (edge 3) takes sep_conv_5x5: it ties with dil_conv_5x5 at 0.15 and comes first in PRIMITIVES.
    #expect(zero.normal == edges([("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_5x5", 1), ("dil_conv_3x3", 0),
                                  ("dil_conv_3x3", 1), ("sep_conv_5x5", 0), ("sep_conv_5x5", 1), ("dil_conv_5x5", 3)]))
    #expect(!zero.normal.contains { $0.operation.isParameterFree })
}

@Test func theReductionCapActsOnTheReductionCellAlone() {
    let uncapped = Genotype(weightsNormal: capRows, weightsReduce: capRows)
    let reduceOnly = Genotype(weightsNormal: capRows, weightsReduce: capRows, maxParameterFreeReduce: 2)
    // The same rule, on the reduction cell's rows: the edges of the normal-cell test above.
    #expect(reduceOnly.reduce == Genotype(weightsNormal: capRows, weightsReduce: capRows, maxParameterFree: 2).normal)
    #expect(reduceOnly.normal == uncapped.normal)
    let both = Genotype(weightsNormal: capRows, weightsReduce: capRows, maxParameterFree: 0, maxParameterFreeReduce: 4)
    #expect(both.normal == Genotype(weightsNormal: capRows, weightsReduce: capRows, maxParameterFree: 0).normal)
    #expect(both.reduce.map(\.operation.rawValue) == ["skip_connect", "sep_conv_3x3", "avg_pool_3x3", "max_pool_3x3",
                                                     "dil_conv_3x3", "skip_connect", "sep_conv_5x5", "dil_conv_5x5"])
    for m in 5...8 { #expect(Genotype(weightsNormal: capRows, weightsReduce: capRows, maxParameterFreeReduce: m) == uncapped) }
}

@Test func equalKeptWeightsReplaceTheLaterEdgeFirst() {
    var rows = capRows
    rows[12] = rows[2]   // node 3 from 3: max 0.25 like edge 2 (node 1 from 0), the two weakest
    let capped = Genotype(weightsNormal: rows, weightsReduce: rows, maxParameterFree: 4)
    #expect(capped.normal[3] == Genotype.Edge(.maxPool3x3, 0))
    #expect(capped.normal[7] == Genotype.Edge(.dilConv3x3, 3))
}

@Test func theCapAppliesToTheSearchNetworksGenotype() {
    var rng = RandomGenerator(seed: 2)
    let network = SearchNetwork(SearchConfiguration(inputChannels: 1, imageSize: 8, channels: 2, layers: 3), rng: &rng)
    network.alphaNormal.assign(capRows.flatMap { $0.map { logf($0) } })
    network.alphaReduce.assign(capRows.flatMap { $0.map { logf($0) } })
    let capped = network.genotype(maxParameterFree: 2)
    #expect(capped == Genotype(weightsNormal: softmaxRows(network.alphaNormal), weightsReduce: softmaxRows(network.alphaReduce),
                               maxParameterFree: 2))
    #expect(capped.normal.filter { $0.operation.isParameterFree }.count == 2)
    #expect(network.genotype().normal.filter { $0.operation.isParameterFree }.count == 5)
    let both = network.genotype(maxParameterFree: 2, maxParameterFreeReduce: 1)
    #expect(both.normal == capped.normal && both.reduce.filter { $0.operation.isParameterFree }.count == 1)
}
