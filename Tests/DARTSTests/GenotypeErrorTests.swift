import Foundation
import Testing
import TestSupport
@testable import DARTS

/// The GenotypeError `Genotype.parse(text)` throws, as its description ("" when it parses).
private func parseError(_ text: String) -> String {
    do {
        _ = try Genotype.parse(text)
        return ""
    } catch let error as GenotypeError {
        return error.description
    } catch {
        return "not a GenotypeError: \(error)"
    }
}

/// DARTS text with the given cells (flat layout) and concats.
private func dartsText(normal: [(String, Int)], reduce: [(String, Int)] = dartsV2Pairs(.reduce),
                       normalConcat: String = "[2, 3, 4, 5]") -> String {
    func cell(_ pairs: [(String, Int)]) -> String { "[" + pairs.map { "('\($0.0)', \($0.1))" }.joined(separator: ", ") + "]" }
    return "Genotype(normal=\(cell(normal)), normal_concat=\(normalConcat), reduce=\(cell(reduce)), reduce_concat=[2, 3, 4, 5])"
}

private func dartsV2Pairs(_ cell: Genotype.Cell) -> [(String, Int)] {
    Genotype.dartsV2.edges(of: cell).map { ($0.operation.rawValue, $0.input) }
}

/// DARTS_V2's NNI export with `replacements` applied to its text.
private func nniV2(_ replacements: [(String, String)]) throws -> String {
    var text = String(decoding: try Genotype.dartsV2.nniJSON(), as: UTF8.self)
    for (old, new) in replacements {
        #expect(text.contains(old), "the NNI export has no \(old)")
        text = text.replacingOccurrences(of: old, with: new)
    }
    return text
}

private let knownOperations = "max_pool_3x3, avg_pool_3x3, skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5"

// MARK: Cell contents

@Test func unknownOperationIsNamedWithTheKnownOnes() {
    var pairs = dartsV2Pairs(.normal)
    pairs[2].0 = "conv_7x1_1x7"
    #expect(parseError(dartsText(normal: pairs))
        == "normal, node 1 (edge 2): unknown operation 'conv_7x1_1x7'; use one of \(knownOperations)")
    pairs[2].0 = "sepconv3x3"
    #expect(parseError(dartsText(normal: pairs)).hasSuffix("('sepconv3x3' is NNI's name for 'sep_conv_3x3')"))
}

@Test func inputOutOfRangeNamesCellNodeEdgeAndRange() {
    var pairs = dartsV2Pairs(.reduce)
    pairs[7].1 = 6
    #expect(parseError(dartsText(normal: dartsV2Pairs(.normal), reduce: pairs))
        .hasPrefix("reduce, node 3 (edge 7): input 6 is out of range 0..<5"))
    var normal = dartsV2Pairs(.normal)
    normal[1].1 = -1
    #expect(parseError(dartsText(normal: normal)).hasPrefix("normal, node 0 (edge 1): input -1 is out of range 0..<2"))
    normal[1].1 = 2
    #expect(parseError(dartsText(normal: normal)).hasPrefix("normal, node 0 (edge 1): input 2 is out of range 0..<2"))
}

@Test func noneEdgeIsRefused() {
    var pairs = dartsV2Pairs(.normal)
    pairs[3].0 = "none"
    let message = parseError(dartsText(normal: pairs))
    #expect(message.hasPrefix("normal, node 1 (edge 3): operation 'none' cannot be kept in a genotype"))
    #expect(message.hasSuffix(knownOperations))
}

@Test func cellsWithSevenOrNineEdgesAreRefused() {
    let pairs = dartsV2Pairs(.normal)
    #expect(parseError(dartsText(normal: Array(pairs.dropLast())))
        == "normal has 7 edges; a DARTS cell has 8: two (operation, input) pairs for each of its 4 nodes")
    #expect(parseError(dartsText(normal: pairs, reduce: dartsV2Pairs(.reduce) + [("skip_connect", 0)]))
        .hasPrefix("reduce has 9 edges; a DARTS cell has 8"))
    var g = Genotype.dartsV2
    g.reduce.removeLast()
    #expect(throws: GenotypeError.wrongEdgeCount(cell: .reduce, count: 7)) { try g.validate() }
}

@Test func nestedNodeWithOneEdgeOrThreeNodesIsRefused() {
    let oneEdge = nestedText(Genotype.dartsV2)
        .replacingOccurrences(of: "[(\"sep_conv_3x3\", 1), (\"skip_connect\", 0)]", with: "[(\"sep_conv_3x3\", 1)]")
    #expect(parseError(oneEdge) == "normal, node 2: 1 edge; each node takes exactly 2 (operation, input) pairs")
    let threeNodes = nestedText(Genotype.dartsV2)
        .replacingOccurrences(of: ",\n        [(\"skip_connect\", 0), (\"dil_conv_3x3\", 2)]", with: "")
    #expect(parseError(threeNodes).hasPrefix("normal has 3 nodes; a DARTS cell has 4"))
}

