import Foundation
import Testing
@testable import Training

/// metrics.jsonl lines that `darts-dist pictures` used to hang or trap on.
@Suite struct PictureInputTests {
    func lines(_ text: String) throws -> (URL, () -> Void) {
        let folder = try CommandRunner.temporaryFolder()
        let url = folder.appendingPathComponent("metrics.jsonl")
        try Data(text.utf8).write(to: url)
        return (url, { try? FileManager.default.removeItem(at: folder) })
    }

    @Test func lossesOfPlusAndMinus1e308DrawQuickly() throws {
        let text = """
            {"epoch": 0, "trainLoss": -1e308, "trainAccuracy": 0.1, "validationLoss": 1e308, "validationAccuracy": 0.2}
            {"epoch": 1, "trainLoss": 1e300, "trainAccuracy": 0.2, "validationLoss": 1.0000000000000002e300, "validationAccuracy": 0.3}
            """
        let (url, remove) = try lines(text)
        defer { remove() }
        let start = Date()
        let metrics = try RunPictures.readLines(RunPictures.MetricsLine.self, url, of: "a search")
        let charts = RunPictures.curves(metrics).map { $0.chart.svg() }
        #expect(charts.count == 2 && charts.allSatisfy { $0.contains("<svg") })
        #expect(Date().timeIntervalSince(start) < 2)
        #expect(niceTicks(-1e308, 1e308) == [-1e308, 1e308])
        #expect(niceTicks(1e300, 1e300.nextUp) == [1e300, 1e300.nextUp])
        #expect(niceTicks(0, 1) == [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1])
    }

    @Test(arguments: [-1, 9_223_372_036_854_775_807, 10_000_001])
    func anEpochOutsideTheRangeIsRefusedNamingTheLine(_ epoch: Int) throws {
        let text = """
            {"epoch": 0, "trainLoss": 2, "trainAccuracy": 0.1, "validationLoss": 2, "validationAccuracy": 0.2}
            {"epoch": \(epoch), "trainLoss": 2, "trainAccuracy": 0.1, "validationLoss": 2, "validationAccuracy": 0.2}
            """
        let (url, remove) = try lines(text)
        defer { remove() }
        let error = #expect(throws: PictureError.self) {
            try RunPictures.readLines(RunPictures.MetricsLine.self, url, of: "a search")
        }
        #expect(error.map { "\($0)" } == "\(url.path), line 2, is not an epoch record of a search: its epoch \(epoch) is "
            + "outside 0...10000000; the file is damaged: draw the pictures of an intact copy")
    }
}
