// NumPy arrays (`--dataset numpy`): a folder of .npy files or one .npz archive, through the
// loader that checks dtype, shape, labels and pixels. Harnesses npy and npz share this entry point
// and differ in their seeds. An input that starts as a zip file ("PK") is the .npz archive; any
// other is one .npy file: decoded as one integer dimension it is the labels (train and test), next
// to float32 images of matching count; otherwise it is the images, next to matching zero labels
// (its first dimension, at most 65,536) or, when it does not decode, a copy of itself.
@testable import Datasets
import Foundation

let folder = "/dev/shm/darts-dist-fuzz-numpy-\(getpid())"

func write(_ bytes: [UInt8], _ name: String) {
    let written = FileManager.default.createFile(atPath: "\(folder)/\(name)", contents: Data(bytes))
    precondition(written, "cannot write \(folder)/\(name): the harness needs a writable /dev/shm")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let input = [UInt8](UnsafeBufferPointer(start: start, count: count))
    let path: String
    if input.starts(with: [0x50, 0x4B]) {
        path = "\(folder)/data.npz"
        write(input, "data.npz")
    } else {
        path = folder
        let array = try? NPYFile.decode(input, path: "input.npy")
        let n = min(array?.shape.first ?? 1, 65_536)
        let (images, labels) = array.map { $0.dtype.isInteger && $0.shape.count == 1 } == true
            ? (NPYFile.encode([Float](repeating: 0.5, count: n * 4), shape: [n, 2, 2]), input)
            : (input, array == nil ? input : NPYFile.encode([Int64](repeating: 0, count: n)))
        for split in ["train", "test"] {
            write(images, "\(split)_images.npy")
            write(labels, "\(split)_labels.npy")
        }
    }
    for split in [DatasetSplit.train, .test] {
        do {
            _ = try NumpyArrays.load(path: path, split: split, reference: nil)
        } catch {
            _ = "\(error)"
        }
    }
    return 0
}
