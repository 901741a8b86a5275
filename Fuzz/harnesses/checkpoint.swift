// Search and retrain checkpoints (the magic chooses which), decoded with the checksum check
// skipped so that mutated fields reach the checks behind it.
@testable import Training
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    do {
        if data.starts(with: Array("DARTSRT1".utf8)) {
            _ = try RetrainCheckpoint(data: data, path: "fuzz.ckpt", checksum: false)
        } else if data.count >= 24 {
            let checkpoint = try Checkpoint(verified: data, path: "fuzz.ckpt")
            _ = checkpoint.manifest.position
        }
    } catch {
        _ = "\(error)"
    }
    return 0
}
