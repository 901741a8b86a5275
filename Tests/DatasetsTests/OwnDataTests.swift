import Foundation
import Testing
import TestSupport
@testable import Datasets

/// --dataset numpy and --dataset folder: the .npy reader, the .npz archive, the image folder, and
/// what each refuses (with the file named).
@Suite struct OwnDataTests {
    // MARK: .npy

    @Test func npyHeaderAndDataAreRead() throws {
        let bytes = OwnDataSamples.npy(descr: "<f4", shape: [2, 3], data: OwnDataSamples.float32([0, 0.5, 1, 2, 3, 4]))
        let array = try NPYFile.decode(bytes, path: "a.npy")
        #expect(array.dtype == .float32)
        #expect(array.shape == [2, 3])
        #expect(array.data.count == 24)
        let labels = try NPYFile.decode(OwnDataSamples.npy(descr: "<i8", shape: [3], data: OwnDataSamples.int64([7, 0, 2])), path: "l.npy")
        #expect(labels.integers() == [7, 0, 2])
    }

    @Test func theWriterRoundTripsAndAlignsTo64Bytes() throws {
        let bytes = NPYFile.encode([1, 2, 3, 4, 5, 6], shape: [1, 2, 3])
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        let array = try NPYFile.decode(bytes, path: "x.npy")
        #expect(array.shape == [1, 2, 3])
        #expect(array.dtype == .float32)
    }

