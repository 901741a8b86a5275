import Foundation
import Testing
@testable import DARTS

/// Genotype inputs built to exhaust time, memory or the stack: each is refused quickly with a
/// message of bounded length that quotes the input with its control characters escaped.
@Suite struct GenotypeBoundsTests {
    /// The error `Genotype.parse` throws for `text`, and the seconds it took.
    func refusal(_ text: String) -> (error: GenotypeError?, seconds: Double) {
        let start = Date()
        let error = #expect(throws: GenotypeError.self) { try Genotype.parse(text) }
        return (error, Date().timeIntervalSince(start))
    }

    func v2(normalConcat: String) -> String {
        Genotype.dartsV2.dartsText.replacingOccurrences(of: "normal_concat=[2, 3, 4, 5]", with: "normal_concat=\(normalConcat)")
    }

    @Test(arguments: ["range(0, 4611686018427387904)", "range(-9223372036854775808, 9223372036854775807)",
                      "range(2, 100000000)", "list(range(4611686018427387904))"])
    func aHugeConcatRangeIsRefusedBeforeItIsBuilt(_ range: String) {
        let (error, seconds) = refusal(v2(normalConcat: range))
        guard case .badValue(let at, let found, _)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(at == "normal_concat")
        #expect(found.hasPrefix("range("))
        #expect(error!.description.count < 400)
        #expect(seconds < 1)
    }

    @Test func aLongListConcatIsShownCut() {
        let list = "[" + (0..<100_000).map(String.init).joined(separator: ", ") + "]"
        let (error, _) = refusal(v2(normalConcat: list))
        guard case .wrongConcat(.normal, let concat)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(concat.count == 100_000)
        #expect(error!.description.contains("[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...] (100000 values)"))
        #expect(error!.description.count < 300)
    }

    @Test(arguments: ["[", "(", "{\"a\": "])
    func deepNestingIsRefusedAtTheBoundNotByTheStack(_ opener: String) {
        let (error, seconds) = refusal(String(repeating: opener, count: 100_000))
        guard case .syntax(1, let column, let message)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(column == GenotypeLiteralParser.maximumDepth * opener.count + 1)
        #expect(message.contains("nested more than 32 deep"))
        #expect(seconds < 5)
    }

    @Test func aTextLongerThanAnyGenotypeIsRefusedByItsLength() {
        let (error, seconds) = refusal("'" + String(repeating: "x", count: 50_000_000) + "'")
        #expect(error == .tooLong(bytes: 50_000_002))
        #expect(error?.description.contains("at most 1000000 are read") == true)
        #expect(seconds < 2)
    }

    @Test func aLongOperationNameIsQuotedToItsFirst200Characters() {
        let name = String(repeating: "a", count: 500_000)
        let text = Genotype.dartsV2.dartsText.replacingOccurrences(of: "dil_conv_3x3", with: name)
        let (error, _) = refusal(text)
        let message = error?.description ?? ""
        #expect(message.contains("'" + String(repeating: "a", count: 200) + "... (500000 characters)'"))
        #expect(message.count < 700)
    }

    @Test func controlCharactersOfTheInputAreEscapedInMessages() {
        let text = Genotype.dartsV2.dartsText.replacingOccurrences(of: "dil_conv_3x3", with: "dil\\u001b[2J\\nconv")
        let message = refusal(text).error?.description ?? ""
        #expect(message.contains("unknown operation 'dil\\u{1b}[2J\\nconv'"))
        #expect(!message.contains("\u{1b}"))
        #expect(!message.contains("\n"))
        #expect(GenotypeError.quote("a\u{7}b\u{202e}c") == "'a\\u{7}b\\u{202e}c'")
    }

    @Test func theDuplicateKeyCheckOfAnObjectWithManyKeysIsLinear() {
        // About 1 MB of distinct keys: quadratic checking took a minute for twice as many.
        let object = "{" + (0..<60_000).map { "\"k\($0)\": 0" }.joined(separator: ", ") + ", \"normal\": 1}"
        let (error, seconds) = refusal(object)
        guard case .keyMismatch(_, _, let unexpected)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(unexpected.count == 60_000)
        #expect(error!.description.contains("(60000 in all)"))
        #expect(error!.description.count < 800)
        #expect(seconds < 5)

        let (duplicate, _) = refusal("{\"normal\": 1, \"normal\": 2}")
        #expect(duplicate?.description.contains("key 'normal' appears twice") == true)
    }

    @Test func theDuplicateKeywordCheckOfACallWithManyKeywordsIsLinear() {
        // The same for Genotype(k0=0, k1=0, ...): about 1 MB of distinct keyword arguments.
        let call = "Genotype(" + (0..<60_000).map { "k\($0)=0" }.joined(separator: ", ") + ", normal=1)"
        let (error, seconds) = refusal(call)
        guard case .keyMismatch(_, _, let unexpected)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(unexpected.count == 60_000)
        #expect(seconds < 5)
        let (duplicate, _) = refusal("Genotype(k1=0, normal=1, k1=2)")
        #expect(duplicate?.description.contains("argument 'k1' is given twice; keep one") == true, "\(String(describing: duplicate))")
    }

    @Test func anNNISwitchWithMoreValuesThanInputsIsRefusedByItsLength() throws {
        let nni = String(decoding: try Genotype.dartsV2.nniJSON(), as: UTF8.self)
        let long = "[" + Array(repeating: "0", count: 50_000).joined(separator: ", ") + "]"
        let text = nni.replacingOccurrences(
            of: "\"normal_n2_switch\": [\n    \"normal_n2_p0\",\n    \"normal_n2_p1\"\n  ]", with: "\"normal_n2_switch\": \(long)")
        #expect(text != nni)
        let (error, seconds) = refusal(text)
        guard case .badSwitch("normal_n2_switch", let problem)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(problem.hasPrefix("holds 50000 values"))
        #expect(seconds < 2)
    }

    @Test func aFIFOOrAnOversizedFileIsRefusedBeforeItIsRead() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("genotype-bounds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let fifo = folder.appendingPathComponent("genotype.txt").path
        #expect(mkfifo(fifo, 0o644) == 0)
        let error = #expect(throws: GenotypeError.self) { try Genotype.load(path: fifo) }
        guard case .unreadable(fifo, let reason)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(reason.hasPrefix("is not a regular file (a FIFO)"))

        let big = folder.appendingPathComponent("big.json")
        try Data(count: 2_000_000).write(to: big)
        let tooLong = #expect(throws: GenotypeError.self) { try Genotype.load(path: big.path) }
        #expect(tooLong == .inFile(path: big.path, .tooLong(bytes: 2_000_000)))
    }
}
