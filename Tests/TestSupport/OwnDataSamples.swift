import Datasets
import Foundation
import ZIPFoundation

/// Small own-data sets written by the tests: .npy arrays, .npz archives and PNG/JPEG image folders.
public enum OwnDataSamples {
    /// A version 1.0 .npy file with header dict `{'descr': descr, 'fortran_order': fortran, 'shape': shape}`
    /// and `data` after it (not checked against the shape, so that tests can write bad files).
    public static func npy(descr: String, shape: [Int], data: [UInt8], fortran: Bool = false) -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        return npy(header: "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shapeText), }",
                   data: data)
    }

    /// A version 1.0 .npy file with the header dict text `header` (padded to 64 bytes and ended by '\n').
    public static func npy(header: String, data: [UInt8]) -> [UInt8] {
        var dict = header
        dict += String(repeating: " ", count: (64 - (10 + dict.utf8.count + 1) % 64) % 64) + "\n"
        let length = dict.utf8.count
        return [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(length & 0xff), UInt8(length >> 8)] + Array(dict.utf8) + data
    }

    /// Pixel (n, y, x, c) of the sample images: a pattern that differs per image and channel.
    public static func pixel(_ n: Int, _ y: Int, _ x: Int, _ c: Int) -> UInt8 {
        UInt8((n * 37 + y * 11 + x * 5 + c * 71 + (n % 3) * x * y) % 256)
    }

    /// N x H x W x C uint8 pixels of `pixel`.
    public static func pixels(count: Int, size: Int, channels: Int) -> [UInt8] {
        var result: [UInt8] = []
        for n in 0..<count { for y in 0..<size { for x in 0..<size { for c in 0..<channels { result.append(pixel(n, y, x, c)) } } } }
        return result
    }

    /// H x W x C uint8 pixels of image `n`.
    public static func image(_ n: Int, size: Int, channels: Int) -> [UInt8] {
        var result: [UInt8] = []
        for y in 0..<size { for x in 0..<size { for c in 0..<channels { result.append(pixel(n, y, x, c)) } } }
        return result
    }

    /// Little-endian int64 bytes of `values`.
    public static func int64(_ values: [Int]) -> [UInt8] {
        values.flatMap { v in withUnsafeBytes(of: Int64(v).littleEndian) { Array($0) } }
    }

    /// Little-endian float32 bytes of `values`.
    public static func float32(_ values: [Float]) -> [UInt8] {
        values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
    }

    /// The four arrays of a valid numpy data set: `train` and `test` images (uint8, N x H x W x C
    /// when channels is 3, N x H x W when 1), labels n % classes.
    public static func numpyArrays(train: Int = 24, test: Int = 10, size: Int = 8, channels: Int = 1,
                                   classes: Int = 3) -> [String: [UInt8]] {
        func images(_ n: Int) -> [UInt8] {
            npy(descr: "|u1", shape: channels == 1 ? [n, size, size] : [n, size, size, channels],
                data: pixels(count: n, size: size, channels: channels))
        }
        return ["train_images": images(train), "train_labels": npy(descr: "<i8", shape: [train], data: int64((0..<train).map { $0 % classes })),
                "test_images": images(test), "test_labels": npy(descr: "<i8", shape: [test], data: int64((0..<test).map { $0 % classes }))]
    }

    /// Writes `arrays` as NAME.npy files in `folder`.
    public static func writeNumpyFolder(_ arrays: [String: [UInt8]], to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (name, bytes) in arrays { try Data(bytes).write(to: folder.appendingPathComponent(name + ".npy")) }
    }

    /// Writes `arrays` as the .npz (zip, deflate) `file`, members NAME.npy, as numpy.savez_compressed does.
    public static func writeNPZ(_ arrays: [String: [UInt8]], to file: URL) throws {
        let archive = try Archive(url: file, accessMode: .create)
        for (name, bytes) in arrays.sorted(by: { $0.key < $1.key }) {
            let data = Data(bytes)
            try archive.addEntry(with: name + ".npy", type: .file, uncompressedSize: Int64(data.count), compressionMethod: .deflate) {
                position, size in data.subdata(in: Int(position)..<(Int(position) + size))
            }
        }
    }

    /// Writes an ImageFolder data set under `root`: root/SPLIT/CLASS/NNNNN.png, image n of a split
    /// in class n % classes, file names numbered across the classes (so the load order is n).
    public static func writeImageFolder(at root: URL, classes: [String], train: Int = 24, test: Int = 10, size: Int = 8,
                                        channels: Int = 1) throws {
        for (split, count) in [("train", train), ("test", test)] {
            for name in classes {
                try FileManager.default.createDirectory(at: root.appendingPathComponent(split).appendingPathComponent(name),
                                                        withIntermediateDirectories: true)
            }
            for n in 0..<count {
                let name = String(format: "%05d.png", n)
                let file = root.appendingPathComponent(split).appendingPathComponent(classes[n % classes.count]).appendingPathComponent(name)
                try ImageCodecs.writePNG(image(n, size: size, channels: channels),
                                         width: size, height: size, channels: channels, to: file.path)
            }
        }
    }
}
