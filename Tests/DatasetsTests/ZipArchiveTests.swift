import Foundation
import SystemZlib
import Testing
import TestSupport
@testable import Datasets

/// The .npz reader's zip layer (``ZipArchive``): numpy's own files, zip64 fields, and every way a
/// member can lie about itself, each refused with the reason and never read past its sizes.
@Suite struct ZipArchiveTests {
    /// The four arrays below as numpy 2.4.6 wrote them, base64:
    /// `a = dict(train_images=np.arange(18, dtype=np.uint8).reshape(2, 3, 3) * 7, train_labels=np.array([0, 1]),
    /// test_images=np.arange(9, dtype=np.uint8).reshape(1, 3, 3) * 11, test_labels=np.array([1]))`, then
    /// `np.savez(f, **a)` (stored members) and `np.savez_compressed(f, **a)` (deflated). Both write
    /// local headers with zip64 sizes (Python's zipfile with force_zip64).
    static let numpySavez =
        "UEsDBC0AAAAAAAAAIQBUC0RH//////////8QABQAdHJhaW5faW1hZ2VzLm5weQEAEACSAAAAAAAAAJIAAAAAAAAAk05VTVBZAQB2"
        + "AHsnZGVzY3InOiAnfHUxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMsIDMpLCB9ICAgICAgICAgICAg"
        + "ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoABw4VHCMqMTg/Rk1UW2JpcHdQSwMELQAAAAAAAAAh"
        + "AH5q+8n//////////xAAFAB0cmFpbl9sYWJlbHMubnB5AQAQAJAAAAAAAAAAkAAAAAAAAACTTlVNUFkBAHYAeydkZXNjcic6ICc8"
        + "aTgnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg"
        + "ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgCgAAAAAAAAAAAQAAAAAAAABQSwMELQAAAAAAAAAhANf9DfT//////////w8A"
        + "FAB0ZXN0X2ltYWdlcy5ucHkBABAAiQAAAAAAAACJAAAAAAAAAJNOVU1QWQEAdgB7J2Rlc2NyJzogJ3x1MScsICdmb3J0cmFuX29y"
        + "ZGVyJzogRmFsc2UsICdzaGFwZSc6ICgxLCAzLCAzKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg"
        + "ICAgICAgICAgICAgICAKAAsWISw3Qk1YUEsDBC0AAAAAAAAAIQA+mhRe//////////8PABQAdGVzdF9sYWJlbHMubnB5AQAQAIgA"
        + "AAAAAAAAiAAAAAAAAACTTlVNUFkBAHYAeydkZXNjcic6ICc8aTgnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAo"
        + "MSwpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgCgEAAAAAAAAA"
        + "UEsBAi0DLQAAAAAAAAAhAFQLREeSAAAAkgAAABAAAAAAAAAAAAAAAIABAAAAAHRyYWluX2ltYWdlcy5ucHlQSwECLQMtAAAAAAAA"
        + "ACEAfmr7yZAAAACQAAAAEAAAAAAAAAAAAAAAgAHUAAAAdHJhaW5fbGFiZWxzLm5weVBLAQItAy0AAAAAAAAAIQDX/Q30iQAAAIkA"
        + "AAAPAAAAAAAAAAAAAACAAaYBAAB0ZXN0X2ltYWdlcy5ucHlQSwECLQMtAAAAAAAAACEAPpoUXogAAACIAAAADwAAAAAAAAAAAAAA"
        + "gAFwAgAAdGVzdF9sYWJlbHMubnB5UEsFBgAAAAAEAAQA9gAAADkDAAAAAA=="
    static let numpySavezCompressed =
        "UEsDBC0AAAAIAAAAIQBUC0RH//////////8QABQAdHJhaW5faW1hZ2VzLm5weQEAEACSAAAAAAAAAFoAAAAAAAAAm+wX6hsQychQ"
        + "xlCtnpJanFykbqWgXlNqqK6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkaRjoKxkCkqaNQq0Ae4GJg5xOVUdYytLB38w2J"
        + "TsosKAcAUEsDBC0AAAAIAAAAIQB+avvJ//////////8QABQAdHJhaW5fbGFiZWxzLm5weQEAEACQAAAAAAAAAEkAAAAAAAAAm+wX"
        + "6hsQychQxlCtnpJanFykbqWgbpNpoa6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkaRjqaOgq1ChQALgYoYITSAFBLAwQt"
        + "AAAACAAAACEA1/0N9P//////////DwAUAHRlc3RfaW1hZ2VzLm5weQEAEACJAAAAAAAAAFEAAAAAAAAAm+wX6hsQychQxlCtnpJa"
        + "nFykbqWgXlNqqK6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkahjoKxkCkqaNQq0Ae4GLgFlPUMXfyjQAAUEsDBC0AAAAI"
        + "AAAAIQA+mhRe//////////8PABQAdGVzdF9sYWJlbHMubnB5AQAQAIgAAAAAAAAASAAAAAAAAACb7BfqGxDJyFDGUK2eklqcXKRu"
        + "paBuk2mhrqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RqGOpo6CrUKFAAuRgYIAABQSwECLQMtAAAACAAAACEAVAtER1oA"
        + "AACSAAAAEAAAAAAAAAAAAAAAgAEAAAAAdHJhaW5faW1hZ2VzLm5weVBLAQItAy0AAAAIAAAAIQB+avvJSQAAAJAAAAAQAAAAAAAA"
        + "AAAAAACAAZwAAAB0cmFpbl9sYWJlbHMubnB5UEsBAi0DLQAAAAgAAAAhANf9DfRRAAAAiQAAAA8AAAAAAAAAAAAAAIABJwEAAHRl"
        + "c3RfaW1hZ2VzLm5weVBLAQItAy0AAAAIAAAAIQA+mhReSAAAAIgAAAAPAAAAAAAAAAAAAACAAbkBAAB0ZXN0X2xhYmVscy5ucHlQ"
        + "SwUGAAAAAAQABAD2AAAAQgIAAAAA"