    @Test func version2HeadersAreRead() throws {
        var dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }"
        dict += String(repeating: " ", count: (64 - (12 + dict.utf8.count + 1) % 64) % 64) + "\n"
        let n = dict.utf8.count
        let bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 2, 0, UInt8(n & 0xff), UInt8(n >> 8), 0, 0] + Array(dict.utf8) + [1, 2, 3, 4]
        #expect(try NPYFile.decode(bytes, path: "v2.npy").shape == [2, 2])
    }


    @Test func badNpyFilesAreRefusedWithTheReason() {
        let good = OwnDataSamples.npy(descr: "|u1", shape: [2, 2], data: [1, 2, 3, 4])
        var wrongMagic = good
        wrongMagic[1] = 0x41
        #expect(message { _ = try NPYFile.decode(wrongMagic, path: "m.npy") }.contains("m.npy is not a valid .npy file: it does not start with the magic"))
        var version = good
        version[6] = 4
        #expect(message { _ = try NPYFile.decode(version, path: "v.npy") }.contains("format version 4.0"))
        #expect(message { _ = try NPYFile.decode(Array(good.dropLast()), path: "t.npy") }.contains("t.npy is \(good.count - 1) bytes, but its header"))
        #expect(message { _ = try NPYFile.decode(good + [0], path: "e.npy") }.contains("followed by extra bytes"))
        let code = OwnDataSamples.npy(header: "{'descr': __import__('os').system('true'), 'fortran_order': False, 'shape': (4,), }", data: [1, 2, 3, 4])
        #expect(message { _ = try NPYFile.decode(code, path: "c.npy") }.contains("has a key or string without quotes"))
        let unknown = OwnDataSamples.npy(header: "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), 'x': 1}", data: [1, 2, 3, 4])
        #expect(message { _ = try NPYFile.decode(unknown, path: "k.npy") }.contains("unknown key 'x'"))
        let missing = OwnDataSamples.npy(header: "{'descr': '|u1', 'shape': (4,), }", data: [1, 2, 3, 4])
        #expect(message { _ = try NPYFile.decode(missing, path: "n.npy") }.contains("lacks one of the keys"))
        let fortran = OwnDataSamples.npy(descr: "|u1", shape: [2, 2], data: [1, 2, 3, 4], fortran: true)
        #expect(message { _ = try NPYFile.decode(fortran, path: "f.npy") }.contains("numpy.ascontiguousarray"))
        let complex = OwnDataSamples.npy(descr: "<c8", shape: [1], data: Array(repeating: 0, count: 8))
        #expect(message { _ = try NPYFile.decode(complex, path: "z.npy") }.contains("z.npy holds dtype '<c8', which is not supported"))
        let bigEndian = OwnDataSamples.npy(descr: ">f4", shape: [1], data: [0, 0, 0, 0])
        #expect(message { _ = try NPYFile.decode(bigEndian, path: "b.npy") }.contains("'>f4', which is not supported"))
        let huge = OwnDataSamples.npy(descr: "<f8", shape: [4_611_686_018_427_387_904, 4], data: [])
        #expect(message { _ = try NPYFile.decode(huge, path: "h.npy") }.contains("more items than can be addressed"))
        let hugeBytes = OwnDataSamples.npy(descr: "<f8", shape: [2_305_843_009_213_693_952], data: [])
        #expect(message { _ = try NPYFile.decode(hugeBytes, path: "h.npy") }.contains("more bytes than can be addressed"))
        // Text from the file is quoted cut to 200 characters, its control characters escaped.
        let escape = OwnDataSamples.npy(header: "{'descr': '\u{1b}[2J" + String(repeating: "x", count: 5000) + "', 'fortran_order': False, 'shape': (4,), }", data: [1, 2, 3, 4])
        let escapeMessage = message { _ = try NPYFile.decode(escape, path: "x.npy") }
        #expect(escapeMessage.contains("x.npy holds dtype '\\u{1b}[2Jxxx"))
        #expect(escapeMessage.contains("... (5004 characters)'") && !escapeMessage.contains("\u{1b}") && escapeMessage.count < 600)
        let keys = OwnDataSamples.npy(header: "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), '\u{1b}" + String(repeating: "k", count: 3000) + "': 1}", data: [1, 2, 3, 4])
        let keysMessage = message { _ = try NPYFile.decode(keys, path: "k.npy") }
        #expect(keysMessage.contains("unknown key '\\u{1b}kkk") && !keysMessage.contains("\u{1b}") && keysMessage.count < 1000)
        let dimensions = OwnDataSamples.npy(header: "{'descr': '|u1', 'fortran_order': False, 'shape': (" + String(repeating: "1, ", count: 65) + "), }", data: [1])
        #expect(message { _ = try NPYFile.decode(dimensions, path: "d.npy") }.contains("has a 'shape' of more than 64 dimensions"))
        let longHeader: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 0xff, 0xff, 0x7b]
        #expect(message { _ = try NPYFile.decode(longHeader, path: "l.npy") }.contains("its header says 65535 bytes"))
    }

    // MARK: numpy data sets

    @Test func aNumpyFolderLoadsScaledNormalizedAndLabelled() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try OwnDataSamples.writeNumpyFolder(OwnDataSamples.numpyArrays(train: 6, test: 4, size: 4, channels: 3, classes: 3), to: folder.url)
        let train = try loadDataset(.numpy, folder: folder.path, split: .train)
        #expect(train.count == 6 && train.channels == 3 && train.height == 4 && train.width == 4)
        #expect(train.classNames == ["0", "1", "2"])
        #expect(train.labels == [0, 1, 2, 0, 1, 2])
        // N x H x W x C on disk, (N, C, H, W) in memory: pixel (n=1, c=2, y=3, x=1).
        let raw = Float(OwnDataSamples.pixel(1, 3, 1, 2)) / 255
        let n = train.normalization
        #expect(abs(train.images[((1 * 3 + 2) * 4 + 3) * 4 + 1] - (raw - n.mean[2]) / n.std[2]) < 1e-6)
        // Normalized training images have mean 0 and std 1 per channel.
        for c in 0..<3 {
            var values: [Float] = []
            for i in 0..<6 {
                let start: Int = (i * 3 + c) * 16
                values += train.images[start..<(start + 16)]
            }
            let count = Float(values.count)
            let mean: Float = values.reduce(0, +) / count
            var variance: Float = 0
            for v in values { variance += (v - mean) * (v - mean) }
            variance /= count
            #expect(abs(mean) < 1e-5 && abs(variance - 1) < 1e-4)
        }
        let test = try loadDataset(.numpy, folder: folder.path, split: .test)
        #expect(test.normalization == train.normalization)
        #expect(test.count == 4)
    }

    @Test func channelsFirstAndFloatImagesGiveTheSameTensors() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var arrays = OwnDataSamples.numpyArrays(train: 3, test: 2, size: 4, channels: 3)
        try OwnDataSamples.writeNumpyFolder(arrays, to: folder.url.appendingPathComponent("last"))
        // The same pixels as N x C x H x W float32 in [0, 1].
        var first: [Float] = []
        for n in 0..<3 { for c in 0..<3 { for y in 0..<4 { for x in 0..<4 { first.append(Float(OwnDataSamples.pixel(n, y, x, c)) / 255) } } } }
        arrays["train_images"] = OwnDataSamples.npy(descr: "<f4", shape: [3, 3, 4, 4], data: OwnDataSamples.float32(first))
        try OwnDataSamples.writeNumpyFolder(arrays, to: folder.url.appendingPathComponent("first"))
        let a = try loadDataset(.numpy, folder: folder.file("last"), split: .train)
        let b = try loadDataset(.numpy, folder: folder.file("first"), split: .train)
        #expect(a.channels == 3 && b.channels == 3)
        #expect(zip(a.images, b.images).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test func anNpzHoldsTheSameFourArrays() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let arrays = OwnDataSamples.numpyArrays(train: 9, test: 3, size: 4)
        try OwnDataSamples.writeNumpyFolder(arrays, to: folder.url.appendingPathComponent("npy"))
        try OwnDataSamples.writeNPZ(arrays, to: folder.url.appendingPathComponent("data.npz"))
        let fromFolder = try loadDataset(.numpy, folder: folder.file("npy"), split: .test)
        let fromArchive = try loadDataset(.numpy, folder: folder.file("data.npz"), split: .test)
        #expect(fromArchive.images == fromFolder.images)
        #expect(fromArchive.labels == fromFolder.labels)
        #expect(fromArchive.count == 3)
    }

    /// An .npz member that inflates to more than its zip headers declare (a zip bomb that lies
    /// about its size) is stopped at the declared size, not extracted to the end.
    @Test func anNpzMemberLargerThanItsHeadersSayIsStoppedThere() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let file = folder.url.appendingPathComponent("data.npz")
        try OwnDataSamples.writeNPZ(OwnDataSamples.numpyArrays(train: 9, test: 3, size: 4), to: file)
        var bytes = try FileBytes.readPlain(file.path)
        var patched = 0
        for i in 0..<(bytes.count - 4) {   // every header's uncompressed size to 100: local (+22) and central (+24)
            let signature = UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
            guard let offset = [0x0403_4b50: 22, 0x0201_4b50: 24][signature] else { continue }
            bytes.replaceSubrange((i + offset)..<(i + offset + 4), with: [100, 0, 0, 0])
            patched += 1
        }
        #expect(patched == 8)
        try Data(bytes).write(to: file)
        let text = message { _ = try loadDataset(.numpy, folder: file.path, split: .train) }
        #expect(text.contains("data.npz[train_images.npy] extracts to more than the 100 bytes its zip headers declare (extraction "
                              + "stopped there); the archive is damaged"), "\(text)")
    }

    @Test func numpyShapesThatDoNotFitAreRefused() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var arrays = OwnDataSamples.numpyArrays(train: 4, test: 2, size: 4)
        arrays["train_images"] = OwnDataSamples.npy(descr: "|u1", shape: [4, 3, 4, 3], data: Array(repeating: 1, count: 144))
        try OwnDataSamples.writeNumpyFolder(arrays, to: folder.url)
        let text = message { _ = try loadDataset(.numpy, folder: folder.path, split: .train) }
        #expect(text.contains("train_images.npy has shape [4, 3, 4, 3]: neither N x H x W x C nor N x C x H x W"))
    }

    /// The training labels define the classes (largest + 1): a label of 100,000 or more, up to
    /// Int64.max, is refused before a class list is made (found by fuzzing: a hang building 8.6e9
    /// class names, and a trap at Int64.max + 1).
    @Test func trainingLabelsBeyondTheClassBoundAreRefused() throws {
        for label in [100_000, Int.max] {
            let folder = try TemporaryFolder()
            defer { folder.remove() }
            var arrays = OwnDataSamples.numpyArrays(train: 4, test: 2, size: 4)
            arrays["train_labels"] = OwnDataSamples.npy(descr: "<i8", shape: [4], data: OwnDataSamples.int64([0, 1, label, 2]))
            try OwnDataSamples.writeNumpyFolder(arrays, to: folder.url)
            for split in [DatasetSplit.train, .test] {
                let text = message { _ = try loadDataset(.numpy, folder: folder.path, split: split) }
                #expect(text.contains("train_labels.npy: label \(label) of item 2 is out of range (labels are 0, 1, ..., K-1, with at "
                                      + "most 100000 classes); number the classes from 0"), "\(text)")
            }
        }
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var arrays = OwnDataSamples.numpyArrays(train: 4, test: 2, size: 4)
        arrays["train_labels"] = OwnDataSamples.npy(descr: "<i8", shape: [4], data: OwnDataSamples.int64([0, 1, 99_999, 2]))
        try OwnDataSamples.writeNumpyFolder(arrays, to: folder.url)
        #expect(try loadDataset(.numpy, folder: folder.path, split: .train).classCount == 100_000)
    }

    // MARK: image folders

    @Test func anImageFolderLoadsClassesSortedAndImagesInNameOrder() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try OwnDataSamples.writeImageFolder(at: folder.url, classes: ["zebra", "Ant", "bee"], train: 9, test: 3, size: 4, channels: 3)
        try Data().write(to: folder.url.appendingPathComponent("train/bee/.DS_Store"))
        let train = try loadDataset(.folder, folder: folder.path, split: .train)
        // Sorted by code point, as Python's sorted(): uppercase first.
        #expect(train.classNames == ["Ant", "bee", "zebra"])
        #expect(train.channels == 3 && train.height == 4)
        // Image n is in class n % 3 of ["zebra", "Ant", "bee"], i.e. label [2, 0, 1][n % 3], in file order n.
        #expect(train.labels == (0..<9).map { Int32([2, 0, 1][$0 % 3]) })
        let raw = Float(OwnDataSamples.pixel(5, 2, 3, 1)) / 255
        let n = train.normalization
        #expect(abs(train.images[((5 * 3 + 1) * 4 + 2) * 4 + 3] - (raw - n.mean[1]) / n.std[1]) < 1e-6)
        let test = try loadDataset(.folder, folder: folder.path, split: .test)
        #expect(test.labels == [2, 0, 1])
        #expect(test.normalization == n)
    }

    @Test func folderNamesInMessagesAreEscapedAndALinkLoopEnds() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try OwnDataSamples.writeImageFolder(at: folder.url, classes: ["a", "b"], train: 4, test: 2, size: 4)
        // A file name holding an escape sequence is shown escaped.
        let odd = folder.url.appendingPathComponent("train/a/\u{1b}[2Jnotes.txt")
        try Data("x".utf8).write(to: odd)
        let oddError = #expect(throws: OwnDataError.self) { _ = try loadDataset(.folder, folder: folder.path, split: .train) }
        #expect("\(oddError!)".contains("train/a/\\u{1b}[2Jnotes.txt is not an image") && !"\(oddError!)".contains("\u{1b}"))
        try FileManager.default.removeItem(at: odd)
        // A link to the class folder inside it nests without end; refused at 16 folders.
        try FileManager.default.createSymbolicLink(atPath: folder.url.appendingPathComponent("train/b/loop").path, withDestinationPath: "..")
        let loopError = #expect(throws: OwnDataError.self) { _ = try loadDataset(.folder, folder: folder.path, split: .train) }
        #expect("\(loopError!)".contains("lies more than 16 folders below its class folder (a symbolic link to a folder above it?)"))
    }

    @Test func grayPNGsAndJPEGsDecode() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pixels = OwnDataSamples.image(3, size: 8, channels: 1)
        try ImageCodecs.writePNG(pixels, width: 8, height: 8, channels: 1, to: folder.file("a.png"))
        let png = try ImageCodecs.decode(try FileBytes.readPlain(folder.file("a.png")), path: "a.png")
        #expect(png.channels == 1 && png.width == 8 && png.pixels == pixels)
        let smooth = (0..<192).map { i -> UInt8 in let p = i / 3; return UInt8(100 + 4 * (p % 8) + 2 * (p / 8) + 10 * (i % 3)) }
        let jpeg = try ImageCodecs.decode(ImageCodecs.encodeJPEG(smooth, width: 8, height: 8, channels: 3, quality: 100), path: "b.jpg")
        #expect(jpeg.channels == 3 && jpeg.width == 8 && jpeg.height == 8)
        #expect(zip(jpeg.pixels, smooth).allSatisfy { abs(Int($0) - Int($1)) <= 8 })
    }

    /// With --image-size each image is resized as it is decoded, with its own channels; a gray
    /// image among color ones then gets its resized plane three times, which is the same as
    /// resizing three equal planes (the resize works plane by plane).
    @Test func grayAndColorImagesAreResizedPlaneByPlaneAsTheyAreDecoded() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let gray = OwnDataSamples.image(1, size: 5, channels: 1), color = OwnDataSamples.image(2, size: 5, channels: 3)
        for split in ["train", "test"] {
            try FileManager.default.createDirectory(at: folder.url.appendingPathComponent("\(split)/a"), withIntermediateDirectories: true)
            try ImageCodecs.writePNG(gray, width: 5, height: 5, channels: 1, to: folder.file("\(split)/a/1.png"))
            try ImageCodecs.writePNG(color, width: 5, height: 5, channels: 3, to: folder.file("\(split)/a/2.png"))
        }
        let raw = try ImageFolder.load(root: folder.path, split: .train, reference: nil, imageSize: 7)
        #expect(raw.channels == 3 && raw.height == 7 && raw.width == 7 && raw.labels == [0, 0])
        let grayPlanes = gray.map { Float($0) / 255 } + gray.map { Float($0) / 255 } + gray.map { Float($0) / 255 }
        let colorPlanes = (0..<3).flatMap { c in (0..<25).map { Float(color[$0 * 3 + c]) / 255 } }
        let expected = RawImages(pixels: grayPlanes + colorPlanes, labels: [0, 0], channels: 3, height: 5, width: 5,
                                 classNames: ["a"]).resized(to: 7)
        #expect(raw.pixels == expected.pixels)
    }

    /// A header that declares more than 8192 x 8192 pixels is refused before any pixel buffer is
    /// made: a small PNG or JPEG whose width and height were raised to 20000 x 17000.
    @Test func imagesDeclaringTooManyPixelsAreRefusedBeforeDecoding() throws {
        func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {   // PNG's CRC (ISO 3309), bit by bit
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in bytes {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            }
            return ~crc
        }
        func bigEndian(_ value: UInt32, _ count: Int) -> [UInt8] { (0..<count).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try ImageCodecs.writePNG(OwnDataSamples.image(1, size: 8, channels: 1), width: 8, height: 8, channels: 1, to: folder.file("a.png"))
        var png = try FileBytes.readPlain(folder.file("a.png"))
        png.replaceSubrange(16..<24, with: bigEndian(20000, 4) + bigEndian(17000, 4))   // IHDR width, height
        png.replaceSubrange(29..<33, with: bigEndian(crc32(png[12..<29]), 4))
        var jpeg = ImageCodecs.encodeJPEG(OwnDataSamples.image(1, size: 8, channels: 1), width: 8, height: 8, channels: 1)
        let sof = try #require((0..<(jpeg.count - 1)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        jpeg.replaceSubrange((sof + 5)..<(sof + 9), with: bigEndian(17000, 2) + bigEndian(20000, 2))   // SOF0 height, width
        for (bytes, name) in [(png, "big.png"), (jpeg, "big.jpg")] {
            let error = #expect(throws: OwnDataError.self) { _ = try ImageCodecs.decode(bytes, path: name) }
            #expect("\(String(describing: error))".contains("\(name) declares 20000 x 17000 pixels (width x height), more than the "
                                                           + "67108864 (8192 x 8192) darts-dist decodes; resize it"), "\(String(describing: error))")
        }
        // Just below the bound the header passes and the file fails as what it is, truncated.
        png.replaceSubrange(16..<24, with: bigEndian(8192, 4) + bigEndian(8192, 4))
        png.replaceSubrange(29..<33, with: bigEndian(crc32(png[12..<29]), 4))
        let truncated = #expect(throws: OwnDataError.self) { _ = try ImageCodecs.decode(png, path: "edge.png") }
        #expect("\(String(describing: truncated))".contains("edge.png is a corrupt or truncated PNG file"), "\(String(describing: truncated))")
    }

    /// A progressive JPEG (gray, 8 x 8, every coefficient 0) of `coefficients` AC bands: the DC
    /// and each band sent in 14 scans (a first scan at Al = 13, then 13 refinements), all with
    /// one-code Huffman tables, so each scan's data is one byte. 14 + 14 x coefficients scans.
    static func progressiveJPEG(coefficients: Int) -> [UInt8] {
        func segment(_ marker: UInt8, _ body: [UInt8]) -> [UInt8] {
            [0xFF, marker, UInt8((body.count + 2) >> 8), UInt8((body.count + 2) & 0xFF)] + body
        }
        var bytes: [UInt8] = [0xFF, 0xD8]
        bytes += segment(0xDB, [0] + [UInt8](repeating: 1, count: 64))
        bytes += segment(0xC2, [8, 0, 8, 0, 8, 1, 1, 0x11, 0])   // SOF2: 8 bits, 8 x 8, one component
        let oneCode: [UInt8] = [1] + [UInt8](repeating: 0, count: 15) + [0]
        bytes += segment(0xC4, [0x00] + oneCode + [0x10] + oneCode)
        for band in 0...coefficients {
            for (ah, al) in [(0, 13)] + (1...13).reversed().map({ ($0, $0 - 1) }) {
                bytes += segment(0xDA, [1, 1, 0x00, UInt8(band), UInt8(band), UInt8(ah << 4 | al)])
                bytes.append(0x7F)   // one 0 bit (category 0, end of band, or a refinement bit), padded with 1s
            }
        }
        return bytes + [0xFF, 0xD9]
    }

    /// A progressive JPEG of more than 500 scans is refused before libjpeg walks the image once
    /// per scan; one of 434 scans decodes.
    @Test func aProgressiveJPEGOfMoreThan500ScansIsRefused() throws {
        let fine = try ImageCodecs.decode(Self.progressiveJPEG(coefficients: 30), path: "434.jpg")
        #expect(fine.width == 8 && fine.height == 8 && fine.channels == 1)
        let error = #expect(throws: OwnDataError.self) { _ = try ImageCodecs.decode(Self.progressiveJPEG(coefficients: 63), path: "896.jpg") }
        #expect("\(String(describing: error))".contains("896.jpg is a corrupt or truncated JPEG file (libjpeg: more than 500 scans)"),
                "\(String(describing: error))")
    }

    @Test func anImageSizeBeyondTheMachinesMemoryIsRefusedBeforeAllocating() throws {
        // 1,000 images of 4 x 4 pixels, to 4096 x 4096: 134 GB of float32 twice, more than any
        // development machine has; refused with the figure, before a buffer is made.
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try OwnDataSamples.writeNumpyFolder(OwnDataSamples.numpyArrays(train: 1000, test: 2, size: 4), to: folder.url)
        do {
            _ = try loadDataset(.numpy, folder: folder.path, split: .train, imageSize: 4096)
            Issue.record("--image-size 4096 of 1,000 images was accepted")
        } catch let error as OwnDataError {
            #expect("\(error)".hasPrefix("--image-size 4096: 1000 images of 1 x 4096 x 4096 float32 pixels in \(folder.path) need "
                                         + "about 134.2 GB (resized and normalized), but this machine has "), "\(error)")
            #expect("\(error)".hasSuffix("; use a smaller --image-size"), "\(error)")
        }
        #expect(throws: OwnDataError.self) {   // a product beyond Int
            try RawImages.checkResizedFits(count: Int.max / 2, channels: 3, side: 4096, path: "x")
        }
        try RawImages.checkResizedFits(count: 1000, channels: 1, side: 32, path: "x")   // 8 MB: fits
        let image = try TemporaryFolder()
        defer { image.remove() }
        try OwnDataSamples.writeImageFolder(at: image.url, classes: ["a", "b"], train: 1000, test: 2, size: 4)
        let folderError = #expect(throws: OwnDataError.self) {
            _ = try loadDataset(.folder, folder: image.path, split: .train, imageSize: 4096)
        }
        #expect("\(String(describing: folderError))".contains("1000 images of 1 x 4096 x 4096 float32 pixels in \(image.path)/train need"))
    }

    @Test func imageSizeResizesBilinearly() throws {
        // A 2 x 2 image to 4 x 4 with half-pixel centres: corners keep their values, the middle blends.
        let raw = RawImages(pixels: [0, 1, 2, 3], labels: [0], channels: 1, height: 2, width: 2, classNames: ["a"])
        let resized = raw.resized(to: 4)
        #expect(resized.pixels[0] == 0 && resized.pixels[15] == 3)
        #expect(resized.pixels[1] == 0.25)   // source x = 0.25
        #expect(resized.pixels[5] == 0.75)   // source (0.25, 0.25): 0.25 * 1 + 0.25 * 2
    }
}
