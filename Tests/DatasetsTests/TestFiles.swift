import SystemZlib
import Datasets
import Testing
import TestSupport

extension SampleFiles {
    /// `bytes` gzip-compressed, as the Debian package ships the IDX files.
    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        // 15 + 16: a 32 KB window with a gzip header and trailer.
        try deflated(bytes, windowBits: 15 + 16)
    }

    /// `bytes` compressed by zlib's deflate with `windowBits` (15 + 16: gzip; -15: a raw RFC 1951
    /// stream, as zip members hold it). Without `finish` the stream is flushed but lacks its last block.
    static func deflated(_ bytes: [UInt8], windowBits: Int32, finish: Bool = true) throws -> [UInt8] {
        var stream = z_stream()
        guard deflateInit2_(&stream, 6, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw DeflateError() }
        defer { deflateEnd(&stream) }
        var input = bytes
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 64)
        let result = input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = source.baseAddress
                stream.avail_in = UInt32(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = UInt32(target.count)
                return deflate(&stream, finish ? Z_FINISH : Z_SYNC_FLUSH)
            }
        }
        guard result == (finish ? Z_STREAM_END : Z_OK) else { throw DeflateError() }
        return Array(output.prefix(Int(stream.total_out)))
    }

    struct DeflateError: Error {}

    /// The value the loader must produce for `byte` in channel `c` of `kind`.
    static func normalized(_ byte: UInt8, _ c: Int, _ kind: DatasetKind) -> Float {
        let n = kind.normalization
        return (Float(byte) / 255 - n.mean[c]) / n.std[c]
    }
}

/// The message of the error `body` throws, or "" (and a recorded issue) when it throws none.
func message(_ body: () throws -> Void) -> String {
    do {
        try body()
        Issue.record("no error thrown")
        return ""
    } catch {
        return "\(error)"
    }
}
