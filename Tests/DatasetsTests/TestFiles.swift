import CompressNIO
import Datasets
import Foundation
import NIOCore

/// A fresh folder under the system temporary directory, removed by `remove()`.
struct TemporaryFolder {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("datasets-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: file(name)))
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Builders of small IDX and CIFAR-10 files with known contents.
enum Fixture {
    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
    }

    /// The byte of pixel (n, c, y, x) in every fixture: distinct nearby values, all of 0...255 used.
    static func pixel(_ n: Int, _ c: Int, _ y: Int, _ x: Int) -> UInt8 {
        UInt8((n * 37 + c * 101 + y * 11 + x * 3) % 256)
    }

    /// An IDX3 image file of `count` images; `magic`, `rows`, `cols` and `headerCount` may lie.
    static func idxImages(count: Int, rows: Int = 28, cols: Int = 28,
                          magic: UInt32 = 0x0000_0803, headerCount: Int? = nil) -> [UInt8] {
        var bytes = bigEndian(magic) + bigEndian(UInt32(headerCount ?? count))
            + bigEndian(UInt32(rows)) + bigEndian(UInt32(cols))
        for n in 0..<count {
            for y in 0..<rows {
                for x in 0..<cols { bytes.append(pixel(n, 0, y, x)) }
            }
        }
        return bytes
    }

    /// An IDX1 label file.
    static func idxLabels(_ labels: [UInt8], magic: UInt32 = 0x0000_0801) -> [UInt8] {
        bigEndian(magic) + bigEndian(UInt32(labels.count)) + labels
    }

    /// CIFAR-10 binary records: label byte, then the red, green and blue 32x32 planes.
    /// Image n of the file is numbered `first + n` in `pixel`.
    static func cifarRecords(_ labels: [UInt8], first: Int = 0) -> [UInt8] {
        var bytes: [UInt8] = []
        for (n, label) in labels.enumerated() {
            bytes.append(label)
            for c in 0..<3 {
                for y in 0..<32 {
                    for x in 0..<32 { bytes.append(pixel(first + n, c, y, x)) }
                }
            }
        }
        return bytes
    }

    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        var buffer = ByteBuffer(bytes: bytes)
        var compressed = try buffer.compress(with: .gzip())
        return compressed.readBytes(length: compressed.readableBytes)!
    }

    /// The value the loader must produce for `byte` in channel `c` of `kind`.
    static func normalized(_ byte: UInt8, _ c: Int, _ kind: DatasetKind) -> Float {
        let n = kind.normalization
        return (Float(byte) / 255 - n.mean[c]) / n.std[c]
    }
}
