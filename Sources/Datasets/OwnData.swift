import Foundation
import ZIPFoundation

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

/// torchvision's ImageFolder layout (`torchvision.datasets.ImageFolder`, `find_classes` and
/// `make_dataset`): ROOT/train/CLASS/... and ROOT/test/CLASS/..., one folder per class, the
/// classes sorted by name (Unicode code points, as Python's `sorted`) and numbered from 0.
///
/// Each class folder holds .png, .jpg or .jpeg files (any case), also in subfolders; names
/// starting with "." are skipped. The images are ordered by their path below the class folder,
/// then by class: files named by a running number across the classes keep that order, which
/// decides what `--subset` takes and how a search splits the images into its two halves.
enum ImageFolder {
    /// - Throws: ``OwnDataError``: a missing split folder, no class folders, a class folder
    ///   without images, a file that is not an image, an image that does not decode, a test class
    ///   the training split lacks, images of different sizes (without `imageSize`, to which each
    ///   image is resized), or test images in color when the training images are gray.
    static func load(root: String, split: DatasetSplit, reference: DatasetReference?, imageSize: Int?) throws -> RawImages {
        let rootURL = URL(fileURLWithPath: root)
        let splitURL = rootURL.appendingPathComponent(split.rawValue)
        guard FileBytes.isDirectory(root) else {
            throw OwnDataError.invalid("--data \(root) is a file; --dataset folder takes a folder holding train/CLASS/*.png|*.jpg "
                + "and test/CLASS/... (torchvision's ImageFolder layout)")
        }
        guard FileBytes.isDirectory(splitURL.path) else {
            throw OwnDataError.invalid("\(splitURL.path) does not exist; --data \(root) must hold train/ and test/, "
                + "each with one folder of images per class (torchvision's ImageFolder layout)")
        }
        let classes = try sortedEntries(splitURL).filter { FileBytes.isDirectory(splitURL.appendingPathComponent($0).path) }
        guard !classes.isEmpty else {
            throw OwnDataError.invalid("\(splitURL.path) holds no class folders; put each class's images in "
                + "\(splitURL.path)/CLASS_NAME/")
        }
        let classNames = reference?.classNames ?? classes
        var files: [(relative: String, label: Int, path: String)] = []
        for name in classes {
            guard let label = classNames.firstIndex(of: name) else {
                throw OwnDataError.invalid("\(splitURL.appendingPathComponent(name).path): class '\(name)' is not among the "
                    + "\(classNames.count) training classes (\(classNames.joined(separator: ", "))); the test split may only "
                    + "hold classes the train split has: rename or remove that folder")
            }
            let classURL = splitURL.appendingPathComponent(name)
            let found = try imageFiles(in: classURL, relative: "")
            guard !found.isEmpty else {
                throw OwnDataError.invalid("class folder \(classURL.path) holds no images (.png, .jpg or .jpeg); "
                    + "add images to it or remove it")
            }
            files += found.map { ($0, label, classURL.appendingPathComponent($0).path) }
        }
        files.sort { a, b in
            a.relative != b.relative ? a.relative.unicodeScalars.lexicographicallyPrecedes(b.relative.unicodeScalars)
                                     : a.label < b.label
        }
        var decoded: [DecodedImage] = []
        decoded.reserveCapacity(files.count)
        for file in files {
            let image = try ImageCodecs.decode(try FileBytes.readPlain(file.path), path: file.path)
            if imageSize == nil, let first = decoded.first, image.width != first.width || image.height != first.height {
                throw OwnDataError.invalid("\(file.path) is \(image.height)x\(image.width) (height x width), but \(files[0].path) "
                    + "is \(first.height)x\(first.width); every image of a data set must have one size: pass --image-size S "
                    + "to resize them all to S x S")
            }
            decoded.append(image)
        }
        let channels = reference?.channels ?? (decoded.contains { $0.channels == 3 } ? 3 : 1)
        if channels == 1, let color = decoded.firstIndex(where: { $0.channels == 3 }) {
            throw OwnDataError.invalid("\(files[color].path) is in color, but the training images are grayscale; "
                + "convert the test images to grayscale")
        }
        // Each image to (C, H, W) floats in [0, 1], resized to imageSize x imageSize when given.
        let height = imageSize ?? decoded[0].height, width = imageSize ?? decoded[0].width
        var raw = RawImages(pixels: [], labels: files.map { Int32($0.label) }, channels: channels, height: height,
                            width: width, classNames: classNames)
        raw.pixels.reserveCapacity(files.count * channels * height * width)
        for image in decoded {
            var one = RawImages(pixels: [Float](repeating: 0, count: channels * image.height * image.width), labels: [0],
                                channels: channels, height: image.height, width: image.width, classNames: [])
            let plane = image.height * image.width
            for i in 0..<plane {
                for c in 0..<channels {
                    one.pixels[c * plane + i] = Float(image.pixels[i * image.channels + min(c, image.channels - 1)]) / 255
                }
            }
            if image.height != height || image.width != width { one = one.resized(to: height) }
            raw.pixels += one.pixels
        }
        return raw
    }

