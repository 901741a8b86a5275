import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import TestSupport
@testable import DARTS
@testable import Distributed
@testable import Training

/// An SVG parsed by Foundation's XMLParser: whether it is well-formed, and its elements counted
/// by name and by "name.class".
struct SVGCounts {
    var elements: [String: Int] = [:]
    var classes: [String: Int] = [:]
    var rootName: String?
    var wellFormed = false
    var error: String?

    private final class Delegate: NSObject, XMLParserDelegate {
        var counts = SVGCounts()
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
                    qualifiedName: String?, attributes: [String: String] = [:]) {
            if counts.rootName == nil { counts.rootName = name }
            counts.elements[name, default: 0] += 1
            if let c = attributes["class"] { counts.classes["\(name).\(c)", default: 0] += 1 }
        }
    }

    init() {}

    init(_ data: Data) {
        let delegate = Delegate()
        let parser = XMLParser(data: data)
        parser.delegate = delegate
        let ok = parser.parse()
        self = delegate.counts
        wellFormed = ok
        error = parser.parserError.map { "\($0)" }
    }

    init(contentsOf url: URL) throws { self.init(try Data(contentsOf: url)) }
}

@Suite struct SVGWriterTests {
    @Test func escapeXMLReplacesTheFiveSpecialCharacters() {
        #expect(escapeXML(#"a<b & "c" > 'd'"#) == "a&lt;b &amp; &quot;c&quot; &gt; &apos;d&apos;")
        #expect(escapeXML("c_{k-2} → 0") == "c_{k-2} → 0")
    }

    @Test func svgNumbersHaveAtMostTwoDecimals() {
        #expect(svgNumber(12) == "12")
        #expect(svgNumber(12.5) == "12.5")
        #expect(svgNumber(12.256) == "12.26")
        #expect(svgNumber(.nan) == "0")
    }

