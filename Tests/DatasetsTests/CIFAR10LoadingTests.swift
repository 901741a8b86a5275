import Datasets
import Foundation
import Testing
import TestSupport

@Suite struct CIFAR10LoadingTests {
    /// Five training files of 2, 1, 1, 1, 3 records and a test file of 2 records.
    func writeCIFARFolder() throws -> TemporaryFolder {
        let folder = try TemporaryFolder()
        let batches: [[UInt8]] = [[0, 1], [2], [3], [4], [5, 6, 9]]
        var first = 0
        for (i, labels) in batches.enumerated() {
            try folder.write("data_batch_\(i + 1).bin", SampleFiles.cifarRecords(labels, first: first))
            first += labels.count
        }
        try folder.write("test_batch.bin", SampleFiles.cifarRecords([7, 8]))
        return folder
    }

    @Test func trainSplitConcatenatesTheFiveBatchesInOrderAsNCHW() throws {
        let folder = try writeCIFARFolder()
        defer { folder.remove() }
        let dataset = try loadDataset(.cifar10, folder: folder.path, split: .train)
        #expect(dataset.count == 8)
        #expect(dataset.channels == 3 && dataset.height == 32 && dataset.width == 32)
        #expect(dataset.labels == [0, 1, 2, 3, 4, 5, 6, 9])
        #expect(dataset.images.count == 8 * 3 * 32 * 32)
        #expect(dataset.name == "cifar10/train")
        var mismatches = 0
        for n in 0..<8 {
            for c in 0..<3 {
                for y in 0..<32 {
                    for x in 0..<32 where dataset.images[((n * 3 + c) * 32 + y) * 32 + x]
                        != SampleFiles.normalized(SampleFiles.pixel(n, c, y, x), c, .cifar10) {
                        mismatches += 1
                    }
                }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func channelsUseTheirOwnMeanAndStd() throws {
        let folder = try writeCIFARFolder()
        defer { folder.remove() }
        let dataset = try loadDataset(.cifar10, folder: folder.path, split: .test)
        #expect(dataset.labels == [7, 8])
        // Pixel (0, c, 0, 0) is byte c * 101: red 0, green 101, blue 202.
        #expect(dataset.images[0] == (0 / 255 - 0.49139968) / 0.24703233 as Float)
        #expect(abs(dataset.images[1024] - (101.0 / 255 - 0.48215827) / 0.24348505) < 1e-6)
        #expect(abs(dataset.images[2048] - (202.0 / 255 - 0.44653124) / 0.26158768) < 1e-6)
    }

    @Test func missingBatchFileIsNamed() throws {
        let folder = try writeCIFARFolder()
        defer { folder.remove() }
        try FileManager.default.removeItem(atPath: folder.file("data_batch_4.bin"))
        let error = #expect(throws: DatasetError.self) { try loadDataset(.cifar10, folder: folder.path, split: .train) }
        guard case .missingFile(let path, _)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(path.hasSuffix("data_batch_4.bin"))
        #expect(error!.description.contains("cifar-10-binary.tar.gz"))
    }

    @Test func missingFolderSuggestsTheBinaryVersion() throws {
        let error = #expect(throws: DatasetError.self) { try loadDataset(.cifar10, folder: "/nonexistent/cifar", split: .test) }
        guard case .missingFolder("/nonexistent/cifar", _)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(error!.description.contains("--data DIR"))
    }

    @Test func fileThatIsNotWholeRecordsIsRejected() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("test_batch.bin", SampleFiles.cifarRecords([1, 2]) + [0, 0, 0, 0, 0])
        let error = #expect(throws: DatasetError.self) { try loadDataset(.cifar10, folder: folder.path, split: .test) }
        guard case .notWholeRecords(let path, 6151, 3073)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(path.hasSuffix("test_batch.bin"))
        #expect(error!.description.contains("not a multiple of the 3073-byte CIFAR-10 record"))
    }

    @Test func labelOutOfRangeIsRejected() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("test_batch.bin", SampleFiles.cifarRecords([1, 2, 200]))
        let error = #expect(throws: DatasetError.self) { try loadDataset(.cifar10, folder: folder.path, split: .test) }
        guard case .labelOutOfRange(_, 2, 200, 10)? = error else { Issue.record("got \(String(describing: error))"); return }
    }

    @Test func emptyFileIsRejected() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("test_batch.bin", [])
        let error = #expect(throws: DatasetError.self) { try loadDataset(.cifar10, folder: folder.path, split: .test) }
        guard case .emptyDataset(let path)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(path.hasSuffix("test_batch.bin"))
    }
}