    @Test(arguments: [numpySavez, numpySavezCompressed])
    func numpysOwnArchivesAreRead(base64: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("a.npz", [UInt8](Data(base64Encoded: base64)!))
        let train = try loadDataset(.numpy, folder: folder.file("a.npz"), split: .train)
        #expect(train.count == 2 && train.height == 3 && train.width == 3 && train.channels == 1)
        #expect(train.labels == [0, 1])
        #expect(pixels(train) == (0..<18).map { Float($0 * 7) })
        let test = try loadDataset(.numpy, folder: folder.file("a.npz"), split: .test)
        #expect(test.labels == [1])
        #expect(pixels(test) == (0..<9).map { Float($0 * 11) })
    }

    /// The data set's pixels as the 0...255 values of the file (undoing the normalization).
    func pixels(_ data: ImageDataset) -> [Float] {
        let (mean, std) = (data.normalization.mean[0], data.normalization.std[0])
        return data.images.map { (($0 * std + mean) * 255).rounded() }
    }

    @Test func zip64FieldsInTheCentralDirectoryAreRead() throws {
        let data: [UInt8] = Array(0..<200).map { UInt8($0 % 7) }
        var zip = ZipBuilder()
        zip.members = [.init(name: "a.npy", data: data, method: 0), .init(name: "b.npy", data: data, method: 8)]
        zip.zip64 = true
        let archive = try zip.open()
        #expect(archive.members.map(\.name) == ["a.npy", "b.npy"])
        #expect(try archive.extract(archive.member(named: "a.npy")!) == data)
        #expect(try archive.extract(archive.member(named: "b.npy")!) == data)
    }

    @Test func emptyMembersAndACommentHoldingAFakeEndRecordAreRead() throws {
        var zip = ZipBuilder()
        zip.members = [.init(name: "a.npy", data: [], method: 0), .init(name: "b.npy", data: [], method: 8)]
        // A comment that holds an end record of no members, whose own comment would end inside
        // the file: the record whose comment ends at the end of the file is the one read.
        zip.comment = [0x50, 0x4b, 0x05, 0x06] + Array(repeating: 0, count: 30)
        let archive = try zip.open()
        #expect(archive.members.map(\.name) == ["a.npy", "b.npy"])
        #expect(try archive.members.map { try archive.extract($0) } == [[], []])
        // Bytes appended after the end record: the last record whose comment fits is read.
        zip.comment = []
        #expect(try ZipBuilder.open(zip.bytes() + [1, 2, 3]).members.count == 2)
    }

