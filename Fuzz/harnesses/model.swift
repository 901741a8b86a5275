// model.bin, decoded with the checksum check skipped so that mutated fields reach the checks
// behind it.
@testable import Training
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    do {
        _ = try SavedModel(data: Data(bytes: start, count: count), path: "model.bin", checksum: false)
    } catch {
        _ = "\(error)"
    }
    return 0
}
