import Foundation
import InputText
import SystemZlib

/// A zip archive read for `--dataset numpy`'s .npz files: its central directory, and each member
/// extracted within the sizes its headers declare and checked against its CRC-32.
///
/// Format: PKWARE's APPNOTE.TXT 6.3.10, sections 4.3.7 (local file header), 4.3.12 (central
/// directory header), 4.3.14 to 4.3.16 (zip64 end of central directory record and locator, end of
/// central directory record) and 4.5.3 (zip64 extended information). Members are stored (method 0)
/// or deflated (method 8, RFC 1951, inflated by zlib); numpy.savez writes the first,
/// numpy.savez_compressed the second, both through Python's zipfile with zip64 local headers.
/// Not read: encryption, multi-disk archives, other compression methods (each refused by name).
///
/// Why not ZIPFoundation (which the tests use to write archives): on Linux its inflate loop (0.9.20,
/// `Data.decode`) reads past the member and never ends when a deflate stream runs to the end of the
/// file without its last block (upstream pull request weichsel/ZIPFoundation#389), and only the
/// package version installed on the machine resolves. Here the inflate reads at most the member's
/// compressed size and stops one byte past its uncompressed size, whatever the bytes say.
struct ZipArchive {
    /// One member as the central directory declares it.
    struct Member {
        /// The member's name as stored (compared byte for byte).
        var nameBytes: [UInt8]
        /// The name for messages and listings (UTF-8, invalid bytes replaced).
        var name: String { String(decoding: nameBytes, as: UTF8.self) }
        /// 0 (stored) or 8 (deflated); anything else is refused by ``extract(_:)``.
        var method: UInt16
        /// General purpose bit flags (bit 0: encrypted).
        var flags: UInt16
        var crc32: UInt32
        /// Bytes in the archive, after the local header.
        var compressedSize: UInt64
        /// Bytes once extracted.
        var uncompressedSize: UInt64
        /// Where the member's local file header starts, in bytes from the start of the file.
        var localHeaderOffset: UInt64
    }

    /// Why an archive or a member cannot be read; `reason` names the field and what is wrong with it.
    struct Damage: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    /// A member that inflates to more than its `uncompressedSize`; extraction stopped one byte past it.
    struct LongerThanDeclared: Error {
        var declared: UInt64
    }

    let path: String
    /// The members in central-directory order.
    let members: [Member]
    /// Where the central directory starts: every member's header and data lie before it.
    private let dataEnd: UInt64
    private let file: RandomAccessFile

    /// The largest central directory read, in bytes. numpy's four members take about 300; the cap
    /// keeps a damaged end record from making the reader load a whole large file as a directory.
    static let maximumDirectoryBytes: UInt64 = 1 << 24
    /// Deflate's largest expansion: 258 bytes from a 2-bit code (the zlib FAQ's 1032:1), so a
    /// member declaring more than this ratio of its compressed size is refused before extracting.
    static let maximumDeflateRatio: UInt64 = 1032

    /// The central directory's signatures and fixed sizes (APPNOTE 4.3.7, 4.3.12, 4.3.14 to 4.3.16).
    private static let localHeaderSignature: UInt32 = 0x0403_4b50, localHeaderBytes: UInt64 = 30
    private static let centralHeaderSignature: UInt32 = 0x0201_4b50, centralHeaderBytes = 46
    private static let endSignature: UInt32 = 0x0605_4b50, endBytes = 22
    private static let zip64LocatorSignature: UInt32 = 0x0706_4b50, zip64LocatorBytes = 20
    private static let zip64EndSignature: UInt32 = 0x0606_4b50, zip64EndBytes = 56