@Test func concatOtherThanTheFourNodesIsRefused() {
    #expect(parseError(dartsText(normal: dartsV2Pairs(.normal), normalConcat: "[2, 3, 4]"))
        == "normal_concat is [2, 3, 4]; DARTS cells concatenate their 4 nodes: use [2, 3, 4, 5] or range(2, 6)")
    #expect(parseError(dartsText(normal: dartsV2Pairs(.normal), normalConcat: "range(1, 5)"))
        .hasPrefix("normal_concat is [1, 2, 3, 4]"))
}

@Test func missingOrUnknownFieldsAreListed() {
    let text = Genotype.dartsV2.dartsText.replacingOccurrences(of: "normal_concat=[2, 3, 4, 5], ", with: "")
    #expect(parseError(text).hasPrefix("Genotype(...) does not match the DARTS cell: missing keys: normal_concat;"))
    let json = Genotype.dartsV2.jsonText.replacingOccurrences(of: "\"normal_concat\"", with: "\"concat\"")
    #expect(parseError(json)
        .hasPrefix("genotype JSON does not match the DARTS cell: missing keys: normal_concat; unexpected keys: concat"))
}

@Test func jsonWithAWrongValueNamesTheEdge() {
    let json = Genotype.dartsV2.jsonText.replacingOccurrences(of: "[\"skip_connect\", 0], [\"dil_conv_3x3\", 2]",
                                                              with: "[\"skip_connect\", 0], [\"dil_conv_3x3\", \"2\"]")
    #expect(parseError(json).hasPrefix("normal, node 3 (edge 7): found a list of 2 values; expected an (operation, input) pair"))
}

// MARK: NNI

@Test func nniMissingAndUnexpectedKeysAreListed() throws {
    let missing = parseError(try nniV2([("  \"normal_n3_p2\": [],\n", "")]))
    #expect(missing.hasPrefix("NNI architecture does not match the DARTS cell: missing keys: normal_n3_p2; "
        + "an exported DARTS architecture has 36 keys"))
    let both = parseError(try nniV2([("  \"normal_n3_p2\": [],\n", "  \"normal_n6_p0\": [],\n  \"stem_op\": \"conv\",\n")]))
    #expect(both.contains("missing keys: normal_n3_p2; unexpected keys: normal_n6_p0, stem_op;"))
}

@Test func nniSwitchNamingAMissingEdgeIsRefused() throws {
    let text = try nniV2([("\"normal_n3_switch\": [\n    \"normal_n3_p0\",\n    \"normal_n3_p1\"\n  ]",
                           "\"normal_n3_switch\": [\"normal_n3_p0\", \"normal_n3_p3\"]")])
    #expect(parseError(text) == "normal_n3_switch: names 'normal_n3_p3', which is not an edge into node n3; "
        + "choose two of normal_n3_p0, normal_n3_p1, normal_n3_p2")
}

@Test func nniSwitchWithOneOrRepeatedEdgesIsRefused() throws {
    let one = try nniV2([("\"reduce_n4_switch\": [\n    \"reduce_n4_p0\",\n    \"reduce_n4_p2\"\n  ]",
                          "\"reduce_n4_switch\": [\"reduce_n4_p0\"]")])
    #expect(parseError(one) == "reduce_n4_switch: chooses 1 edge (reduce_n4_p0); a DARTS node keeps exactly 2 of "
        + "reduce_n4_p0, reduce_n4_p1, reduce_n4_p2, reduce_n4_p3")
    let twice = try nniV2([("\"reduce_n4_switch\": [\n    \"reduce_n4_p0\",\n    \"reduce_n4_p2\"\n  ]",
                            "\"reduce_n4_switch\": [\"reduce_n4_p0\", \"reduce_n4_p0\"]")])
    #expect(parseError(twice).hasPrefix("reduce_n4_switch: chooses reduce_n4_p0 twice"))
    let booleans = try nniV2([("\"reduce_n4_switch\": [\n    \"reduce_n4_p0\",\n    \"reduce_n4_p2\"\n  ]",
                               "\"reduce_n4_switch\": [true, false, true]")])
    #expect(parseError(booleans).hasPrefix("reduce_n4_switch: is a list of 3 values; as booleans it needs one per input of node n4, 4 in all"))
}

@Test func nniEdgeThatDisagreesWithItsSwitchIsRefused() throws {
    let dropped = parseError(try nniV2([("\"normal_n5_p2\": \"dilconv3x3\"", "\"normal_n5_p2\": []")]))
    #expect(dropped.hasPrefix("normal_n5_p2: normal_n5_switch chooses this edge but it is dropped"))
    let unchosen = parseError(try nniV2([("\"normal_n5_p1\": []", "\"normal_n5_p1\": \"avgpool\"")]))
    #expect(unchosen == "normal_n5_p1: has operation 'avgpool' but normal_n5_switch does not choose it; "
        + "set it to [] or choose it in the switch")
}

