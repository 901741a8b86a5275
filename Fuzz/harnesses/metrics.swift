// metrics.jsonl as `darts-dist pictures` reads and draws it; the first input byte chooses a
// search's or a retrain's records, the rest is the file.
@testable import Training
import Foundation

let url = URL(fileURLWithPath: "/dev/shm/darts-dist-fuzz-metrics-\(getpid()).jsonl")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    _ = FileManager.default.createFile(atPath: url.path, contents: Data(bytes: start + 1, count: count - 1))
    defer { unlink(url.path) }
    do {
        if start[0] & 1 == 0 {
            let lines = try RunPictures.readLines(RunPictures.MetricsLine.self, url, of: "a search")
            for chart in RunPictures.curves(lines) { _ = chart.chart.svg() }
        } else {
            let lines = try RunPictures.readLines(RunPictures.RetrainMetricsLine.self, url, of: "a retrain")
            for chart in RunPictures.retrainCurves(lines) { _ = chart.chart.svg() }
        }
    } catch {
        _ = "\(error)"
    }
    return 0
}
