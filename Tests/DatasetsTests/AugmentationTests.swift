import DartsTensor
import Datasets
import Testing

@Suite struct AugmentationTests {
    /// One 1x3x3 image with pixels 1...9 row by row; mean 0.5, std 0.25, so a padded (black)
    /// pixel is (0 - 0.5) / 0.25 = -2.
    let image = ImageDataset(
        name: "3x3", images: [1, 2, 3, 4, 5, 6, 7, 8, 9], labels: [4],
        channels: 1, height: 3, width: 3, classCount: 10,
        normalization: Normalization(mean: [0.5], std: [0.25]))
    let P: Float = -2

    func batch(_ dataset: ImageDataset, _ indices: [Int], _ augmentation: Augmentation,
               _ rng: inout RandomGenerator) -> (images: [Float], labels: [Int32]) {
        var images = [Float](repeating: .nan, count: indices.count * dataset.imageSize)
        var labels = [Int32](repeating: -1, count: indices.count)
        images.withUnsafeMutableBufferPointer { imageBuffer in
            labels.withUnsafeMutableBufferPointer { labelBuffer in
                fillBatch(dataset, indices: indices, images: imageBuffer.baseAddress!, labels: labelBuffer.baseAddress!,
                          augmentation: augmentation, rng: &rng)
            }
        }
        return (images, labels)
    }

    /// The first seed whose generator draws crop (top, left) and the flip decision as asked,
    /// in the order `fillBatch` documents.
    func seed(padding: Int, top: Int, left: Int, flip: Bool) -> UInt64 {
        for seed in UInt64(0)..<10_000 {
            var probe = RandomGenerator(seed: seed)
            if probe.nextInt(below: 2 * padding + 1) == top, probe.nextInt(below: 2 * padding + 1) == left,
               (probe.nextUniform() < 0.5) == flip {
                return seed
            }
        }
        fatalError("no seed draws top \(top), left \(left), flip \(flip)")
    }

    func crop(top: Int, left: Int, flip: Bool) -> [Float] {
        var rng = RandomGenerator(seed: seed(padding: 1, top: top, left: left, flip: flip))
        return batch(image, [0], Augmentation(randomCropPadding: 1, horizontalFlip: true), &rng).images
    }

    @Test func noAugmentationCopiesExactlyAndDrawsNothing() {
        let dataset = ImageDataset(
            name: "two", images: (0..<36).map { Float($0) * 0.5 - 3 }, labels: [7, 2],
            channels: 2, height: 3, width: 3, classCount: 10, normalization: .identity(channels: 2))
        var rng = RandomGenerator(seed: 42)
        let before = rng
        let result = batch(dataset, [1, 0, 1], .none, &rng)
        #expect(result.images == Array(dataset.images[18..<36]) + Array(dataset.images[0..<18]) + Array(dataset.images[18..<36]))
        #expect(result.labels == [2, 7, 2])
        #expect(rng == before)
    }

    @Test func cropOffsetsMoveThePixelsAndPadWithNormalizedBlack() {
        // Window at the top-left of the padded image: content moves down and right by one.
        #expect(crop(top: 0, left: 0, flip: false) == [P, P, P, P, 1, 2, P, 4, 5])
        // Window at (2, 1): content moves up by one.
        #expect(crop(top: 2, left: 1, flip: false) == [4, 5, 6, 7, 8, 9, P, P, P])
        // Centred window: the image itself.
        #expect(crop(top: 1, left: 1, flip: false) == [1, 2, 3, 4, 5, 6, 7, 8, 9])
    }

    @Test func horizontalFlipMirrorsTheCroppedImage() {
        #expect(crop(top: 1, left: 1, flip: true) == [3, 2, 1, 6, 5, 4, 9, 8, 7])
        // Crop at left 2 gives rows (2, 3, P); flipping gives (P, 3, 2).
        #expect(crop(top: 1, left: 2, flip: true) == [P, 3, 2, P, 6, 5, P, 9, 8])
    }

    @Test func flipHappensAboutHalfTheTime() {
        var rng = RandomGenerator(seed: 3)
        let flips = (0..<2000).filter { _ in
            batch(image, [0], Augmentation(horizontalFlip: true), &rng).images[0] == 3
        }.count
        #expect(flips > 900 && flips < 1100)
    }

