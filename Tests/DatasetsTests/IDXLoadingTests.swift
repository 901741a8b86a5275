import Datasets
import Foundation
import Testing
import TestSupport

@Suite struct IDXLoadingTests {
    /// Writes a Fashion-MNIST-style train split of three images and returns its folder.
    func writeTrainSplit(gzip: Bool, labels: [UInt8] = [3, 0, 9]) throws -> TemporaryFolder {
        let folder = try TemporaryFolder()
        let images = SampleFiles.idxImages(count: 3)
        let labelBytes = SampleFiles.idxLabels(labels)
        if gzip {
            try folder.write("train-images-idx3-ubyte.gz", SampleFiles.gzip(images))
            try folder.write("train-labels-idx1-ubyte.gz", SampleFiles.gzip(labelBytes))
        } else {
            try folder.write("train-images-idx3-ubyte", images)
            try folder.write("train-labels-idx1-ubyte", labelBytes)
        }
        return folder
    }

    func expectFixtureValues(_ dataset: ImageDataset, kind: DatasetKind) {
        #expect(dataset.count == 3)
        #expect(dataset.channels == 1 && dataset.height == 28 && dataset.width == 28)
        #expect(dataset.classCount == 10)
        #expect(dataset.images.count == 3 * 28 * 28)
        #expect(dataset.labels == [3, 0, 9])
        #expect(dataset.normalization == kind.normalization)
        var mismatches = 0
        for n in 0..<3 {
            for y in 0..<28 {
                for x in 0..<28 where dataset.images[(n * 28 + y) * 28 + x]
                    != SampleFiles.normalized(SampleFiles.pixel(n, 0, y, x), 0, kind) {
                    mismatches += 1
                }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func plainIDXFilesDecodeToNormalizedNCHWValues() throws {
        let folder = try writeTrainSplit(gzip: false)
        defer { folder.remove() }
        let dataset = try loadDataset(.fashionMNIST, folder: folder.path, split: .train)
        expectFixtureValues(dataset, kind: .fashionMNIST)
        #expect(dataset.name == "fashion-mnist/train")
    }

    @Test func gzippedIDXFilesDecodeToTheSameValues() throws {
        let folder = try writeTrainSplit(gzip: true)
        defer { folder.remove() }
        expectFixtureValues(try loadDataset(.fashionMNIST, folder: folder.path, split: .train), kind: .fashionMNIST)
    }

    @Test func gzipIsDetectedByMagicNotByName() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        // Compressed data under the plain name, plain data under the .gz name.
        try folder.write("train-images-idx3-ubyte", SampleFiles.gzip(SampleFiles.idxImages(count: 3)))
        try folder.write("train-labels-idx1-ubyte.gz", SampleFiles.idxLabels([3, 0, 9]))
        expectFixtureValues(try loadDataset(.fashionMNIST, folder: folder.path, split: .train), kind: .fashionMNIST)
    }

    @Test func mnistUsesItsOwnNormalizationAndTestFiles() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("t10k-images-idx3-ubyte.gz", SampleFiles.gzip(SampleFiles.idxImages(count: 3)))
        try folder.write("t10k-labels-idx1-ubyte.gz", SampleFiles.gzip(SampleFiles.idxLabels([3, 0, 9])))
        let dataset = try loadDataset(.mnist, folder: folder.path, split: .test)
        expectFixtureValues(dataset, kind: .mnist)
        #expect(dataset.name == "mnist/test")
    }

    @Test func normalizationMatchesTheDARTSConstants() {
        let fashion = DatasetKind.fashionMNIST.normalization
        // A white pixel: (1 - 0.2860) / 0.3530; a black pixel: -0.2860 / 0.3530.
        #expect(abs(fashion.normalize(255, channel: 0) - 2.0226629) < 1e-6)
        #expect(abs(fashion.zeroValue(channel: 0) - -0.8101983) < 1e-6)
        #expect(DatasetKind.mnist.normalization == Normalization(mean: [0.1307], std: [0.3081]))
        #expect(DatasetKind.cifar10.normalization.mean == [0.49139968, 0.48215827, 0.44653124])
        #expect(DatasetKind.cifar10.normalization.std == [0.24703233, 0.24348505, 0.26158768])
        #expect(DatasetKind.fashionMNIST.defaultFolder == "/usr/share/datasets/fashion-mnist")
        #expect(DatasetKind(rawValue: "fashion-mnist") == .fashionMNIST)
    }
}
