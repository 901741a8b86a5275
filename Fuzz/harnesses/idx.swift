// IDX files (MNIST, Fashion-MNIST), plain or gzip: the reader with its header rule, then the decoder.
// The first input byte chooses images or labels; the rest is the file.
@testable import Datasets
import Foundation

let path = "/dev/shm/darts-dist-fuzz-idx-\(getpid())"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let labels = start[0] & 1 == 1
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes: start + 1, count: count - 1))
    defer { unlink(path) }
    do {
        if labels {
            let bytes = try FileBytes.read(path, rule: IDXFile.labelsRule(path: path, imageCount: nil, imagesPath: "images"))
            _ = try IDXFile.decodeLabels(bytes, path: path, classCount: 10)
        } else {
            let bytes = try FileBytes.read(path, rule: IDXFile.imagesRule(path: path, height: 28, width: 28))
            _ = try IDXFile.decodeImages(bytes, path: path, height: 28, width: 28,
                                         normalization: DatasetKind.fashionMNIST.normalization)
        }
    } catch {
        _ = "\(error)"
    }
    return 0
}
