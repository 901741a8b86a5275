/// Per-channel normalization applied to pixels after scaling them to [0, 1]:
///
///     x_normalized = (x / 255 - mean[c]) / std[c]
///
/// as `torchvision.transforms.Normalize` does after `ToTensor` (official DARTS, pt.darts).
public struct Normalization: Sendable, Equatable, Codable {
    /// Mean of channel c over the training set, in [0, 1] pixel units.
    public var mean: [Float]
    /// Standard deviation of channel c over the training set, in [0, 1] pixel units.
    public var std: [Float]

    /// - Parameters:
    ///   - mean: one value per channel.
    ///   - std: one positive value per channel.
    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count, "mean and std need one value per channel")
        precondition(std.allSatisfy { $0 > 0 }, "std must be positive")
        self.mean = mean
        self.std = std
    }

    /// The identity normalization for `channels` channels (mean 0, std 1).
    public static func identity(channels: Int) -> Normalization {
        Normalization(mean: Array(repeating: 0, count: channels), std: Array(repeating: 1, count: channels))
    }

    /// The normalized value of raw byte `byte` (0...255) in channel `channel`.
    @inline(__always)
    public func normalize(_ byte: UInt8, channel: Int) -> Float {
        (Float(byte) / 255 - mean[channel]) / std[channel]
    }

    /// The normalized value of a black (0) pixel in channel `channel`, `-mean / std`: what
    /// zero padding of the raw image becomes after normalization.
    public func zeroValue(channel: Int) -> Float {
        normalize(0, channel: channel)
    }
}

/// A labelled image classification data set held in memory, already normalized.
///
/// `images` holds `count` images of shape (C, H, W) one after the other, so the whole array
/// is an (N, C, H, W) tensor in row-major order: pixel (n, c, y, x) is at
/// `((n * channels + c) * height + y) * width + x`.
public struct ImageDataset: Sendable {
    /// (N, C, H, W) normalized pixels.
    public var images: [Float]
    /// (N) class indices in 0..<classCount.
    public var labels: [Int32]
    /// C.
    public let channels: Int
    /// H, in pixels.
    public let height: Int
    /// W, in pixels.
    public let width: Int
    /// Number of classes; every label is below it.
    public let classCount: Int
    /// A name for logs and run configs, e.g. "fashion-mnist/train".
    public var name: String
    /// The normalization that was applied to `images`.
    public let normalization: Normalization
    /// The name of each class, indexed by label, when the files name them (own data: the class
    /// folders, or "0", "1", ... for NumPy arrays); nil for the built-in data sets, whose names
    /// are `DatasetKind.classNames`. Kept by `subset` and `prefix`.
    public var classNames: [String]?

    /// N, the number of images.
    public var count: Int { labels.count }

    /// C * H * W, the number of floats in one image.
    public var imageSize: Int { channels * height * width }

    /// Wraps already normalized images. Sizes that disagree are a programmer error (precondition).
    public init(
        name: String, images: [Float], labels: [Int32],
        channels: Int, height: Int, width: Int, classCount: Int,
        normalization: Normalization
    ) {
        precondition(channels > 0 && height > 0 && width > 0, "image shape must be positive")
        precondition(images.count == labels.count * channels * height * width,
                     "images must hold count * channels * height * width floats")
        precondition(normalization.mean.count == channels, "normalization needs one value per channel")
        self.name = name
        self.images = images
        self.labels = labels
        self.channels = channels
        self.height = height
        self.width = width
        self.classCount = classCount
        self.normalization = normalization
    }

    /// The images and labels at `indices`, in that order (indices may repeat).
    public func subset(_ indices: [Int]) -> ImageDataset {
        let size = imageSize
        var newImages = [Float](repeating: 0, count: indices.count * size)
        var newLabels = [Int32](repeating: 0, count: indices.count)
        images.withUnsafeBufferPointer { source in
            newImages.withUnsafeMutableBufferPointer { destination in
                for (row, index) in indices.enumerated() {
                    precondition(index >= 0 && index < count, "index \(index) out of range 0..<\(count)")
                    let from = source.baseAddress! + index * size
                    (destination.baseAddress! + row * size).update(from: from, count: size)
                    newLabels[row] = labels[index]
                }
            }
        }
        var result = ImageDataset(
            name: name, images: newImages, labels: newLabels,
            channels: channels, height: height, width: width, classCount: classCount,
            normalization: normalization)
        result.classNames = classNames
        return result
    }

    /// The first `min(n, count)` images and labels.
    public func prefix(_ n: Int) -> ImageDataset {
        precondition(n >= 0, "prefix length must be non-negative")
        let kept = Swift.min(n, count)
        var result = ImageDataset(
            name: name, images: Array(images[0..<(kept * imageSize)]), labels: Array(labels[0..<kept]),
            channels: channels, height: height, width: width, classCount: classCount,
            normalization: normalization)
        result.classNames = classNames
        return result
    }
}
