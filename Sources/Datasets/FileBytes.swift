import SystemZlib
import Foundation

/// What the first bytes of a data file say about its length, so that a reader never holds more
/// than the format allows: the header is checked as soon as its bytes are read (after
/// decompression for gzip), and reading stops past the length it implies.
struct SizeRule {
    /// Bytes of header the rule reads (0 when the format has none).
    var headerBytes: Int
    /// The most bytes the file may hold, given its first `headerBytes` bytes.
    /// - Throws: a ``DatasetError`` when the header itself is wrong (magic number, dimensions).
    var limit: (_ header: [UInt8]) throws -> Int
    /// The error for a file holding more than `limit` bytes; `actualBytes` is its length when known
    /// (a plain file), nil when decompression was stopped.
    var tooLong: (_ limit: Int, _ actualBytes: Int?) -> DatasetError
}

/// What a path names, after following symbolic links.
extension FileBytes {
    /// Whether `path` is a folder (following symbolic links).
    static func isDirectory(_ path: String) -> Bool { FileStatus.of(path) == .directory }

    /// Whether `path` is a regular file (following symbolic links).
    static func isFile(_ path: String) -> Bool {
        if case .regular = FileStatus.of(path) { return true }
        return false
    }
}

enum FileStatus: Equatable {
    /// Nothing at the path (not even a dangling link).
    case missing
    /// A regular file of `size` bytes.
    case regular(size: Int)
    case directory
    /// A FIFO, a device or a socket, described as "a FIFO", "a character device", ...
    case special(String)
    /// A symbolic link that cannot be followed (a loop, or a target that does not exist); `reason`
    /// is the system's.
    case brokenLink(reason: String)
    /// The path exists but cannot be examined (permissions); `reason` is the system's.
    case inaccessible(reason: String)

    /// Returns when `path` is a regular file (following symbolic links).
    /// - Throws: `DatasetError.missingFile`, `.notRegularFile` (a folder, FIFO, device or socket),
    ///   `.brokenLink` or `.unreadableFile`, naming the path.
    static func requireRegular(_ path: String) throws {
        switch of(path) {
        case .regular: break
        case .missing: throw DatasetError.missingFile(path: path, hint: "check --data")
        case .directory: throw DatasetError.notRegularFile(path: path, kind: "a folder")
        case .special(let kind): throw DatasetError.notRegularFile(path: path, kind: kind)
        case .brokenLink(let reason): throw DatasetError.brokenLink(path: path, reason: reason)
        case .inaccessible(let reason): throw DatasetError.unreadableFile(path: path, reason: reason)
        }
    }

    /// The status of `path`.
    static func of(_ path: String) -> FileStatus {
        var status = stat()
        if stat(path, &status) == 0 {
            switch status.st_mode & S_IFMT {
            case S_IFREG: return .regular(size: Int(status.st_size))
            case S_IFDIR: return .directory
            case S_IFIFO: return .special("a FIFO")
            case S_IFCHR: return .special("a character device")
            case S_IFBLK: return .special("a block device")
            case S_IFSOCK: return .special("a socket")
            default: return .special("neither a file nor a folder")
            }
        }
        let error = errno
        var linkStatus = stat()
        if lstat(path, &linkStatus) == 0 && linkStatus.st_mode & S_IFMT == S_IFLNK {
            return .brokenLink(reason: String(cString: strerror(error)))
        }
        return error == ENOENT || error == ENOTDIR ? .missing : .inaccessible(reason: String(cString: strerror(error)))
    }
}

/// Whole-file reading for the data loaders, with transparent gzip decompression.
enum FileBytes {
    /// The two bytes every gzip member starts with (RFC 1952, section 2.3.1).
    static let gzipMagic: (UInt8, UInt8) = (0x1f, 0x8b)
    /// Bytes read or decompressed at a time.
    static let chunkSize = 1 << 16

