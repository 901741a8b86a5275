import DartsTensor
import Datasets

/// Random draws keyed by what they are for, not by who draws them: a training image's
/// augmentation and drop path masks in an epoch come from a generator seeded with a hash of
/// (run seed, epoch, stream, image index). Which rank, batch or micro-batch holds the image
/// does not matter, so any rank layout trains the same network, and a resumed run draws what
/// an uninterrupted one would.
public enum KeyedRandomness {
    /// The streams of one image's draws, kept apart so that they never share a generator.
    public enum Stream: UInt64, Sendable {
        case augmentation = 1
        case dropPath = 2
    }

    /// A 64-bit key for (seed, epoch, stream, index): SplitMix64's finalizer applied after each
    /// part is mixed in, so keys that differ in any part are unrelated.
    public static func key(seed: UInt64, epoch: Int, stream: Stream, index: Int) -> UInt64 {
        var h = mix(seed ^ 0x6A09_E667_F3BC_C908)
        h = mix(h ^ UInt64(truncatingIfNeeded: epoch))
        h = mix(h ^ stream.rawValue)
        return mix(h ^ UInt64(truncatingIfNeeded: index))
    }

    /// The generator of one image's draws in one stream.
    public static func generator(seed: UInt64, epoch: Int, stream: Stream, index: Int) -> RandomGenerator {
        RandomGenerator(seed: key(seed: seed, epoch: epoch, stream: stream, index: index))
    }

    /// SplitMix64's output function (Steele, Lea and Flood 2014).
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Gathers the images at `indices` into `images` (N, C, H, W) and `labels` (N), each image
    /// augmented with its own keyed generator (stream ``Stream/augmentation``).
    /// - Parameters:
    ///   - images: a tensor of shape (indices.count, C, H, W).
    ///   - labels: indices.count labels, overwritten.
    public static func fill(_ dataset: ImageDataset, indices: [Int], images: Tensor, labels: inout [Int32],
                            augmentation: Augmentation, seed: UInt64, epoch: Int) {
        precondition(images.count == indices.count * dataset.imageSize && labels.count == indices.count,
                     "fill: batch tensors do not match \(indices.count) images")
        let imageSize = dataset.imageSize
        labels.withUnsafeMutableBufferPointer { labelBuffer in
            for (row, index) in indices.enumerated() {
                var rng = generator(seed: seed, epoch: epoch, stream: .augmentation, index: index)
                fillBatch(dataset, indices: [index], images: images.data + row * imageSize,
                          labels: labelBuffer.baseAddress! + row, augmentation: augmentation, rng: &rng)
            }
        }
    }

    /// One drop path seed per image (stream ``Stream/dropPath``), for `AugmentNetwork.dropPathSampleSeeds`.
    public static func dropPathSeeds(_ indices: [Int], seed: UInt64, epoch: Int) -> [UInt64] {
        indices.map { key(seed: seed, epoch: epoch, stream: .dropPath, index: $0) }
    }
}