    /// Reads the central directory of the zip file at `path`.
    /// - Throws: ``Damage`` (no end of central directory record, a directory outside the file, above
    ///   ``maximumDirectoryBytes`` or larger than its headers can be, a header with a wrong
    ///   signature or a field that runs past its record, a zip64 marker without its zip64 value,
    ///   two members of one name, several disks), `DatasetError.unreadableFile` / `.notRegularFile` when the file
    ///   cannot be opened or is not a regular file.
    init(path: String) throws {
        self.path = path
        file = try RandomAccessFile(path: path)
        let size = file.size

        // The end of central directory record: 22 bytes and a comment of up to 65,535. The record
        // whose comment ends exactly at the end of the file; failing that, the last one whose
        // comment ends within it (a file with bytes appended). The 20 bytes before the record
        // are read too, for a zip64 locator.
        let tailLength = min(size, UInt64(Self.zip64LocatorBytes + Self.endBytes + 0xFFFF))
        let tailStart = size - tailLength
        let tail = try file.read(at: tailStart, count: Int(tailLength))
        var endAt: Int?
        var candidate = tail.count - Self.endBytes
        while candidate >= 0 {
            if tail.uint32(at: candidate) == Self.endSignature {
                let commentEnd = candidate + Self.endBytes + Int(tail.uint16(at: candidate + 20))
                if commentEnd == tail.count {
                    endAt = candidate
                    break
                }
                if commentEnd < tail.count && endAt == nil { endAt = candidate }
            }
            candidate -= 1
        }
        guard let endAt else {
            throw Damage(reason: size < UInt64(Self.endBytes)
                ? "only \(size) bytes, shorter than any zip file"
                : "no end of central directory record (not a zip file, or cut short)")
        }
        let end = Array(tail[endAt..<(endAt + Self.endBytes)])
        guard end.uint16(at: 4) == 0, end.uint16(at: 6) == 0 || end.uint16(at: 6) == 0xFFFF else {
            throw Damage(reason: "it spans several disks, which is not read")
        }
        var entries = UInt64(end.uint16(at: 10))
        var directorySize = UInt64(end.uint32(at: 12))
        var directoryOffset = UInt64(end.uint32(at: 16))
        var directoryEnd = tailStart + UInt64(endAt)

        // A zip64 end of central directory locator right before it points to the zip64 record,
        // whose 64-bit fields replace the 16- and 32-bit ones.
        if endAt >= Self.zip64LocatorBytes, tail.uint32(at: endAt - Self.zip64LocatorBytes) == Self.zip64LocatorSignature {
            let locator = Array(tail[(endAt - Self.zip64LocatorBytes)..<endAt])
            guard locator.uint32(at: 4) == 0, locator.uint32(at: 16) <= 1 else {
                throw Damage(reason: "it spans several disks, which is not read")
            }
            let recordOffset = locator.uint64(at: 8)
            let locatorStart = directoryEnd - UInt64(Self.zip64LocatorBytes)
            guard recordOffset <= locatorStart, locatorStart - recordOffset >= UInt64(Self.zip64EndBytes) else {
                throw Damage(reason: "its zip64 end of central directory locator points to offset \(recordOffset), "
                    + "which leaves no room for the record before the locator at \(locatorStart)")
            }
            let record = try file.read(at: recordOffset, count: Self.zip64EndBytes)
            guard record.uint32(at: 0) == Self.zip64EndSignature else {
                throw Damage(reason: "no zip64 end of central directory record at offset \(recordOffset), where its locator points")
            }
            guard record.uint32(at: 16) == 0, record.uint32(at: 20) == 0 else {
                throw Damage(reason: "it spans several disks, which is not read")
            }
            entries = record.uint64(at: 32)
            directorySize = record.uint64(at: 40)
            directoryOffset = record.uint64(at: 48)
            directoryEnd = recordOffset
        }
        guard directoryOffset <= directoryEnd, directorySize <= directoryEnd - directoryOffset else {
            throw Damage(reason: "its central directory (\(directorySize) bytes at offset \(directoryOffset)) runs past "
                + "where the end of central directory record starts (offset \(directoryEnd))")
        }
        guard entries <= directorySize / UInt64(Self.centralHeaderBytes) else {
            throw Damage(reason: "it declares \(entries) members, more than its \(directorySize)-byte central directory can hold")
        }
        guard directorySize <= Self.maximumDirectoryBytes else {
            throw Damage(reason: "its central directory takes \(directorySize) bytes, more than the \(Self.maximumDirectoryBytes) "
                + "this reader accepts (an .npz of four arrays needs a few hundred)")
        }
        // At most 46 bytes and three 16-bit lengths per header (entries <= 2^24 / 46 here).
        guard directorySize <= entries * UInt64(Self.centralHeaderBytes + 3 * 0xFFFF) else {
            throw Damage(reason: "its central directory takes \(directorySize) bytes, more than \(entries) member headers can")
        }

        let directory = try file.read(at: directoryOffset, count: Int(directorySize))
        var members: [Member] = []
        var names = Set<[UInt8]>()
        var at = 0
        for index in 0..<Int(entries) {
            let member = try Self.centralHeader(directory, at: &at, index: index)
            guard names.insert(member.nameBytes).inserted else {
                throw Damage(reason: "two members are named \(InputText.quote(member.name))")
            }
            members.append(member)
        }
        self.members = members
        dataEnd = directoryOffset
    }

