import SystemZlib
import Datasets
import TestSupport

extension SampleFiles {
    /// `bytes` gzip-compressed, as the Debian package ships the IDX files.
    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        var stream = z_stream()
        // 15 + 16: a 32 KB window with a gzip header and trailer.
        guard deflateInit2_(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw GzipError() }
        defer { deflateEnd(&stream) }
        var input = bytes
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 64)
        let result = input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = source.baseAddress
                stream.avail_in = UInt32(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = UInt32(target.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard result == Z_STREAM_END else { throw GzipError() }
        return Array(output.prefix(Int(stream.total_out)))
    }

    struct GzipError: Error {}

    /// The value the loader must produce for `byte` in channel `c` of `kind`.
    static func normalized(_ byte: UInt8, _ c: Int, _ kind: DatasetKind) -> Float {
        let n = kind.normalization
        return (Float(byte) / 255 - n.mean[c]) / n.std[c]
    }
}
