import Foundation
import InputText

/// Own data that cannot be used: the message names the file or folder at fault and the fix.
public enum OwnDataError: Error, CustomStringConvertible, Equatable {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let message): return message
        }
    }
}

/// What a test split is measured against: the training split's normalization, class names,
/// channels and image side, so that test images are normalized, labelled and sized as the
/// training images were (a retrain takes it from its training split, `evaluate` from model.bin).
public struct DatasetReference: Sendable, Equatable {
    public var normalization: Normalization
    /// Indexed by label.
    public var classNames: [String]
    /// C, and the side S of the S x S images.
    public var channels: Int
    public var imageSize: Int

    public init(normalization: Normalization, classNames: [String], channels: Int, imageSize: Int) {
        self.normalization = normalization
        self.classNames = classNames
        self.channels = channels
        self.imageSize = imageSize
    }

    /// The reference of a loaded training split.
    public init(_ train: ImageDataset) {
        self.init(normalization: train.normalization,
                  classNames: train.classNames ?? (0..<train.classCount).map(String.init),
                  channels: train.channels, imageSize: train.height)
    }
}

/// Images of own data before normalization: pixels scaled to [0, 1] (uint8 / 255, float32 as
/// stored), (N, C, H, W) row-major, with their labels and class names.
struct RawImages {
    var pixels: [Float]
    var labels: [Int32]
    var channels: Int
    var height: Int
    var width: Int
    var classNames: [String]

    var count: Int { labels.count }

    /// Per-channel mean and standard deviation over every pixel of every image (population
    /// standard deviation, sqrt(E[x^2] - E[x]^2), summed in Double).
    /// - Throws: ``OwnDataError`` when a channel is constant (its std 0 cannot normalize).
    func measureNormalization(path: String) throws -> Normalization {
        let plane = height * width
        var mean = [Float](), std = [Float]()
        for c in 0..<channels {
            var sum = 0.0, squares = 0.0
            for n in 0..<count {
                let start = (n * channels + c) * plane
                for i in start..<(start + plane) {
                    let x = Double(pixels[i])
                    sum += x
                    squares += x * x
                }
            }
            let total = Double(count * plane)
            let m = sum / total
            let s = (max(0, squares / total - m * m)).squareRoot()
            guard s > 0 else {
                throw OwnDataError.invalid("the training images in \(path) are constant in channel \(c) (every pixel "
                    + "\(m)), so they cannot be normalized; check that the images are not blank")
            }
            mean.append(Float(m))
            std.append(Float(s))
        }
        return Normalization(mean: mean, std: std)
    }

    /// Refuses `--image-size side` when `count` images of `channels` channels at side x side float32
    /// pixels, twice (the resized images and their normalized copy), need more than this machine's
    /// available memory (``HostMemory/availableBytes()``). Overflow-safe: a product that does not fit
    /// in Int is refused as well.
    /// - Throws: ``OwnDataError/invalid(_:)`` with the figure, the memory and the fix.
    static func checkResizedFits(count: Int, channels: Int, side: Int, path: String) throws {
        var bytes = 8   // 4 bytes a float32, two copies
        var overflow = false
        for factor in [count, channels, side, side] where !overflow {
            (bytes, overflow) = bytes.multipliedReportingOverflow(by: max(factor, 0))
        }
        let available = HostMemory.availableBytes()
        guard overflow || Double(bytes) > available else { return }
        let need = overflow ? "more than 9.2 EB" : String(format: "about %.1f GB", Double(bytes) / 1e9)
        throw OwnDataError.invalid("--image-size \(side): \(count) images of \(channels) x \(side) x \(side) float32 pixels in "
            + "\(InputText.path(path)) need \(need) (resized and normalized), but this machine has "
            + String(format: "%.1f GB", available / 1e9) + " available (MemAvailable in /proc/meminfo); use a smaller --image-size")
    }