    /// The member named `name`, if any.
    func member(named name: String) -> Member? {
        let bytes = Array(name.utf8)
        return members.first { $0.nameBytes == bytes }
    }

    /// The member's bytes, extracted within its declared sizes and checked against its CRC-32.
    /// Memory: one buffer of the declared size + 1 and a 64 KB input chunk.
    /// - Throws: ``LongerThanDeclared`` when it inflates past its `uncompressedSize` (extraction
    ///   stops one byte past it); ``Damage`` for encryption, a method other than stored or deflate,
    ///   a local header or data outside the area before the central directory, sizes that cannot
    ///   go together (stored sizes that differ, a deflate ratio above 1032:1), a deflate stream
    ///   that does not end within the member's compressed bytes or ends before them, fewer bytes
    ///   than declared, and a CRC-32 other than the declared one; `DatasetError.unreadableFile`
    ///   on a read error.
    func extract(_ member: Member) throws -> [UInt8] {
        guard member.flags & 1 == 0 else { throw Damage(reason: "it is encrypted, which is not read") }
        guard member.method == 0 || member.method == 8 else {
            throw Damage(reason: "it is compressed with method \(member.method); only stored (0) and deflate (8) are read, "
                + "as numpy.savez and numpy.savez_compressed write them")
        }
        guard member.localHeaderOffset <= dataEnd, dataEnd - member.localHeaderOffset >= Self.localHeaderBytes else {
            throw Damage(reason: "the central directory puts its local header at offset \(member.localHeaderOffset), "
                + "not before the central directory (offset \(dataEnd))")
        }
        let header = try file.read(at: member.localHeaderOffset, count: Int(Self.localHeaderBytes))
        guard header.uint32(at: 0) == Self.localHeaderSignature else {
            throw Damage(reason: "no local file header at offset \(member.localHeaderOffset), where the central directory points")
        }
        // localHeaderOffset + 30 <= dataEnd, so adding two 16-bit lengths cannot overflow a UInt64.
        let dataOffset = member.localHeaderOffset + Self.localHeaderBytes + UInt64(header.uint16(at: 26)) + UInt64(header.uint16(at: 28))
        guard dataOffset <= dataEnd, member.compressedSize <= dataEnd - dataOffset else {
            throw Damage(reason: "its compressed size, \(member.compressedSize) bytes from offset \(dataOffset), runs past "
                + "the start of the central directory (offset \(dataEnd))")
        }
        // Both sizes are now below the file's size, so they fit an Int.
        let compressed = Int(member.compressedSize)
        let bytes: [UInt8]
        if member.method == 0 {
            guard member.compressedSize == member.uncompressedSize else {
                throw Damage(reason: "it is stored (not compressed) in \(member.compressedSize) bytes but declares "
                    + "\(member.uncompressedSize) once extracted")
            }
            bytes = try file.read(at: dataOffset, count: compressed)
        } else {
            guard member.uncompressedSize / Self.maximumDeflateRatio <= member.compressedSize else {
                throw Damage(reason: "it declares \(member.uncompressedSize) bytes from \(member.compressedSize) compressed, more "
                    + "than deflate's largest ratio (\(Self.maximumDeflateRatio):1) gives")
            }
            guard member.uncompressedSize < UInt64(Int.max) else {
                throw Damage(reason: "it declares \(member.uncompressedSize) bytes once extracted, more than this machine can address")
            }
            bytes = try inflate(at: dataOffset, compressed: compressed, declared: Int(member.uncompressedSize))
        }
        let checksum = bytes.withUnsafeBufferPointer { buffer in
            UInt32(crc32_z(0, buffer.baseAddress, buffer.count))
        }
        guard checksum == member.crc32 else {
            throw Damage(reason: "its CRC-32 is " + String(format: "%08x", checksum) + ", its headers say "
                + String(format: "%08x", member.crc32))
        }
        return bytes
    }