    @Test func niceTicksCoverTheRangeWithEqualRoundSteps() {
        let ticks = niceTicks(1.83, 2.31)
        #expect(ticks.first! <= 1.83 && ticks.last! >= 2.31)
        #expect(ticks.count >= 3 && ticks.count <= 8)
        let step = ticks[1] - ticks[0]
        #expect(abs(step - 0.1) < 1e-12)
        for (a, b) in zip(ticks, ticks.dropFirst()) { #expect(abs((b - a) - step) < 1e-9) }
        #expect(niceTicks(0, 100) == [0, 20, 40, 60, 80, 100])
        #expect(niceTicks(3, 3).count == 2)   // a flat series still gets an axis
    }

    @Test func aLineChartHasOneMarkerPerDataPointAndIsWellFormedXML() {
        let chart = LineChart(title: "loss <&> \"quoted\"", xLabel: "epoch", yLabel: "cross-entropy", series: [
            .init(name: "train", color: "#1f77b4", points: (0..<5).map { (Double($0), 2.3 - 0.1 * Double($0)) }),
            .init(name: "validation & more", color: "#d62728", points: (0..<5).map { (Double($0), 2.4 - 0.05 * Double($0)) }),
        ])
        let counts = SVGCounts(Data(chart.svg().utf8))
        #expect(counts.wellFormed, "\(counts.error ?? "")")
        #expect(counts.rootName == "svg")
        #expect(counts.classes["circle.point"] == 10)
        #expect(counts.classes["polyline.series"] == 2)
    }

    @Test func heatmapEdgesFollowTheDARTSEdgeOrder() {
        let edges = AlphaHeatmap.edges(count: 14)
        #expect(edges.map(\.node) == [0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3])
        #expect(edges.map(\.input) == [0, 1, 0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 3, 4])
        #expect(AlphaHeatmap.stateName(0) == "c_{k-2}" && AlphaHeatmap.stateName(1) == "c_{k-1}" && AlphaHeatmap.stateName(4) == "2")
    }

    @Test func anAlphaHeatmapHasOneSquarePerEdgeOperationAndEpoch() {
        let primitives = Primitive.allCases.map(\.rawValue)
        let weights = (0..<3).map { t in (0..<14).map { e in (0..<8).map { o in Float(1 + t + e + o) / 100 } } }
        let map = AlphaHeatmap(cell: "reduce", primitives: primitives, epochs: [0, 1, 2], weights: weights)
        let counts = SVGCounts(Data(map.svg().utf8))
        #expect(counts.wellFormed, "\(counts.error ?? "")")
        #expect(counts.classes["rect.cell"] == 14 * 8 * 3)
        #expect(map.svg().contains("reduction cell"))
    }

    @Test func divergingScaleRunsFromDarkRedThroughWhiteToDarkBlue() {
        #expect(redWhiteBlue(0) == "#67001f" && redWhiteBlue(0.5) == "#ffffff" && redWhiteBlue(1) == "#053061")
        #expect(redWhiteBlue(-3) == redWhiteBlue(0) && redWhiteBlue(4) == redWhiteBlue(1) && redWhiteBlue(.nan) == redWhiteBlue(0.5))
    }
}

@Suite struct RankSummaryTests {
    @Test func summaryLinesNameRankHostStepsAndSeconds() {
        let summary = RankSummary(ranks: [
            .init(rank: 0, host: "node1", steps: 24, computeSeconds: 5.614, communicationSeconds: 1.02, allreduceCalls: 48, allreduceFloats: 100),
            .init(rank: 1, host: "node2", steps: 24, computeSeconds: 0, communicationSeconds: 0, allreduceCalls: 0, allreduceFloats: 0),
        ])
        #expect(summary.lines == ["rank 0 on node1: 24 steps, compute 5.61 s, communication 1.02 s (15%)",
                                  "rank 1 on node2: 24 steps, compute 0.00 s, communication 0.00 s (0%)"])
    }

    @Test func dataParallelCountsItsAllreducesAndTheSummaryGathersThem() {
        let parallel = DataParallel(communicator: SingleProcessCommunicator())
        var buffer = [Float](repeating: 1, count: 100)
        buffer.withUnsafeMutableBufferPointer { parallel.average($0) }
        buffer.withUnsafeMutableBufferPointer { parallel.average(UnsafeMutableBufferPointer(rebasing: $0[0..<10])) }
        #expect(parallel.communicationCalls == 2 && parallel.communicatedFloats == 110)
        #expect(parallel.communicationSeconds >= 0 && parallel.communicationSeconds < 1)
        let summary = RankSummary.gather(parallel: parallel, steps: 7, stepSeconds: 2.5)
        #expect(summary.ranks.count == 1)
        let r = summary.ranks[0]
        #expect(r.rank == 0 && r.steps == 7 && r.host == currentHostName() && r.allreduceCalls == 2)
        #expect(abs(r.computeSeconds + r.communicationSeconds - 2.5) < 1e-9)
    }

    @Test func searchRetrainAndBenchUnderMpirunWarnOnceWhenOpenBLASThreadsAreUnset() throws {
        // Each command is stopped by a bad input found after the start-up report (the warning's place).
        let commands = [["search", "--resume", "/nonexistent/run"], ["retrain"], ["bench", "--order", "sideways"]]
        let warning = "2 ranks share this host and OPENBLAS_NUM_THREADS is unset"
        for arguments in commands {
            for unset in [true, false] {
                let job = try BackgroundJob(executable: URL(fileURLWithPath: "/usr/bin/env"), arguments:
                    (unset ? ["-u", "OPENBLAS_NUM_THREADS", "-u", "OMP_NUM_THREADS"] : [])
                    + ["mpirun", "--oversubscribe", "--bind-to", "none", "--mca", "btl_vader_single_copy_mechanism", "none",
                       "-np", "2", CommandRunner.binary.path] + arguments)
                let status = job.waitForExit(timeout: 120) { $0.process.terminate() }
                #expect(status != 0, "\(arguments) should fail")
                let count = job.stderr.components(separatedBy: warning).count - 1
                #expect(count == (unset ? 1 : 0), "\(arguments), unset \(unset): \(job.stderr)")
            }
        }
    }

    @Test func openBLASWarningOnlyWhenSeveralRanksShareAHostWithoutAThreadCount() {
        #expect(Diagnostics.openBLASWarning(ranksOnHost: 4, openBLASThreads: nil)?.contains("OPENBLAS_NUM_THREADS=1") == true)
        #expect(Diagnostics.openBLASWarning(ranksOnHost: 4, openBLASThreads: "1") == nil)
        #expect(Diagnostics.openBLASWarning(ranksOnHost: 1, openBLASThreads: nil) == nil)
        #expect(Diagnostics.openBLASWarning(ranksOnHost: nil, openBLASThreads: nil) == nil)
    }
}