    /// The names in `url`, without hidden ones, sorted by Unicode code points.
    static func sortedEntries(_ url: URL) throws -> [String] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: url.path)
        } catch {
            throw OwnDataError.invalid("cannot list \(url.path): \(error.localizedDescription); check its permissions")
        }
        return names.filter { !$0.hasPrefix(".") }.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
    }

    /// The image files below `url`, as paths relative to it, sorted.
    /// - Throws: ``OwnDataError`` naming the first file that is not an image.
    static func imageFiles(in url: URL, relative: String) throws -> [String] {
        var result: [String] = []
        for name in try sortedEntries(url) {
            let path = relative.isEmpty ? name : relative + "/" + name
            let child = url.appendingPathComponent(name)
            if FileBytes.isDirectory(child.path) {
                result += try imageFiles(in: child, relative: path)
            } else if ImageCodecs.extensions.contains(child.pathExtension.lowercased()) {
                result.append(path)
            } else {
                throw OwnDataError.invalid("\(child.path) is not an image (.png, .jpg or .jpeg) but lies among the images; "
                    + "move it out of the data folder")
            }
        }
        return result
    }
}

/// `--dataset numpy`: four arrays saved by numpy.save in a folder (train_images.npy,
/// train_labels.npy, test_images.npy, test_labels.npy), or the same four in one .npz (a zip
/// archive of .npy members named train_images.npy, ..., as numpy.savez and
/// numpy.savez_compressed write it; read with ZIPFoundation).
///
/// Images: uint8 (pixels 0...255, scaled by 1/255) or float32 (pixels already in [0, 1]), shaped
/// N x H x W (grayscale), N x H x W x C or N x C x H x W with C = 1 or 3 (the layout whose C is 1
/// or 3 and whose image is square; refused when both or neither fit). Labels: an integer dtype,
/// shape (N), in 0..<K, where K is one more than the largest training label; the classes are
/// named "0", "1", ..., "K-1".
enum NumpyArrays {
    static let names = ["train_images", "train_labels", "test_images", "test_labels"]

    static func load(path: String, split: DatasetSplit, reference: DatasetReference?) throws -> RawImages {
        let prefix = split == .train ? "train" : "test"
        let read = try reader(path)
        let imagesPath = read.where("\(prefix)_images")
        let images = try NPYFile.decode(try read.bytes("\(prefix)_images"), path: imagesPath)
        let labelsPath = read.where("\(prefix)_labels")
        let labels = try NPYFile.decode(try read.bytes("\(prefix)_labels"), path: labelsPath)
        var classCount = reference?.classNames.count
        if classCount == nil {
            let trainPath = read.where("train_labels")
            let train = split == .train ? labels : try NPYFile.decode(try read.bytes("train_labels"), path: trainPath)
            try checkLabels(train, path: trainPath, count: nil)
            classCount = Int(train.integers().max() ?? 0) + 1
        }
        let classes = classCount!
        let values = try checkLabels(labels, path: labelsPath, count: classes)
        guard images.dtype == .uint8 || images.dtype == .float32 else {
            throw OwnDataError.invalid("\(imagesPath) holds dtype '\(images.dtype.rawValue)'; images must be uint8 (0...255) or "
                + "float32 (0...1): save array.astype(numpy.uint8) or array.astype(numpy.float32)")
        }
        let shape = images.shape
        guard (shape.count == 3 || shape.count == 4), shape[0] == values.count else {
            throw OwnDataError.invalid("\(imagesPath) has shape \(shape), which does not fit the \(values.count) labels of "
                + "\(labelsPath); images must be N x H x W, N x H x W x C or N x C x H x W with N = \(values.count)")
        }
        let n = shape[0]
        var channels = 1, height = shape.count == 3 ? shape[1] : 0, width = shape.count == 3 ? shape[2] : 0
        var channelsLast = false
        if shape.count == 4 {
            let last = [1, 3].contains(shape[3]) && shape[1] == shape[2]
            let first = [1, 3].contains(shape[1]) && shape[2] == shape[3]
            guard last != first else {
                throw OwnDataError.invalid("\(imagesPath) has shape \(shape): neither N x H x W x C nor N x C x H x W with C = 1 "
                    + "or 3 and square images fits it" + (last ? " (both fit)" : "") + "; save square images as N x C x H x W")
            }
            channelsLast = last
            (channels, height, width) = last ? (shape[3], shape[1], shape[2]) : (shape[1], shape[2], shape[3])
        }
        guard height > 0, width > 0 else { throw OwnDataError.invalid("\(imagesPath) has shape \(shape), with empty images") }
        if let reference, reference.channels != channels {
            throw OwnDataError.invalid("\(imagesPath) has \(channels) channel(s), the training images \(reference.channels); "
                + "save the test images with the training images' channels")
        }
        let plane = height * width
        var pixels = [Float](repeating: 0, count: n * channels * plane)
        let scale: Float = images.dtype == .uint8 ? 1 / 255 : 1
        try images.data.withUnsafeBytes { raw in
            for i in 0..<pixels.count {
                // Target (n, c, p) from source index i in the file's layout.
                let target: Int
                if channelsLast {
                    let image = i / (plane * channels), rest = i % (plane * channels)
                    target = (image * channels + rest % channels) * plane + rest / channels
                } else {
                    target = i
                }
                let value = images.float(raw, i) * scale
                guard value.isFinite else {
                    throw OwnDataError.invalid("\(imagesPath) holds a NaN or infinite pixel (item \(i)); clean the array")
                }
                pixels[target] = value
            }
        }
        return RawImages(pixels: pixels, labels: values.map { Int32($0) }, channels: channels, height: height, width: width,
                         classNames: (0..<classes).map(String.init))
    }