@Test func nniBadOperationValuesAreRefused() throws {
    let unknown = parseError(try nniV2([("\"normal_n2_p0\": \"sepconv3x3\"", "\"normal_n2_p0\": \"conv7x7\"")]))
    #expect(unknown == "normal_n2_p0: unknown operation 'conv7x7'; use one of maxpool, avgpool, skipconnect, "
        + "sepconv3x3, sepconv5x5, dilconv3x3, dilconv5x5")
    let index = parseError(try nniV2([("\"normal_n2_p0\": \"sepconv3x3\"", "\"normal_n2_p0\": 7")]))
    #expect(index.hasPrefix("normal_n2_p0: found the integer 7; expected an NNI operation name"))
    let twoHot = parseError(try nniV2([("\"normal_n2_p0\": \"sepconv3x3\"",
                                        "\"normal_n2_p0\": [false, false, false, true, true, false, false]")]))
    #expect(twoHot == "normal_n2_p0: found 2 true values in its one-hot list; expected exactly one true (the operation) or none (a dropped edge)")
}

@Test func nniAcceptsOfficialNamesAndNullForDroppedEdges() throws {
    let text = try nniV2([("\"normal_n2_p0\": \"sepconv3x3\"", "\"normal_n2_p0\": \"sep_conv_3x3\""),
                          ("\"normal_n3_p2\": []", "\"normal_n3_p2\": null")])
    #expect(try Genotype.parse(text) == Genotype.dartsV2.inputOrdered)
}

// MARK: Malformed text

@Test func unbalancedBracketsNameThePositionOfTheOpeningOne() {
    let text = Genotype.dartsV2.dartsText
    #expect(parseError(String(text.dropLast()))
        == "line 1, column \(text.count): the text ends before ')' closes the '(' opened at line 1, column 9; add the missing ')'")
    let swapped = text.replacingOccurrences(of: "('dil_conv_3x3', 2)]", with: "('dil_conv_3x3', 2))")
    let message = parseError(swapped)
    #expect(message.hasPrefix("line 1, column "))
    #expect(message.contains("expected ',' or ']' to close the '[' opened at line 1, column 17, found ')'"))
    #expect(parseError("Genotype(normal=[('sep_conv_3x3', 0)\n") .contains("the text ends before ']' closes the '[' opened at line 1, column 17"))
}

@Test func otherMalformedTextIsRefusedWithItsPosition() {
    #expect(parseError("Genotype(normal=[('sep_conv_3x3, 0)])")
        == "line 1, column 19: the string opened here is not closed; add the closing '")
    #expect(parseError("Genotype(normal=PRIMITIVES)").hasPrefix("line 1, column 17: unknown name 'PRIMITIVES'"))
    #expect(parseError("Genotype(normal=[('sep_conv_3x3', 0.5)])")
        == "line 1, column 35: only integers appear in a genotype; found a number with '.' after 0")
    #expect(parseError("\(Genotype.dartsV2.dartsText)\nextra").hasPrefix("line 2, column 1: unexpected 'extra' after the genotype"))
    #expect(parseError("  \n").hasSuffix("the text is empty; expected a genotype"))
    #expect(parseError("[1, 2]").hasPrefix("a list of 2 values is not a genotype"))
    #expect(parseError("{\"foo\": 1}").hasPrefix("a JSON object with keys foo is not a genotype"))
    #expect(parseError("{\"normal\": 1, \"normal\": 2}") == "line 1, column 15: key 'normal' appears twice; keep one")
}

// MARK: Files

@Test func loadErrorsNameTheFile() throws {
    let missing = "/nonexistent/genotype.txt"
    #expect(throws: GenotypeError.self) { try Genotype.load(path: missing) }
    do { _ = try Genotype.load(path: missing) } catch { #expect("\(error)".hasPrefix("\(missing): no such file or folder")) }
    // A genotype given where a file name is expected is named for what it is.
    let text = "Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2])"
    #expect(throws: GenotypeError.self) { try Genotype.load(path: text) }
    do { _ = try Genotype.load(path: text) } catch {
        #expect("\(error)" == "\(text): this is a genotype itself, not the name of a file; genotypes are read from files: "
            + "write it to one (e.g. genotype.txt) and give that file")
    }
    let tmp = try TemporaryFolder(prefix: "genotype-load")
    defer { tmp.remove() }
    let file = tmp.url.appendingPathComponent("bad.txt")
    try Data("Genotype(normal=[".utf8).write(to: file)
    do {
        _ = try Genotype.load(path: file.path)
        Issue.record("a malformed file was accepted")
    } catch {
        #expect("\(error)".hasPrefix("\(file.path): line 1, column 18: the text ends before ']'"))
    }
    let folder = tmp.url.appendingPathComponent("empty")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    do { _ = try Genotype.load(path: folder.path) } catch { #expect("\(error)".hasPrefix("\(folder.path): a folder without genotype.json")) }
}

@Test func aFieldInsideAnUnclosedListNamesTheList() {
    let text = "DARTS_V2 = Genotype(\n  normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1),\n  normal_concat=[2, 3, 4, 5])\n"
    #expect(parseError(text) == "line 3, column 3: 'normal_concat=' inside the '[' opened at line 2, column 10; "
        + "close that bracket before 'normal_concat='")
}