/// The pictures of a run folder, from files the test writes, and from a real search under mpirun.
@Suite(.serialized) struct RunPicturesTests {
    /// A run folder as a search leaves it after `epochs` epochs (metrics, alphas, genotype).
    static func writeRunFolder(_ folder: URL, epochs: Int, repeatEpoch: Int? = nil) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var lines: [String] = []
        for epoch in Array(0..<epochs) + (repeatEpoch.map { [$0] } ?? []) {
            let loss = 2.3 - 0.1 * Double(epoch)
            lines.append(#"{"archLoss":\#(loss + 0.05),"epoch":\#(epoch),"imagesPerSecond":50,"learningRate":0.025,"seconds":3,"#
                + #""steps":6,"trainAccuracy":\#(0.1 * Double(epoch)),"trainLoss":\#(loss),"validationAccuracy":0.2,"validationLoss":\#(loss + 0.1)}"#)
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: folder.appendingPathComponent("metrics.jsonl"))
        let primitives = Primitive.allCases.map(\.rawValue)
        for epoch in 0..<epochs {
            let rows = (0..<14).map { e in (0..<8).map { o in Float(o == (e + epoch) % 8 ? 0.3 : 0.1) } }
            let object: [String: Any] = ["epoch": epoch, "primitives": primitives, "normal": rows, "reduce": rows]
            try JSONSerialization.data(withJSONObject: object).write(to: folder.appendingPathComponent("epoch_\(epoch).alphas.json"))
        }
        try JSONEncoder().encode(Genotype.dartsV2).write(to: folder.appendingPathComponent("genotype.json"))
    }

    static var hasDot: Bool { RunPictures.findExecutable("dot") != nil }

