import Datasets
import Testing

/// Loads the real Fashion-MNIST files of the Debian package dataset-fashion-mnist.
@Suite struct FashionMNISTTests {
    /// Fails (never skips) where the package is missing: loadDataset throws `missingFolder`,
    /// whose message says to install dataset-fashion-mnist.
    @Test func realFashionMNISTHasItsPublishedCountsShapeAndBalancedClasses() throws {
        let folder = DatasetKind.fashionMNIST.defaultFolder
        let clock = ContinuousClock()
        var train: ImageDataset?
        let trainTime = try clock.measure {
            train = try loadDataset(.fashionMNIST, folder: folder, split: .train)
        }
        guard let train else { return }
        let test = try loadDataset(.fashionMNIST, folder: folder, split: .test)
        print("fashion-mnist/train: \(train.count) images loaded in \(trainTime)")

        #expect(train.count == 60_000)
        #expect(test.count == 10_000)
        for dataset in [train, test] {
            #expect(dataset.channels == 1 && dataset.height == 28 && dataset.width == 28)
            #expect(dataset.classCount == 10)
            #expect(dataset.images.count == dataset.count * 784)
            #expect(dataset.labels.allSatisfy { (0..<10).contains($0) })
        }
        var trainPerClass = [Int](repeating: 0, count: 10)
        for label in train.labels { trainPerClass[Int(label)] += 1 }
        #expect(trainPerClass == [Int](repeating: 6_000, count: 10))
        var testPerClass = [Int](repeating: 0, count: 10)
        for label in test.labels { testPerClass[Int(label)] += 1 }
        #expect(testPerClass == [Int](repeating: 1_000, count: 10))
        // Pixels span black to white, and the DARTS constants (mean 0.2860, std 0.3530) make the
        // normalized training set about zero-mean and unit-variance.
        var (low, high, sum, sumOfSquares) = (Float.infinity, -Float.infinity, 0.0, 0.0)
        train.images.withUnsafeBufferPointer { pixels in
            for value in pixels {
                low = min(low, value)
                high = max(high, value)
                sum += Double(value)
                sumOfSquares += Double(value) * Double(value)
            }
        }
        let normalization = DatasetKind.fashionMNIST.normalization
        #expect(low == normalization.normalize(0, channel: 0))
        #expect(high == normalization.normalize(255, channel: 0))
        let mean = sum / Double(train.images.count)
        let std = (sumOfSquares / Double(train.images.count) - mean * mean).squareRoot()
        #expect(abs(mean) < 0.01)
        #expect(abs(std - 1) < 0.01)
    }
}
