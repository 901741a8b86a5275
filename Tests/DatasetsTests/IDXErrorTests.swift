import Datasets
import Testing
import TestSupport

/// Every way an IDX split can be broken throws a `DatasetError` naming the file and the fix.
@Suite struct IDXErrorTests {
    /// Loads the Fashion-MNIST train split from a folder holding `files` and returns the error.
    func loadError(_ files: [String: [UInt8]]) throws -> DatasetError? {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        for (name, bytes) in files { try folder.write(name, bytes) }
        return #expect(throws: DatasetError.self) {
            try loadDataset(.fashionMNIST, folder: folder.path, split: .train)
        }
    }

    let goodImages = SampleFiles.idxImages(count: 3)
    let goodLabels = SampleFiles.idxLabels([3, 0, 9])

    @Test func missingFolderNamesTheFolderAndTheDebianPackage() throws {
        let error = #expect(throws: DatasetError.self) {
            try loadDataset(.fashionMNIST, folder: "/nonexistent/fashion", split: .train)
        }
        guard case .missingFolder(let path, _)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(path == "/nonexistent/fashion")
        let message = error!.description
        #expect(message.contains("data folder /nonexistent/fashion does not exist"))
        #expect(message.contains("dataset-fashion-mnist"))
        #expect(message.contains("--data DIR"))
    }

    @Test func missingLabelFileIsNamed() throws {
        let error = try loadError(["train-images-idx3-ubyte": goodImages])
        guard case .missingFile(let path, _)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(path.contains("train-labels-idx1-ubyte.gz"))
        #expect(error!.description.contains("not found"))
    }

    @Test func truncatedGzipIsReportedAsTruncated() throws {
        let gzipped = try SampleFiles.gzip(goodImages)
        let error = try loadError([
            "train-images-idx3-ubyte.gz": Array(gzipped.prefix(gzipped.count / 2)),
            "train-labels-idx1-ubyte": goodLabels,
        ])
        guard case .corruptGzip(let path, _)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(path.hasSuffix("train-images-idx3-ubyte.gz"))
        #expect(error!.description.contains("truncated or corrupt"))
    }

    @Test func gzipWithDamagedDataIsReportedAsCorrupt() throws {
        var gzipped = try SampleFiles.gzip(goodImages)
        for i in 12..<(gzipped.count - 8) { gzipped[i] ^= 0x5a }
        let error = try loadError(["train-images-idx3-ubyte.gz": gzipped, "train-labels-idx1-ubyte": goodLabels])
        guard case .corruptGzip? = error else { Issue.record("got \(String(describing: error))"); return }
    }

    @Test func gzipWithWrongChecksumIsReportedAsCorrupt() throws {
        var gzipped = try SampleFiles.gzip(goodImages)
        gzipped[gzipped.count - 8] ^= 0xff  // first byte of the CRC-32
        let error = try loadError(["train-images-idx3-ubyte.gz": gzipped, "train-labels-idx1-ubyte": goodLabels])
        guard case .corruptGzip? = error else { Issue.record("got \(String(describing: error))"); return }
    }

    @Test func swappedImageAndLabelFilesFailOnTheMagicNumber() throws {
        let error = try loadError(["train-images-idx3-ubyte": goodLabels, "train-labels-idx1-ubyte": goodLabels])
        guard case .wrongMagic(let path, let expected, let found)? = error else {
            Issue.record("got \(String(describing: error))"); return
        }
        #expect(path.hasSuffix("train-images-idx3-ubyte"))
        #expect(expected == 0x0803 && found == 0x0801)
        #expect(error!.description.contains("magic number is 0x00000801, expected 0x00000803"))
    }

    @Test func labelFileWithImageMagicIsRejected() throws {
        let error = try loadError([
            "train-images-idx3-ubyte": goodImages,
            "train-labels-idx1-ubyte": SampleFiles.idxLabels([3, 0, 9], magic: 0x0803),
        ])
        guard case .wrongMagic(let path, 0x0801, 0x0803)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(path.hasSuffix("train-labels-idx1-ubyte"))
    }

    @Test func imagesOfAnotherSizeAreRejected() throws {
        let error = try loadError([
            "train-images-idx3-ubyte": SampleFiles.idxImages(count: 3, rows: 32, cols: 32),
            "train-labels-idx1-ubyte": goodLabels,
        ])
        guard case .wrongDimensions(_, let expected, let found)? = error else {
            Issue.record("got \(String(describing: error))"); return
        }
        #expect(expected == (28, 28) && found == (32, 32))
        #expect(error!.description.contains("holds 32x32 images, expected 28x28"))
    }

    @Test func imageFileShorterThanItsHeaderIsRejected() throws {
        let error = try loadError([
            "train-images-idx3-ubyte": SampleFiles.idxImages(count: 2, headerCount: 3),
            "train-labels-idx1-ubyte": goodLabels,
        ])
        guard case .wrongSize(let path, let expected, let actual)? = error else {
            Issue.record("got \(String(describing: error))"); return
        }
        #expect(path.hasSuffix("train-images-idx3-ubyte"))
        #expect(expected == 16 + 3 * 784 && actual == 16 + 2 * 784)
        #expect(error!.description.contains("shorter than"))
    }

    @Test func fileShorterThanTheHeaderItselfIsRejected() throws {
        let error = try loadError(["train-images-idx3-ubyte": [0, 0, 8, 3, 0], "train-labels-idx1-ubyte": goodLabels])
        guard case .wrongSize(_, 16, 5)? = error else { Issue.record("got \(String(describing: error))"); return }
    }

    @Test func labelFileShorterThanItsHeaderIsRejected() throws {
        let error = try loadError([
            "train-images-idx3-ubyte": goodImages,
            "train-labels-idx1-ubyte": Array(goodLabels.dropLast()),
        ])
        guard case .wrongSize(let path, 11, 10)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(path.hasSuffix("train-labels-idx1-ubyte"))
    }

    @Test func differentImageAndLabelCountsAreRejected() throws {
        let error = try loadError(["train-images-idx3-ubyte": goodImages, "train-labels-idx1-ubyte": SampleFiles.idxLabels([3, 0])])
        guard case .countMismatch(_, 3, _, 2)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(error!.description.contains("holds 3 images but"))
        #expect(error!.description.contains("holds 2 labels"))
    }

    @Test func labelAtOrAboveTheClassCountIsRejected() throws {
        let error = try loadError(["train-images-idx3-ubyte": goodImages, "train-labels-idx1-ubyte": SampleFiles.idxLabels([3, 10, 9])])
        guard case .labelOutOfRange(let path, 1, 10, 10)? = error else {
            Issue.record("got \(String(describing: error))"); return
        }
        #expect(path.hasSuffix("train-labels-idx1-ubyte"))
        #expect(error!.description.contains("label 10 of item 1 is not below the class count 10"))
    }

    @Test func emptyImageFileIsRejected() throws {
        let error = try loadError([
            "train-images-idx3-ubyte": SampleFiles.idxImages(count: 0),
            "train-labels-idx1-ubyte": SampleFiles.idxLabels([]),
        ])
        guard case .emptyDataset(let path)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(path.hasSuffix("train-images-idx3-ubyte"))
        #expect(error!.description.contains("holds no images"))
    }
}
