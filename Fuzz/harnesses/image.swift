// PNG and JPEG files (`--dataset folder`): the decoders (libpng, libjpeg-turbo through the shims)
// with their pixel bound, then the conversion to float planes and the bilinear resize to 8 x 8,
// as `--dataset folder` does them.
// Harnesses png and jpeg share this entry point and differ in their seeds.
@testable import Datasets
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    do {
        let image = try ImageCodecs.decode([UInt8](UnsafeBufferPointer(start: start, count: count)), path: "input")
        precondition(image.pixels.count == image.width * image.height * image.channels && [1, 3].contains(image.channels))
        guard image.width * image.height <= 1 << 20 else { return 0 }   // the resize below is a cost, not a check
        _ = image.planes().resized(to: 8)
    } catch {
        _ = "\(error)"
    }
    return 0
}