    @Test func picturesOfARunFolderHaveOnePointPerEpochAndSeriesAndOneSquarePerEdgeOperationAndEpoch() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        try Self.writeRunFolder(tmp, epochs: 5, repeatEpoch: 3)   // a resumed run repeats epoch 3
        let files = RunPictures.draw(folder: tmp)
        #expect(Array(files.prefix(6)) == ["loss.svg", "accuracy.svg", "alphas_normal.svg", "alphas_reduce.svg",
                                            "genotype_normal.dot", Self.hasDot ? "genotype_normal.svg" : "genotype_reduce.dot"])
        let loss = try SVGCounts(contentsOf: tmp.appendingPathComponent("loss.svg"))
        #expect(loss.wellFormed, "\(loss.error ?? "")")
        #expect(loss.classes["circle.point"] == 3 * 5)   // train, validation, architect; epoch 3 once
        let accuracy = try SVGCounts(contentsOf: tmp.appendingPathComponent("accuracy.svg"))
        #expect(accuracy.classes["circle.point"] == 2 * 5)
        let alphas = try SVGCounts(contentsOf: tmp.appendingPathComponent("alphas_normal.svg"))
        #expect(alphas.wellFormed && alphas.classes["rect.cell"] == 14 * 8 * 5)
        let dot = try String(contentsOf: tmp.appendingPathComponent("genotype_reduce.dot"), encoding: .utf8)
        #expect(dot == Genotype.dartsV2.dot(cell: .reduce))
    }

    @Test func aFolderWithoutInputsGetsNoPicturesAndNoError() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        #expect(RunPictures.draw(folder: tmp).isEmpty)
    }

    @Test func thePicturesCommandRedrawsARunFolder() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        try Self.writeRunFolder(tmp, epochs: 2)
        let result = try CommandRunner.run(["pictures", tmp.path])
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout.hasPrefix("pictures in \(tmp.path): loss.svg, accuracy.svg, alphas_normal.svg"))
        let refused = try CommandRunner.run(["pictures", tmp.appendingPathComponent("missing").path])
        #expect(refused.status != 0 && refused.stderr.hasPrefix("error: ") && refused.stderr.contains("does not exist"),
                "\(refused.all)")
        // A folder with nothing to draw: one error line, no warning per missing file, nothing written.
        let empty = tmp.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: false)
        let nothing = try CommandRunner.run(["pictures", empty.path])
        #expect(nothing.status != 0 && nothing.stderr.hasPrefix("error: \(empty.path) holds nothing to draw"), "\(nothing.all)")
        #expect(!nothing.stderr.contains("warning"), "\(nothing.all)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty.path).isEmpty)
        // Only an empty metrics.jsonl (no config.json): the same one error, no warnings.
        _ = FileManager.default.createFile(atPath: empty.appendingPathComponent("metrics.jsonl").path, contents: Data())
        let emptyMetrics = try CommandRunner.run(["pictures", empty.path])
        #expect(emptyMetrics.status != 0 && emptyMetrics.stderr.hasPrefix("error: \(empty.path) holds nothing to draw")
                && !emptyMetrics.stderr.contains("warning"), "\(emptyMetrics.all)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty.path) == ["metrics.jsonl"])
        // A file instead of a folder.
        let file = try CommandRunner.run(["pictures", empty.appendingPathComponent("metrics.jsonl").path])
        #expect(file.status != 0 && file.stderr.contains("is a file, not a folder"), "\(file.all)")
    }

    @Test func thePicturesOfARetrainAreItsTrainAndTestCurvesAndItsCells() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let run = tmp.appendingPathComponent("retrain")
        try RetrainCommandTests.smallRetrain(run, finished: true)
        let result = try CommandRunner.run(["pictures", run.path])
        #expect(result.status == 0, "\(result.all)")
        let expected = ["loss.svg", "accuracy.svg", "genotype_normal.dot"] + (Self.hasDot ? ["genotype_normal.svg"] : [])
            + ["genotype_reduce.dot"] + (Self.hasDot ? ["genotype_reduce.svg"] : [])
        #expect(result.stdout == "pictures in \(run.path): \(expected.joined(separator: ", "))\n", "\(result.all)")
        #expect(result.stderr.isEmpty, "no warning: \(result.stderr)")
        // Two epochs: train and test loss; train top-1, test top-1 and top-5.
        let loss = try SVGCounts(contentsOf: run.appendingPathComponent("loss.svg"))
        #expect(loss.wellFormed && loss.classes["circle.point"] == 2 * 2, "\(loss)")
        let accuracy = try SVGCounts(contentsOf: run.appendingPathComponent("accuracy.svg"))
        #expect(accuracy.wellFormed && accuracy.classes["circle.point"] == 3 * 2, "\(accuracy)")
        let dot = try String(contentsOf: run.appendingPathComponent("genotype_normal.dot"), encoding: .utf8)
        #expect(dot == Genotype.dartsV2.dot(cell: .normal))
    }

    @Test func aSearchBeforeItsFirstEpochHasNoPicturesYet() throws {
        var run: URL!
        try BadInputTests.expectRefused({ _ in ["pictures", run.path] }, prepare: { tmp in
            run = tmp.appendingPathComponent("run")
            let job = try BackgroundJob(BadInputTests.search(tmp, data: nil, ["--subset", "64"]), environment: ["DARTS_DIST_FAULT": "kill:0:1"])
            job.waitForExit()
            try #require(FileManager.default.fileExists(atPath: run.appendingPathComponent("config.json").path), "\(job.all)")
        }, ["no epoch of the search in", "has finished yet (its metrics.jsonl is empty); the pictures show finished epochs: "
            + "draw them after the first epoch ends"])
    }

    @Test func aSearchOnTwoRanksDrawsItsPicturesAndPrintsOneSummaryLinePerRank() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let result = try CommandRunner.run(SearchCommandTests.tinySearch(out: out, extra: ["--log-level", "debug"]), ranks: 2)
        #expect(result.status == 0, "\(result.all)")

        // The last line lists the pictures; all are in the run folder and are well-formed SVG.
        let expected = ["loss.svg", "accuracy.svg", "alphas_normal.svg", "alphas_reduce.svg", "genotype_normal.dot"]
            + (Self.hasDot ? ["genotype_normal.svg"] : []) + ["genotype_reduce.dot"] + (Self.hasDot ? ["genotype_reduce.svg"] : [])
        let lastLine = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        #expect(lastLine.hasPrefix("pictures in \(out.path): " + expected.joined(separator: ", ")), "\(lastLine)")
        for name in expected where name.hasSuffix(".svg") {
            let counts = try SVGCounts(contentsOf: out.appendingPathComponent(name))
            #expect(counts.wellFormed, "\(name): \(counts.error ?? "")")
            #expect(counts.rootName == "svg", "\(name)")
        }
        // Two epochs: one marker per epoch and series, one square per edge, operation and epoch.
        #expect(try SVGCounts(contentsOf: out.appendingPathComponent("loss.svg")).classes["circle.point"] == 3 * 2)
        #expect(try SVGCounts(contentsOf: out.appendingPathComponent("accuracy.svg")).classes["circle.point"] == 2 * 2)
        for cell in ["normal", "reduce"] {
            #expect(try SVGCounts(contentsOf: out.appendingPathComponent("alphas_\(cell).svg")).classes["rect.cell"] == 14 * 8 * 2)
        }

        // One summary line per rank, printed once (by rank 0).
        let lines = result.stdout.split(separator: "\n")
        for rank in 0..<2 {
            let summary = lines.filter { $0.hasPrefix("rank \(rank) on ") }
            #expect(summary.count == 1, "\(result.stdout)")
            #expect(summary.first?.contains(": 12 steps, compute ") == true)
        }
        // --log-level debug: every rank's diagnostics, tagged with its rank and host.
        #expect(result.stderr.contains("rank=0") && result.stderr.contains("rank=1"), "\(result.stderr)")
        #expect(result.stderr.contains("started"))
    }
}
