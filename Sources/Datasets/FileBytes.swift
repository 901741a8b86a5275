import CompressNIO
import Foundation
import NIOCore

/// Whole-file reading for the data loaders, with transparent gzip decompression.
enum FileBytes {
    /// The two bytes every gzip member starts with (RFC 1952, section 2.3.1).
    static let gzipMagic: (UInt8, UInt8) = (0x1f, 0x8b)

    /// The contents of the file at `path`, decompressed if it starts with the gzip magic
    /// (whatever its name ends with).
    ///
    /// - Throws: `DatasetError.unreadableFile`, or `DatasetError.corruptGzip` when a gzip file is
    ///   truncated, fails its CRC check or holds more than one member.
    static func read(_ path: String) throws -> [UInt8] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw DatasetError.unreadableFile(path: path, reason: "\(error)")
        }
        if data.count >= 2, data[data.startIndex] == gzipMagic.0, data[data.startIndex + 1] == gzipMagic.1 {
            return try gunzip(data, path: path)
        }
        return [UInt8](data)
    }

    /// Decompresses one gzip member.
    ///
    /// The output buffer is sized from the trailer's ISIZE field (uncompressed length mod 2^32,
    /// RFC 1952 section 2.3.1). zlib checks the CRC-32 and ISIZE at the end of the stream; a
    /// stream that stops early decompresses without error but to fewer bytes than ISIZE says,
    /// which is how truncation is detected.
    static func gunzip(_ data: Data, path: String) throws -> [UInt8] {
        // 10-byte header + at least 2 bytes of deflate data + 8-byte trailer.
        guard data.count >= 20 else {
            throw DatasetError.corruptGzip(path: path, reason: "only \(data.count) bytes, shorter than any gzip stream")
        }
        let end = data.endIndex
        let trailerSize = Int(data[end - 4]) | Int(data[end - 3]) << 8 | Int(data[end - 2]) << 16 | Int(data[end - 1]) << 24
        // Deflate cannot expand data more than 1032:1 (zlib's FAQ), so a damaged trailer cannot
        // make this allocate more than a valid stream of this length could need.
        let maximumSize = data.count * 1032 + 64
        var input = ByteBuffer(bytes: data)
        var output = ByteBufferAllocator().buffer(capacity: min(trailerSize, maximumSize) + 1)
        do {
            try input.decompress(to: &output, with: .gzip())
        } catch let error as CompressNIOError {
            switch error {
            case .corruptData:
                throw DatasetError.corruptGzip(path: path, reason: "invalid deflate data or CRC mismatch")
            case .inputBufferOverflow:
                throw DatasetError.corruptGzip(path: path, reason: "stream ends before its last block")
            case .bufferOverflow:
                throw DatasetError.corruptGzip(path: path, reason: "decompresses to more than the \(trailerSize) bytes its trailer says")
            default:
                throw DatasetError.corruptGzip(path: path, reason: "\(error)")
            }
        }
        guard output.readableBytes == trailerSize else {
            throw DatasetError.corruptGzip(
                path: path,
                reason: "decompressed to \(output.readableBytes) bytes, its trailer says \(trailerSize)")
        }
        guard input.readableBytes == 0 else {
            throw DatasetError.corruptGzip(
                path: path, reason: "\(input.readableBytes) bytes follow the first gzip member")
        }
        return output.readBytes(length: output.readableBytes) ?? []
    }

    /// Whether `path` names an existing directory.
    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Whether `path` names an existing file (or anything that is not a directory).
    static func isFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }
}

extension Array where Element == UInt8 {
    /// The big-endian UInt32 at byte `offset` (IDX headers are big-endian).
    func bigEndianUInt32(at offset: Int) -> UInt32 {
        UInt32(self[offset]) << 24 | UInt32(self[offset + 1]) << 16 | UInt32(self[offset + 2]) << 8 | UInt32(self[offset + 3])
    }
}