    @Test func cropPadsEachChannelWithItsOwnBlackValue() {
        let dataset = ImageDataset(
            name: "rgb", images: [Float](repeating: 9, count: 3 * 2 * 2), labels: [0],
            channels: 3, height: 2, width: 2, classCount: 10, normalization: DatasetKind.cifar10.normalization)
        var rng = RandomGenerator(seed: seed(padding: 1, top: 0, left: 0, flip: false))
        let out = batch(dataset, [0], Augmentation(randomCropPadding: 1), &rng).images
        for c in 0..<3 {
            let black = DatasetKind.cifar10.normalization.zeroValue(channel: c)
            #expect(Array(out[(c * 4)..<(c * 4 + 4)]) == [black, black, black, 9])
        }
    }

    /// The first seed whose generator draws the cutout centre (y, x) in an h x w image.
    func cutoutSeed(y: Int, x: Int, height: Int, width: Int) -> UInt64 {
        for seed in UInt64(0)..<100_000 {
            var probe = RandomGenerator(seed: seed)
            if probe.nextInt(below: height) == y, probe.nextInt(below: width) == x { return seed }
        }
        fatalError("no seed draws centre (\(y), \(x))")
    }

    @Test func cutoutZeroesTheSquareAroundTheDrawnCentreClippedAtTheBorder() {
        let ones = ImageDataset(
            name: "ones", images: [Float](repeating: 1, count: 2 * 5 * 5), labels: [0],
            channels: 2, height: 5, width: 5, classCount: 10, normalization: .identity(channels: 2))
        // Centre (2, 3), L = 2: rows 1..<3, columns 2..<4 in both channels.
        var rng = RandomGenerator(seed: cutoutSeed(y: 2, x: 3, height: 5, width: 5))
        var out = batch(ones, [0], Augmentation(cutoutLength: 2), &rng).images
        var zeroed = (0..<50).filter { out[$0] == 0 }
        #expect(zeroed == [7, 8, 12, 13, 32, 33, 37, 38])
        // Centre (0, 4), L = 4: rows 0..<2, columns 2..<5 (clipped at the top and right).
        rng = RandomGenerator(seed: cutoutSeed(y: 0, x: 4, height: 5, width: 5))
        out = batch(ones, [0], Augmentation(cutoutLength: 4), &rng).images
        zeroed = (0..<25).filter { out[$0] == 0 }
        #expect(zeroed == [2, 3, 4, 7, 8, 9])
        #expect(out.filter { $0 == 0 }.count == 12)
    }

    @Test func composedTransformsMatchTheDocumentedFormulaForEveryDraw() {
        // 2 channels, 4x5, distinct values; crop, flip and cutout all on.
        let (channels, height, width, padding, length) = (2, 4, 5, 2, 3)
        let dataset = ImageDataset(
            name: "grid", images: (0..<(3 * channels * height * width)).map { Float($0) + 1 }, labels: [0, 1, 2],
            channels: channels, height: height, width: width, classCount: 10,
            normalization: Normalization(mean: [0.25, 0.75], std: [0.5, 0.5]))
        let augmentation = Augmentation(randomCropPadding: padding, horizontalFlip: true, cutoutLength: length)
        var rng = RandomGenerator(seed: 11)
        for _ in 0..<50 {
            var probe = rng
            let indices = [2, 0, 1]
            let out = batch(dataset, indices, augmentation, &rng).images
            for (n, index) in indices.enumerated() {
                let top = probe.nextInt(below: 2 * padding + 1), left = probe.nextInt(below: 2 * padding + 1)
                let flip = probe.nextUniform() < 0.5
                let cy = probe.nextInt(below: height), cx = probe.nextInt(below: width)
                for c in 0..<channels {
                    for y in 0..<height {
                        for x in 0..<width {
                            let sy = y + top - padding, sx = (flip ? width - 1 - x : x) + left - padding
                            var expected = sy >= 0 && sy < height && sx >= 0 && sx < width
                                ? dataset.images[((index * channels + c) * height + sy) * width + sx]
                                : dataset.normalization.zeroValue(channel: c)
                            if y >= cy - length / 2 && y < cy + length / 2 && x >= cx - length / 2 && x < cx + length / 2 {
                                expected = 0
                            }
                            #expect(out[((n * channels + c) * height + y) * width + x] == expected)
                        }
                    }
                }
            }
            #expect(probe == rng)
        }
    }

    @Test func augmentationNamesItselfForRunConfigs() {
        #expect(Augmentation.none.description == "none")
        #expect(Augmentation.standard(.cifar10).description == "random-crop(padding 4)+horizontal-flip")
        #expect(Augmentation.standard(.mnist) == Augmentation(randomCropPadding: 4))
        #expect(Augmentation(cutoutLength: 16).description == "cutout(16)")
    }
}