    @Test func zip64MarkersWithoutTheirValuesAreRefused() throws {
        var zip = ZipBuilder()
        zip.members = [.init(name: "a.npy", data: [1, 2, 3], method: 0)]
        zip.zip64 = true
        zip.zip64Values = 2   // the sizes, not the offset
        #expect(message { _ = try zip.open() }.contains("the zip64 field of 'a.npy' is too short for the sizes it must hold"))
        zip.zip64Values = 0
        #expect(message { _ = try zip.open() }
            .contains("central directory header 1 ('a.npy') marks a size or offset as zip64 (0xFFFFFFFF) but has no zip64 field"))
    }

    /// The member ZIPFoundation 0.9.20 never finished reading: a deflate stream without its last
    /// block that runs to the end of the file. It is refused at its compressed size.
    @Test(.timeLimit(.minutes(1)))
    func aDeflateStreamWithoutItsLastBlockIsRefused() throws {
        var zip = ZipBuilder()
        zip.members = [.init(name: "train_images.npy", data: Array(repeating: 5, count: 1000), method: 8)]
        zip.members[0].compressed = ZipBuilder.rawDeflate(zip.members[0].data, finish: false)
        #expect(message { _ = try zip.openAndExtractAll() }.contains("its deflate stream does not end within its "
            + "\(zip.members[0].compressed!.count) compressed bytes (the member is cut short or damaged)"))
        // The same stream as the last bytes of the file (no central directory after it): the
        // archive itself is refused.
        let bytes = zip.bytes()
        let cut = Array(bytes.prefix(30 + 16 + zip.members[0].compressed!.count))
        #expect(message { _ = try ZipBuilder.open(cut) }.contains("no end of central directory record (not a zip file, or cut short)"))
        // Through --dataset numpy: the member is named.
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("a.npz", bytes)
        #expect(message { _ = try loadDataset(.numpy, folder: folder.file("a.npz"), split: .train) }
            .contains("a.npz[train_images.npy] cannot be extracted: its deflate stream does not end within its"))
    }

    @Test func membersThatLieAboutThemselvesAreRefused() throws {
        let data: [UInt8] = Array(0..<100).map { UInt8($0) }
        func refusal(_ change: (inout ZipBuilder.Member) -> Void) -> String {
            var zip = ZipBuilder()
            zip.members = [.init(name: "m.npy", data: data, method: 8)]
            change(&zip.members[0])
            return message { _ = try zip.openAndExtractAll() }
        }
        #expect(refusal { $0.crc32 = 0x1234_5678 }.contains("its CRC-32 is "))
        #expect(refusal { $0.crc32 = 0x1234_5678 }.contains(", its headers say 12345678"))
        #expect(refusal { $0.uncompressedSize = 99 } == "LongerThanDeclared(declared: 99)")
        #expect(refusal { $0.uncompressedSize = 101 }.contains("it extracts to 100 bytes, not the 101 its headers declare"))
        #expect(refusal { $0.compressed = ZipBuilder.rawDeflate(data, finish: true) + [0, 0] }
            .contains("its deflate stream ends 2 bytes before its declared"))
        #expect(refusal { $0.compressed = [0xff, 0xff, 0xff] }.contains("its deflate stream is damaged (invalid block type)"))
        #expect(refusal { $0.flags = 1 }.contains("it is encrypted, which is not read"))
        #expect(refusal { $0.methodField = 12 }.contains("it is compressed with method 12; only stored (0) and deflate (8) are read"))
        #expect(refusal { $0.localHeaderOffset = 5 }.contains("no local file header at offset 5, where the central directory points"))
        #expect(refusal { $0.localHeaderOffset = 0xFFFF_FF00 }
            .contains("the central directory puts its local header at offset 4294967040, not before the central directory"))
        #expect(refusal { $0.compressedSizeField = 1 << 20 }
            .contains("its compressed size, 1048576 bytes from offset 35, runs past the start of the central directory"))
        // Past the member's data but within the file: into the central directory.
        let compressedSize = ZipBuilder.rawDeflate(data, finish: true).count
        #expect(refusal { $0.compressedSizeField = UInt64(compressedSize + 10) }.contains("runs past the start of the central directory"))
        #expect(refusal { $0.uncompressedSize = UInt64(1032 * compressedSize + 1032) }
            .contains("more than deflate's largest ratio (1032:1) gives"))
        #expect(refusal { $0.method = 0; $0.uncompressedSize = 50 }.contains("it is stored (not compressed) in 100 bytes but declares 50"))
        #expect(refusal { $0.method = 0; $0.uncompressedSize = 150 }.contains("it is stored (not compressed) in 100 bytes but declares 150"))
    }

    @Test func damagedDirectoriesAreRefused() throws {
        var zip = ZipBuilder()
        zip.members = [.init(name: "a.npy", data: [1, 2, 3], method: 0), .init(name: "a.npy", data: [4], method: 0)]
        #expect(message { _ = try zip.open() }.contains("two members are named 'a.npy'"))
        zip.members[1].name = "b.npy"
        let good = zip.bytes()
        #expect(try ZipBuilder.open(good).members.count == 2)
        #expect(message { _ = try ZipBuilder.open(Array(good.prefix(10))) }.contains("only 10 bytes, shorter than any zip file"))
        #expect(message { _ = try ZipBuilder.open(Array(good.dropLast())) }.contains("no end of central directory record"))
        var entries = good
        entries[entries.count - 12] = 0xff   // the total member count: 255, in a directory of two headers
        #expect(message { _ = try ZipBuilder.open(entries) }.contains("it declares 255 members, more than its"))
        var none = good
        none[none.count - 12] = 0   // no members, in a 102-byte directory
        none[none.count - 14] = 0
        #expect(message { _ = try ZipBuilder.open(none) }.contains("its central directory takes 102 bytes, more than 0 member headers can"))
        var offset = good
        offset[offset.count - 6] = 0xff   // the central directory's offset past the end record
        #expect(message { _ = try ZipBuilder.open(offset) }.contains("runs past where the end of central directory record starts"))
        var disk = good
        disk[disk.count - 18] = 1
        #expect(message { _ = try ZipBuilder.open(disk) }.contains("it spans several disks"))
        var signature = good
        let directory = signature.count - 22 - 2 * (46 + 5)
        signature[directory] = 0
        #expect(message { _ = try ZipBuilder.open(signature) }.contains("central directory header 1 is missing or has a wrong signature"))
        zip.zip64 = true
        var locator = zip.bytes()
        locator[locator.count - 22 - 20 + 8] = 0xff   // the zip64 record's offset, past its locator
        #expect(message { _ = try ZipBuilder.open(locator) }.contains("its zip64 end of central directory locator points to offset"))
    }

    /// A member declaring more bytes than the machine has available (a zip64 size) is refused
    /// before anything is extracted.
    @Test func aMemberLargerThanTheMemoryIsRefusedBeforeExtracting() throws {
        let arrays = OwnDataSamples.numpyArrays(train: 9, test: 3, size: 4)
        var zip = ZipBuilder()
        zip.members = arrays.sorted { $0.key < $1.key }.map { .init(name: $0.key + ".npy", data: $0.value, method: 8) }
        zip.zip64 = true
        let index = zip.members.firstIndex { $0.name == "train_images.npy" }!
        zip.members[index].uncompressedSize = 1 << 50
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("big.npz", zip.bytes())
        #expect(message { _ = try loadDataset(.numpy, folder: folder.file("big.npz"), split: .train) }
            .contains("big.npz[train_images.npy] declares 1125899906842624 bytes once extracted, more than the"))
    }
}

