import CompressNIO
import Datasets
import NIOCore
import TestSupport

extension SampleFiles {
    /// `bytes` gzip-compressed, as the Debian package ships the IDX files.
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