    /// The contents of the file at `path`, decompressed if it starts with the gzip magic
    /// (whatever its name ends with). A gzip file may hold several members (they are joined, as
    /// gzip -d does) and end with zero bytes (padding).
    ///
    /// - Parameter rule: the header check and length bound of the format (``SizeRule``).
    /// - Throws: `DatasetError.notRegularFile` (a folder, FIFO, device or socket),
    ///   `.brokenLink`, `.missingFile`, `.unreadableFile`, `.corruptGzip` (truncated, a failed
    ///   CRC or length check, bytes other than zeros or another member after a member), the
    ///   errors of `rule.limit`, and `rule.tooLong` when the file holds more than its limit.
    static func read(_ path: String, rule: SizeRule) throws -> [UInt8] {
        try FileStatus.requireRegular(path)
        let fd = open(path, O_RDONLY | O_NONBLOCK)
        guard fd >= 0 else { throw DatasetError.unreadableFile(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw DatasetError.notRegularFile(path: path, kind: "no longer a regular file")
        }
        var file = FileReader(fd: fd, path: path)
        let start = try file.read(upTo: 2)
        if start.count == 2, start[0] == gzipMagic.0, start[1] == gzipMagic.1 {
            return try gunzip(&file, pending: start, rule: rule)
        }
        let size = Int(status.st_size)
        var bytes = start
        bytes += try file.read(upTo: max(0, rule.headerBytes - bytes.count))
        if bytes.count >= rule.headerBytes {
            let limit = try rule.limit(Array(bytes.prefix(rule.headerBytes)))
            if size > limit { throw rule.tooLong(limit, size) }
        }
        bytes.reserveCapacity(size)
        while true {
            let chunk = try file.read(upTo: chunkSize)
            if chunk.isEmpty { break }
            bytes += chunk
        }
        return bytes
    }

    /// Decompresses the gzip members of `file` (whose first bytes, already read, are `pending`),
    /// checking `rule` on the first decompressed bytes and stopping past its limit. zlib checks
    /// each member's CRC-32 and length (RFC 1952, section 2.3.1).
    static func gunzip(_ file: inout FileReader, pending: [UInt8], rule: SizeRule) throws -> [UInt8] {
        let path = file.path
        var stream = z_stream()
        // 15 + 16: a 32 KB window, gzip header and trailer.
        guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DatasetError.unreadableFile(path: path, reason: "zlib cannot start (out of memory)")
        }
        defer { inflateEnd(&stream) }
        var input = pending
        var inputOffset = 0
        var output: [UInt8] = []
        var limit: Int?
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        var compressedBytes = pending.count
        while true {
            if inputOffset == input.count {
                input = try file.read(upTo: chunkSize)
                inputOffset = 0
                if input.isEmpty {
                    throw DatasetError.corruptGzip(path: path, reason: compressedBytes < 20
                        ? "only \(compressedBytes) bytes, shorter than any gzip stream"
                        : "stream ends before its last block")
                }
                compressedBytes += input.count
            }
            let (result, consumed, produced) = input.withUnsafeMutableBufferPointer { source in
                chunk.withUnsafeMutableBufferPointer { target in
                    stream.next_in = source.baseAddress! + inputOffset
                    stream.avail_in = UInt32(source.count - inputOffset)
                    stream.next_out = target.baseAddress!
                    stream.avail_out = UInt32(target.count)
                    let result = inflate(&stream, Z_NO_FLUSH)
                    return (result, source.count - inputOffset - Int(stream.avail_in), target.count - Int(stream.avail_out))
                }
            }
            inputOffset += consumed
            output += chunk[0..<produced]
            if limit == nil, output.count >= rule.headerBytes {
                let promised = try rule.limit(Array(output.prefix(rule.headerBytes)))
                // The bytes and their float32 copy: 5 bytes per byte. The compressed size says
                // nothing about the decompressed one (a gzip bomb), so the header is checked.
                let available = HostMemory.availableBytes()
                if 5 * Double(promised) > available {
                    throw DatasetError.tooLargeForMemory(path: path, expectedBytes: promised, availableBytes: available)
                }
                limit = promised
                output.reserveCapacity(min(promised, 1 << 30))
            }
            if let limit, output.count > limit { throw rule.tooLong(limit, nil) }
            switch result {
            case Z_OK:
                continue
            case Z_STREAM_END:
                // What follows a member: nothing, zero padding to the end, or another member.
                var rest = Array(input[inputOffset...])
                if rest.isEmpty { rest = try file.read(upTo: chunkSize) }
                if rest.isEmpty { return output }
                if rest[0] == 0 {
                    while !rest.isEmpty {
                        guard rest.allSatisfy({ $0 == 0 }) else {
                            throw DatasetError.corruptGzip(path: path, reason: "bytes other than zeros follow the zero padding after its data")
                        }
                        rest = try file.read(upTo: chunkSize)
                    }
                    return output
                }
                if rest.count < 2 { rest += try file.read(upTo: 1) }
                guard rest.count >= 2, rest[0] == gzipMagic.0, rest[1] == gzipMagic.1 else {
                    throw DatasetError.corruptGzip(path: path, reason: "bytes that are not gzip follow a gzip member")
                }
                input = rest
                inputOffset = 0
                inflateReset(&stream)
            case Z_BUF_ERROR where consumed == 0 && produced == 0 && inputOffset < input.count:
                throw DatasetError.corruptGzip(path: path, reason: "zlib makes no progress")
            case Z_DATA_ERROR:
                let message = stream.msg.map { String(cString: $0) } ?? "invalid data"
                throw DatasetError.corruptGzip(path: path, reason: message == "incorrect data check"
                    ? "CRC mismatch" : message == "incorrect length check" ? "length mismatch" : "invalid deflate data (\(message))")
            case Z_BUF_ERROR:
                continue
            case Z_MEM_ERROR:
                throw DatasetError.unreadableFile(path: path, reason: "out of memory while decompressing")
            default:
                throw DatasetError.corruptGzip(path: path, reason: "zlib error \(result)")
            }
        }
    }
}

/// Reads an open file in chunks.
struct FileReader {
    let fd: Int32
    let path: String

    /// Up to `count` bytes (fewer only at the end of the file).
    /// - Throws: `DatasetError.unreadableFile` when the system cannot read it.
    mutating func read(upTo count: Int) throws -> [UInt8] {
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = bytes.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress! + filled, count - filled) }
            if n < 0 {
                if errno == EINTR { continue }
                throw DatasetError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            filled += n
        }
        bytes.removeLast(count - filled)
        return bytes
    }
}

extension Array where Element == UInt8 {
    /// The big-endian UInt32 at byte `offset` (IDX headers are big-endian).
    func bigEndianUInt32(at offset: Int) -> UInt32 {
        UInt32(self[offset]) << 24 | UInt32(self[offset + 1]) << 16 | UInt32(self[offset + 2]) << 8 | UInt32(self[offset + 3])
    }
}