    /// The labels as Int values, checked: integer dtype, one dimension, each in 0..<count (or
    /// not negative when count is nil).
    @discardableResult
    static func checkLabels(_ labels: NPYFile.Array, path: String, count: Int?) throws -> [Int] {
        guard labels.dtype.isInteger, labels.shape.count == 1 else {
            throw OwnDataError.invalid("\(path) holds dtype '\(labels.dtype.rawValue)' with shape \(labels.shape); labels must be "
                + "one integer per image, shape (N): save array.astype(numpy.int64)")
        }
        let values = labels.integers()
        for (index, label) in values.enumerated() where label < 0 || (count.map { label >= Int64($0) } ?? false) {
            throw OwnDataError.invalid("\(path): label \(label) of item \(index) is out of range "
                + (count.map { "0...\($0 - 1) (the training labels' range)" } ?? "(labels are 0, 1, ..., K-1)")
                + "; number the classes from 0")
        }
        return values.map { Int($0) }
    }

    /// Reads the arrays from a folder of .npy files or from one .npz.
    struct Reader {
        let `where`: (String) -> String
        let bytes: (String) throws -> [UInt8]
    }

    static func reader(_ path: String) throws -> Reader {
        if FileBytes.isDirectory(path) {
            return Reader(where: { URL(fileURLWithPath: path).appendingPathComponent($0 + ".npy").path }, bytes: { name in
                let file = URL(fileURLWithPath: path).appendingPathComponent(name + ".npy").path
                guard FileBytes.isFile(file) else {
                    throw OwnDataError.invalid("\(file) not found; --dataset numpy --data DIR needs "
                        + names.map { $0 + ".npy" }.joined(separator: ", ") + " in DIR (numpy.save), or --data FILE.npz")
                }
                return try FileBytes.readPlain(file)
            })
        }
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            throw OwnDataError.invalid("\(path) is not a readable .npz (zip) archive (\(error)); write it with numpy.savez, "
                + "or give the folder of .npy files")
        }
        let members = archive.map(\.path)
        return Reader(where: { "\(path)[\($0).npy]" }, bytes: { name in
            guard let entry = archive[name + ".npy"] else {
                throw OwnDataError.invalid("\(path) holds no array '\(name)' (it holds: "
                    + (members.isEmpty ? "nothing" : members.joined(separator: ", ")) + "); write it with "
                    + "numpy.savez(FILE, train_images=..., train_labels=..., test_images=..., test_labels=...)")
            }
            var data = Data()
            do {
                _ = try archive.extract(entry) { data.append($0) }
            } catch {
                throw OwnDataError.invalid("\(path)[\(name).npy] cannot be extracted (\(error)); the archive is damaged, "
                    + "write it again with numpy.savez")
            }
            return [UInt8](data)
        })
    }
}

extension FileBytes {
    /// The file's bytes as they are (no gzip detection).
    /// - Throws: `DatasetError.unreadableFile`.
    static func readPlain(_ path: String) throws -> [UInt8] {
        do {
            return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw DatasetError.unreadableFile(path: path, reason: "\(error.localizedDescription)")
        }
    }
}
