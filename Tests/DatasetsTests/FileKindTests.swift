@testable import Datasets
import Foundation
import Testing
import TestSupport

/// Data file paths that are not plain data files, gzip streams the reader used to refuse, and
/// files that hold more than their header says: each loads or fails with a `DatasetError` that
/// names the file and says what it is.
@Suite struct FileKindTests {
    let goodImages = SampleFiles.idxImages(count: 3)
    let goodLabels = SampleFiles.idxLabels([3, 0, 9])

    /// Loads the Fashion-MNIST train split from `folder` and returns the error it throws.
    func loadError(_ folder: TemporaryFolder, kind: DatasetKind = .fashionMNIST) -> DatasetError? {
        #expect(throws: DatasetError.self) { try loadDataset(kind, folder: folder.path, split: .train) }
    }

    func withFolder(_ body: (TemporaryFolder) throws -> Void) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try body(folder)
    }

    @Test func aFIFOAsADataFileIsNamedAsAFIFONotAPermissionProblem() throws {
        try withFolder { folder in
            try folder.write("train-labels-idx1-ubyte", goodLabels)
            #expect(mkfifo(folder.file("train-images-idx3-ubyte"), 0o644) == 0)
            let error = loadError(folder)
            #expect(error == .notRegularFile(path: folder.file("train-images-idx3-ubyte"), kind: "a FIFO"))
            #expect(error?.description.contains("is a FIFO, not a regular file") == true)
            #expect(error?.description.contains("permission") == false)
        }
    }

    @Test func devZeroAsADataFileIsRefusedAsADeviceBeforeAnythingIsRead() throws {
        try withFolder { folder in
            try folder.write("train-labels-idx1-ubyte", goodLabels)
            try FileManager.default.createSymbolicLink(atPath: folder.file("train-images-idx3-ubyte.gz"),
                                                       withDestinationPath: "/dev/zero")
            let error = loadError(folder)
            #expect(error == .notRegularFile(path: folder.file("train-images-idx3-ubyte.gz"), kind: "a character device"))
        }
    }

    @Test func aFolderNamedLikeADataFileIsNamedAsAFolderNotAsMissing() throws {
        try withFolder { folder in
            try folder.write("train-labels-idx1-ubyte", goodLabels)
            try FileManager.default.createDirectory(atPath: folder.file("train-images-idx3-ubyte.gz"),
                                                    withIntermediateDirectories: false)
            let error = loadError(folder)
            #expect(error == .notRegularFile(path: folder.file("train-images-idx3-ubyte.gz"), kind: "a folder"))
            #expect(error?.description.contains("install the Debian package") == false)
        }
    }

    @Test func aSymbolicLinkLoopIsNamedAsABrokenLinkForAFileAndForTheFolder() throws {
        try withFolder { folder in
            try folder.write("train-labels-idx1-ubyte", goodLabels)
            let loop = folder.file("train-images-idx3-ubyte")
            #expect(symlink(loop, loop) == 0)
            guard case .brokenLink(let path, let reason)? = loadError(folder) else { Issue.record("no broken link"); return }
            #expect(path == loop)
            #expect(reason.contains("symbolic links"))

            let folderLoop = folder.file("data")
            #expect(symlink(folderLoop, folderLoop) == 0)
            let error = #expect(throws: DatasetError.self) {
                try loadDataset(.fashionMNIST, folder: folderLoop, split: .train)
            }
            guard case .brokenLink(folderLoop, _)? = error else { Issue.record("got \(String(describing: error))"); return }
            #expect(error?.description.contains("is a symbolic link that cannot be followed") == true)
        }
    }

    @Test func aMultiMemberGzipLoadsAsTheJoinedMembers() throws {
        try withFolder { folder in
            let images = try SampleFiles.gzip(Array(goodImages.prefix(100))) + SampleFiles.gzip(Array(goodImages.dropFirst(100)))
            try folder.write("train-images-idx3-ubyte.gz", images)
            try folder.write("train-labels-idx1-ubyte", goodLabels)
            let data = try loadDataset(.fashionMNIST, folder: folder.path, split: .train)
            #expect(data.count == 3)
            #expect(data.labels == [3, 0, 9])
            #expect(data.images[5] == SampleFiles.normalized(goodImages[16 + 5], 0, .fashionMNIST))
        }
    }

    @Test func aZeroPaddedGzipLoadsAndBytesAfterThePaddingAreCorrupt() throws {
        try withFolder { folder in
            try folder.write("train-images-idx3-ubyte.gz", try SampleFiles.gzip(goodImages) + [UInt8](repeating: 0, count: 512))
            try folder.write("train-labels-idx1-ubyte", goodLabels)
            #expect(try loadDataset(.fashionMNIST, folder: folder.path, split: .train).count == 3)

            try folder.write("train-images-idx3-ubyte.gz", try SampleFiles.gzip(goodImages) + [0, 0, 7])
            guard case .corruptGzip(_, let reason)? = loadError(folder) else { Issue.record("not corrupt"); return }
            #expect(reason.contains("zero padding"))

            try folder.write("train-images-idx3-ubyte.gz", try SampleFiles.gzip(goodImages) + [7, 7, 7])
            guard case .corruptGzip(_, let reason2)? = loadError(folder) else { Issue.record("not corrupt"); return }
            #expect(reason2.contains("not gzip follow a gzip member"))
        }
    }

    @Test func aGzipBombWithAWrongMagicNumberStopsAtTheFirstBytes() throws {
        try withFolder { folder in
            // 64 MB of zeros: the magic number (0) is wrong at the first decompressed bytes.
            try folder.write("train-images-idx3-ubyte.gz", try SampleFiles.gzip([UInt8](repeating: 0, count: 64 << 20)))
            try folder.write("train-labels-idx1-ubyte", goodLabels)
            let start = Date()
            let error = loadError(folder)
            #expect(error == .wrongMagic(path: folder.file("train-images-idx3-ubyte.gz"), expected: 0x0803, found: 0))
            #expect(Date().timeIntervalSince(start) < 2)
        }
    }

    @Test func aGzipFileWhoseHeaderPromisesMoreThanTheMemoryIsRefusedBeforeDecompressing() throws {
        try withFolder { folder in
            // A valid magic and 28 x 28, but 2^32 - 1 images (3.4 TB): a bomb with a good header.
            let header: [UInt8] = [0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 28, 0, 0, 0, 28]
            try folder.write("train-images-idx3-ubyte.gz", try SampleFiles.gzip(header + [UInt8](repeating: 0, count: 1 << 20)))
            try folder.write("train-labels-idx1-ubyte", goodLabels)
            guard case .tooLargeForMemory(let path, let bytes, _)? = loadError(folder) else {
                Issue.record("not refused for its size: \(String(describing: loadError(folder)))"); return
            }
            #expect(path == folder.file("train-images-idx3-ubyte.gz") && bytes == 16 + 4_294_967_295 * 784)
            #expect(loadError(folder)?.description.contains("is compressed and its header says it holds 3367254359296 bytes") == true)
        }
    }

    @Test func aGzipStreamLongerThanItsHeaderStopsAtTheHeadersLength() throws {
        try withFolder { folder in
            let bomb = goodImages + [UInt8](repeating: 0, count: 32 << 20)
            try folder.write("train-images-idx3-ubyte.gz", try SampleFiles.gzip(bomb))
            try folder.write("train-labels-idx1-ubyte", goodLabels)
            let error = loadError(folder)
            #expect(error == .longerThanHeader(path: folder.file("train-images-idx3-ubyte.gz"), expectedBytes: goodImages.count))
            #expect(error?.description.contains("holds more than the 2368 bytes its header says") == true)
        }
    }

    @Test func aPlainFileLongerThanItsHeaderIsRefusedWithBothLengths() throws {
        try withFolder { folder in
            try folder.write("train-images-idx3-ubyte", goodImages + [1, 2, 3])
            try folder.write("train-labels-idx1-ubyte", goodLabels)
            #expect(loadError(folder) == .wrongSize(path: folder.file("train-images-idx3-ubyte"),
                                                    expectedBytes: goodImages.count, actualBytes: goodImages.count + 3))
        }
    }

    @Test func aLabelHeaderThatDisagreesWithTheImagesIsRefusedBeforeTheLabelsAreRead() throws {
        try withFolder { folder in
            try folder.write("train-images-idx3-ubyte", goodImages)
            // A label header claiming 4 billion labels, compressed: refused from its 8 bytes.
            var labels = SampleFiles.idxLabels([])
            labels.replaceSubrange(4..<8, with: SampleFiles.bigEndian(0xFFFF_FFF0))
            try folder.write("train-labels-idx1-ubyte.gz", try SampleFiles.gzip(labels + [UInt8](repeating: 1, count: 1 << 20)))
            guard case .countMismatch(_, 3, _, 0xFFFF_FFF0)? = loadError(folder) else { Issue.record("no count mismatch"); return }
        }
    }

    @Test func theOfficialSplitsAreRecognizedByTheirLabelsAndOthersAreNot() {
        let fashion: [Int32] = [9, 0, 0, 3, 0, 2, 7, 2, 5, 5] + [Int32](repeating: 1, count: 59_990)
        #expect(IDXFile.recognizedDataset(labels: fashion, split: .train)?.kind == .fashionMNIST)
        #expect(IDXFile.recognizedDataset(labels: fashion, split: .test) == nil)
        #expect(IDXFile.recognizedDataset(labels: Array(fashion.prefix(1000)), split: .train) == nil)
        let mnistTest: [Int32] = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9] + [Int32](repeating: 0, count: 9_990)
        #expect(IDXFile.recognizedDataset(labels: mnistTest, split: .test)?.kind == .mnist)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: DatasetKind.fashionMNIST.defaultFolder)))
    func mnistAskedOfTheFashionMNISTFolderIsRefusedWithTheFix() {
        let folder = DatasetKind.fashionMNIST.defaultFolder
        let error = #expect(throws: DatasetError.self) { try loadDataset(.mnist, folder: folder, split: .test) }
        guard case .otherDataset(folder, .mnist, .fashionMNIST, _)? = error else {
            Issue.record("got \(String(describing: error))"); return
        }
        #expect(error?.description.contains("pass --dataset fashion-mnist") == true)
    }
}