/// A zip file written field by field (APPNOTE.TXT 6.3.10), so that a test can set any field to a
/// wrong value: local headers, the central directory, the end record, and with `zip64` the zip64
/// extra fields (sizes and offset all ones in the headers), record and locator.
struct ZipBuilder {
    struct Member {
        var name: String
        var data: [UInt8]
        /// 0 stored, 8 deflate: how `data` is written.
        var method: UInt16
        /// Written instead of the method (an unsupported one).
        var methodField: UInt16?
        var flags: UInt16 = 0
        /// The bytes written for the member; nil: `data` stored or deflated by zlib.
        var compressed: [UInt8]?
        var crc32: UInt32?
        var uncompressedSize: UInt64?
        var compressedSizeField: UInt64?
        var localHeaderOffset: UInt64?

        init(name: String, data: [UInt8], method: UInt16) {
            self.name = name
            self.data = data
            self.method = method
        }
    }

    var members: [Member] = []
    /// Zip64 extra fields in the central directory (their header fields all ones), a zip64 end
    /// record and locator, and the end record's count, size and offset all ones.
    var zip64 = false
    /// How many of the zip64 extra field's three values (sizes and offset) are written.
    var zip64Values = 3
    var comment: [UInt8] = []

    /// `data` as a raw deflate stream (RFC 1951); without `finish`, flushed but without its last block.
    static func rawDeflate(_ data: [UInt8], finish: Bool) -> [UInt8] {
        try! SampleFiles.deflated(data, windowBits: -15, finish: finish)
    }

