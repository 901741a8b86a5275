// CIFAR-10 binary files: the reader with its record bound, then the decoder.
@testable import Datasets
import Foundation

let path = "/dev/shm/darts-dist-fuzz-cifar-\(getpid())"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes: start, count: count))
    defer { unlink(path) }
    do {
        let bytes = try FileBytes.read(path, rule: CIFAR10File.rule(path: path))
        _ = try CIFAR10File.decode(bytes, path: path, classCount: 10,
                                   decoder: PixelDecoder(DatasetKind.cifar10.normalization))
    } catch {
        _ = "\(error)"
    }
    return 0
}
