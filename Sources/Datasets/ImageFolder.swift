import Foundation
import InputText

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
                let shown = classNames.prefix(10).map { InputText.escaped($0) }.joined(separator: ", ") + (classNames.count > 10 ? ", ..." : "")
                throw OwnDataError.invalid("\(InputText.path(splitURL.appendingPathComponent(name).path)): class \(InputText.quote(name)) is not among the "
                    + "\(classNames.count) training classes (\(shown)); the test split may only "
                    + "hold classes the train split has: rename or remove that folder")
            }
            let classURL = splitURL.appendingPathComponent(name)
            let found = try imageFiles(in: classURL, relative: "", depth: 0)
            guard !found.isEmpty else {
                throw OwnDataError.invalid("class folder \(InputText.path(classURL.path)) holds no images (.png, .jpg or .jpeg); "
                    + "add images to it or remove it")
            }
            files += found.map { ($0, label, classURL.appendingPathComponent($0).path) }
        }
        files.sort { a, b in
            a.relative != b.relative ? a.relative.unicodeScalars.lexicographicallyPrecedes(b.relative.unicodeScalars)
                                     : a.label < b.label
        }
        if let imageSize {   // at least one channel a pixel; checked again below with the channels found
            try RawImages.checkResizedFits(count: files.count, channels: reference?.channels ?? 1, side: imageSize, path: splitURL.path)
        }
        // Each image to (C, H, W) floats in [0, 1] with its own C (1 or 3) as soon as it is
        // decoded, resized to imageSize x imageSize when given, so that only one image is held at
        // its file's size. The bilinear resize works plane by plane, so a gray image resized and
        // then given three equal planes is the same as one given three planes and then resized.
        var converted: [(channels: Int, pixels: [Float])] = []
        converted.reserveCapacity(files.count)
        var first: (height: Int, width: Int)?
        for file in files {
            let image = try ImageCodecs.decode(try FileBytes.readPlain(file.path), path: file.path)
            if imageSize == nil, let first, image.width != first.width || image.height != first.height {
                throw OwnDataError.invalid("\(InputText.path(file.path)) is \(image.height)x\(image.width) (height x width), but \(InputText.path(files[0].path)) "
                    + "is \(first.height)x\(first.width); every image of a data set must have one size: pass --image-size S "
                    + "to resize them all to S x S")
            }
            first = first ?? (image.height, image.width)
            var one = image.planes()
            if let imageSize { one = one.resized(to: imageSize) }
            converted.append((image.channels, one.pixels))
        }
        let channels = reference?.channels ?? (converted.contains { $0.channels == 3 } ? 3 : 1)
        if channels == 1, let color = converted.firstIndex(where: { $0.channels == 3 }) {
            throw OwnDataError.invalid("\(InputText.path(files[color].path)) is in color, but the training images are grayscale; "
                + "convert the test images to grayscale")
        }
        let height = imageSize ?? first!.height, width = imageSize ?? first!.width
        if let imageSize {
            try RawImages.checkResizedFits(count: files.count, channels: channels, side: imageSize, path: splitURL.path)
        }
        var raw = RawImages(pixels: [], labels: files.map { Int32($0.label) }, channels: channels, height: height,
                            width: width, classNames: classNames)
        raw.pixels.reserveCapacity(files.count * channels * height * width)
        for k in converted.indices {
            // A gray image among color ones: its plane three times.
            for _ in 0..<(channels / converted[k].channels) { raw.pixels += converted[k].pixels }
            converted[k].pixels = []
        }
        return raw
    }

    /// The names in `url`, without hidden ones, sorted by Unicode code points.
    static func sortedEntries(_ url: URL) throws -> [String] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: url.path)
        } catch {
            throw OwnDataError.invalid("cannot list \(InputText.path(url.path)): \(error.localizedDescription); check its permissions")
        }
        return names.filter { !$0.hasPrefix(".") }.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
    }

    /// Folders a class folder may nest below it.
    static let maximumDepth = 16

    /// The image files below `url` (`depth` folders below its class folder), as paths relative
    /// to it, sorted.
    /// - Throws: ``OwnDataError`` naming the first file that is not an image, or a folder nested
    ///   more than ``maximumDepth`` deep (a symbolic link to a folder above it loops).
    static func imageFiles(in url: URL, relative: String, depth: Int) throws -> [String] {
        guard depth <= maximumDepth else {
            throw OwnDataError.invalid("\(InputText.path(url.path)) lies more than \(maximumDepth) folders below its class "
                + "folder (a symbolic link to a folder above it?); keep the images at most \(maximumDepth) folders deep")
        }
        var result: [String] = []
        for name in try sortedEntries(url) {
            let path = relative.isEmpty ? name : relative + "/" + name
            let child = url.appendingPathComponent(name)
            if FileBytes.isDirectory(child.path) {
                result += try imageFiles(in: child, relative: path, depth: depth + 1)
            } else if ImageCodecs.extensions.contains(child.pathExtension.lowercased()) {
                result.append(path)
            } else {
                throw OwnDataError.invalid("\(InputText.path(child.path)) is not an image (.png, .jpg or .jpeg) but lies among the images; "
                    + "move it out of the data folder")
            }
        }
        return result
    }
}