    /// Inflates the raw deflate stream of `compressed` bytes at `offset` into one buffer of
    /// `declared` + 1 bytes, reading at most those compressed bytes (RFC 1951; zlib with a
    /// negative window size). The caller has checked `declared` against deflate's largest ratio
    /// (and ``NumpyArrays`` against the memory available).
    private func inflate(at offset: UInt64, compressed: Int, declared: Int) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DatasetError.unreadableFile(path: path, reason: "zlib cannot start (out of memory)")
        }
        defer { inflateEnd(&stream) }
        // One byte past the declared size, so a member that lies about it is stopped there.
        let capacity = declared + 1
        return try [UInt8](unsafeUninitializedCapacity: capacity) { buffer, produced in
            produced = 0
            var read = 0
            var input: [UInt8] = []
            var inputOffset = 0
            while true {
                if inputOffset == input.count {
                    guard read < compressed else {
                        throw Damage(reason: "its deflate stream does not end within its \(compressed) compressed bytes "
                            + "(the member is cut short or damaged)")
                    }
                    input = try file.read(at: offset + UInt64(read), count: min(FileBytes.chunkSize, compressed - read))
                    read += input.count
                    inputOffset = 0
                }
                let (result, consumed, written) = input.withUnsafeMutableBufferPointer { source in
                    stream.next_in = source.baseAddress! + inputOffset
                    stream.avail_in = UInt32(source.count - inputOffset)
                    stream.next_out = buffer.baseAddress! + produced
                    let room = min(capacity - produced, Int(UInt32.max))
                    stream.avail_out = UInt32(room)
                    let result = SystemZlib.inflate(&stream, Z_NO_FLUSH)
                    return (result, source.count - inputOffset - Int(stream.avail_in), room - Int(stream.avail_out))
                }
                inputOffset += consumed
                produced += written
                if produced > declared { throw LongerThanDeclared(declared: UInt64(declared)) }
                switch result {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    let unused = compressed - read + (input.count - inputOffset)
                    guard unused == 0 else {
                        throw Damage(reason: "its deflate stream ends \(unused) bytes before its declared \(compressed) compressed bytes do")
                    }
                    guard produced == declared else {
                        throw Damage(reason: "it extracts to \(produced) bytes, not the \(declared) its headers declare")
                    }
                    return
                case Z_BUF_ERROR where consumed == 0 && written == 0 && inputOffset < input.count:
                    throw Damage(reason: "its deflate stream makes no progress")
                case Z_BUF_ERROR:
                    continue
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(result)"
                    throw Damage(reason: "its deflate stream is damaged (\(message))")
                }
            }
        }
    }

    /// Parses the central directory header at `at` (advanced past it), with its zip64 extended
    /// information (APPNOTE 4.3.12 and 4.5.3).
    private static func centralHeader(_ directory: [UInt8], at: inout Int, index: Int) throws -> Member {
        guard directory.count - at >= centralHeaderBytes, directory.uint32(at: at) == centralHeaderSignature else {
            throw Damage(reason: "central directory header \(index + 1) is missing or has a wrong signature")
        }
        let nameLength = Int(directory.uint16(at: at + 28))
        let extraLength = Int(directory.uint16(at: at + 30))
        let commentLength = Int(directory.uint16(at: at + 32))
        let recordLength = centralHeaderBytes + nameLength + extraLength + commentLength
        guard directory.count - at >= recordLength else {
            throw Damage(reason: "central directory header \(index + 1) runs past the end of the central directory")
        }
        let nameStart = at + centralHeaderBytes
        var member = Member(
            nameBytes: Array(directory[nameStart..<(nameStart + nameLength)]),
            method: directory.uint16(at: at + 10), flags: directory.uint16(at: at + 8), crc32: directory.uint32(at: at + 16),
            compressedSize: UInt64(directory.uint32(at: at + 20)), uncompressedSize: UInt64(directory.uint32(at: at + 24)),
            localHeaderOffset: UInt64(directory.uint32(at: at + 42)))
        let diskStart = directory.uint16(at: at + 34)

        // Extra fields: 2-byte id, 2-byte size, data. The zip64 one (id 1) holds, in this order,
        // each of the uncompressed size, compressed size and offset whose field above is all ones.
        var pending = (uncompressed: member.uncompressedSize == 0xFFFF_FFFF, compressed: member.compressedSize == 0xFFFF_FFFF,
                       offset: member.localHeaderOffset == 0xFFFF_FFFF)
        var extra = nameStart + nameLength
        let extraEnd = extra + extraLength
        while extraEnd - extra >= 4 {
            let id = directory.uint16(at: extra), size = Int(directory.uint16(at: extra + 2))
            let data = extra + 4
            guard extraEnd - data >= size else {
                throw Damage(reason: "an extra field of central directory header \(index + 1) runs past its header")
            }
            if id == 1 {
                var field = data
                let name = member.name
                func next() throws -> UInt64 {
                    guard data + size - field >= 8 else {
                        throw Damage(reason: "the zip64 field of \(InputText.quote(name)) is too short for the sizes it must hold")
                    }
                    defer { field += 8 }
                    return directory.uint64(at: field)
                }
                if pending.uncompressed { member.uncompressedSize = try next(); pending.uncompressed = false }
                if pending.compressed { member.compressedSize = try next(); pending.compressed = false }
                if pending.offset { member.localHeaderOffset = try next(); pending.offset = false }
            }
            extra = data + size
        }
        guard !pending.uncompressed && !pending.compressed && !pending.offset else {
            throw Damage(reason: "central directory header \(index + 1) (\(InputText.quote(member.name))) marks a size or offset "
                + "as zip64 (0xFFFFFFFF) but has no zip64 field holding it")
        }
        guard diskStart == 0 || diskStart == 0xFFFF else { throw Damage(reason: "it spans several disks, which is not read") }
        at += recordLength
        return member
    }
}

private extension Array where Element == UInt8 {
    /// Little-endian integers at byte offset `at` (the caller has checked the bounds).
    func uint16(at: Int) -> UInt16 { UInt16(self[at]) | UInt16(self[at + 1]) << 8 }
    func uint32(at: Int) -> UInt32 { UInt32(uint16(at: at)) | UInt32(uint16(at: at + 2)) << 16 }
    func uint64(at: Int) -> UInt64 { UInt64(uint32(at: at)) | UInt64(uint32(at: at + 4)) << 32 }
}