    /// The images resized to side x side by bilinear interpolation with half-pixel centres (source
    /// coordinate (x + 0.5) * W / side - 0.5, clamped to the image; no antialiasing), as
    /// `torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False)`.
    func resized(to side: Int) -> RawImages {
        guard height != side || width != side else { return self }
        var result = RawImages(pixels: [Float](repeating: 0, count: count * channels * side * side), labels: labels,
                               channels: channels, height: side, width: side, classNames: classNames)
        func taps(_ out: Int, _ input: Int) -> [(Int, Int, Float)] {
            (0..<side).map { o in
                let scale = Float(input) / Float(out)
                let source = max(0, (Float(o) + 0.5) * scale - 0.5)
                let low = min(Int(source), input - 1)
                let high = min(low + 1, input - 1)
                return (low, high, source - Float(low))
            }
        }
        let rows = taps(side, height), columns = taps(side, width)
        for plane in 0..<(count * channels) {
            let source = plane * height * width, target = plane * side * side
            for (y, (y0, y1, fy)) in rows.enumerated() {
                for (x, (x0, x1, fx)) in columns.enumerated() {
                    let top = pixels[source + y0 * width + x0] * (1 - fx) + pixels[source + y0 * width + x1] * fx
                    let bottom = pixels[source + y1 * width + x0] * (1 - fx) + pixels[source + y1 * width + x1] * fx
                    result.pixels[target + y * side + x] = top * (1 - fy) + bottom * fy
                }
            }
        }
        return result
    }

    /// The normalized data set.
    func dataset(name: String, normalization: Normalization) -> ImageDataset {
        var images = pixels
        let plane = height * width
        for n in 0..<count {
            for c in 0..<channels {
                let start = (n * channels + c) * plane
                let (m, s) = (normalization.mean[c], normalization.std[c])
                for i in start..<(start + plane) { images[i] = (images[i] - m) / s }
            }
        }
        var result = ImageDataset(name: name, images: images, labels: labels, channels: channels, height: height,
                                  width: width, classCount: classNames.count, normalization: normalization)
        result.classNames = classNames
        return result
    }
}

/// Loads one split of own data: `--dataset folder` (``ImageFolder``) or `--dataset numpy`
/// (``NumpyArrays``), at `path`.
///
/// Pixels are scaled to [0, 1], resized to `imageSize` x `imageSize` when it is given
/// (``RawImages/resized(to:)``), and normalized per channel with the training split's mean and
/// standard deviation: `reference`'s when given, else measured on the training images (for the
/// test split, the training split is read first to measure them).
///
/// - Returns: (N, C, H, W) images with H = W, labels below the class count, `classNames` set.
/// - Throws: ``OwnDataError`` or `DatasetError`, naming the file or folder and the fix.
public func loadOwnDataset(_ kind: DatasetKind, at path: String, split: DatasetSplit, imageSize: Int? = nil,
                           reference: DatasetReference? = nil) throws -> ImageDataset {
    precondition(kind.isOwnData, "loadOwnDataset loads folder and numpy data")
    guard !path.isEmpty else { throw OwnDataError.invalid(kind.installHint) }
    if let imageSize, imageSize < 4 {
        throw OwnDataError.invalid("--image-size \(imageSize) is too small; the network halves the image twice: use 4 or more, divisible by 4")
    }
    guard FileManager.default.fileExists(atPath: path) else {
        throw DatasetError.missingFolder(path: path, hint: kind.installHint)
    }
    var reference = reference
    if reference == nil && split == .test {
        reference = DatasetReference(try loadOwnDataset(kind, at: path, split: .train, imageSize: imageSize))
    }
    var raw: RawImages
    switch kind {
    case .folder: raw = try ImageFolder.load(root: path, split: split, reference: reference, imageSize: imageSize)
    case .numpy: raw = try NumpyArrays.load(path: path, split: split, reference: reference)
    default: preconditionFailure()
    }
    guard raw.count > 0 else { throw DatasetError.emptyDataset(path: path) }
    if let side = imageSize {
        if raw.height != side || raw.width != side {   // an image folder arrives resized (and checked)
            try RawImages.checkResizedFits(count: raw.count, channels: raw.channels, side: side, path: path)
        }
        raw = raw.resized(to: side)
    } else if raw.height != raw.width {
        throw OwnDataError.invalid("the \(split.rawValue) images in \(path) are \(raw.height)x\(raw.width) (height x width), "
            + "not square; the network takes S x S images: pass --image-size S to resize them")
    }
    if let reference, raw.height != reference.imageSize {
        throw OwnDataError.invalid("the \(split.rawValue) images in \(path) are \(raw.height)x\(raw.width), but the training "
            + "images are \(reference.imageSize)x\(reference.imageSize); use images of one size or pass --image-size S")
    }
    let normalization = try reference?.normalization ?? raw.measureNormalization(path: path)
    return raw.dataset(name: "\(kind.rawValue)/\(split.rawValue)", normalization: normalization)
}