    func bytes() -> [UInt8] {
        var out: [UInt8] = []
        var directory: [UInt8] = []
        func le(_ value: UInt64, _ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        for member in members {
            let payload = member.compressed ?? (member.method == 8 ? Self.rawDeflate(member.data, finish: true) : member.data)
            let crc = member.crc32 ?? member.data.withUnsafeBufferPointer { UInt32(crc32_z(0, $0.baseAddress, $0.count)) }
            let size = member.uncompressedSize ?? UInt64(member.data.count)
            let compressedSize = member.compressedSizeField ?? UInt64(payload.count)
            let offset = member.localHeaderOffset ?? UInt64(out.count)
            let name = Array(member.name.utf8)
            let method = member.methodField ?? member.method
            out += le(0x0403_4b50, 4) + le(45, 2) + le(UInt64(member.flags), 2) + le(UInt64(method), 2) + le(0, 4)
                + le(UInt64(crc), 4) + le(compressedSize, 4) + le(size, 4) + le(UInt64(name.count), 2) + le(0, 2) + name + payload
            let values = (le(size, 8) + le(compressedSize, 8) + le(offset, 8)).prefix(8 * zip64Values)
            let extra = zip64 && zip64Values > 0 ? le(1, 2) + le(UInt64(values.count), 2) + values : []
            let wide: (UInt64) -> UInt64 = { zip64 ? 0xFFFF_FFFF : $0 }
            directory += le(0x0201_4b50, 4) + le(45, 2) + le(45, 2) + le(UInt64(member.flags), 2) + le(UInt64(method), 2) + le(0, 4)
                + le(UInt64(crc), 4) + le(wide(compressedSize), 4) + le(wide(size), 4) + le(UInt64(name.count), 2)
                + le(UInt64(extra.count), 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(wide(offset), 4) + name + extra
        }
        let directoryOffset = UInt64(out.count)
        out += directory
        if zip64 {
            let record = UInt64(out.count)
            out += le(0x0606_4b50, 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4)
                + le(UInt64(members.count), 8) + le(UInt64(members.count), 8) + le(UInt64(directory.count), 8) + le(directoryOffset, 8)
            out += le(0x0706_4b50, 4) + le(0, 4) + le(record, 8) + le(1, 4)
        }
        let count = zip64 ? 0xFFFF : UInt64(members.count)
        out += le(0x0605_4b50, 4) + le(0, 2) + le(0, 2) + le(count, 2) + le(count, 2)
            + le(zip64 ? 0xFFFF_FFFF : UInt64(directory.count), 4) + le(zip64 ? 0xFFFF_FFFF : directoryOffset, 4)
            + le(UInt64(comment.count), 2) + comment
        return out
    }

    static func open(_ bytes: [UInt8]) throws -> ZipArchive {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("a.zip", bytes)
        // The archive keeps its file open: removing the folder afterwards leaves it readable.
        return try ZipArchive(path: folder.file("a.zip"))
    }

    func open() throws -> ZipArchive { try Self.open(bytes()) }

    func openAndExtractAll() throws {
        let archive = try open()
        for member in archive.members { _ = try archive.extract(member) }
    }
}
