import Foundation
import InputText

/// `--dataset numpy`: four arrays saved by numpy.save in a folder (train_images.npy,
/// train_labels.npy, test_images.npy, test_labels.npy), or the same four in one .npz (a zip
/// archive of .npy members named train_images.npy, ..., as numpy.savez and
/// numpy.savez_compressed write it; read by ``ZipArchive``).
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

    /// The most classes a numpy data set may have: the training labels' largest value + 1, so a
    /// label read from a file cannot make the class list (and the network's last layer) huge.
    static let maximumClasses = 100_000

    /// The labels as Int values, checked: integer dtype, one dimension, each in 0..<count (or in
    /// 0..<``maximumClasses`` when count is nil: the training labels, which define the classes).
    @discardableResult
    static func checkLabels(_ labels: NPYFile.Array, path: String, count: Int?) throws -> [Int] {
        guard labels.dtype.isInteger, labels.shape.count == 1 else {
            throw OwnDataError.invalid("\(path) holds dtype '\(labels.dtype.rawValue)' with shape \(labels.shape); labels must be "
                + "one integer per image, shape (N): save array.astype(numpy.int64)")
        }
        let values = labels.integers()
        let bound = Int64(count ?? maximumClasses)
        for (index, label) in values.enumerated() where label < 0 || label >= bound {
            throw OwnDataError.invalid("\(path): label \(label) of item \(index) is out of range "
                + (count.map { "0...\($0 - 1) (the training labels' range)" }
                   ?? "(labels are 0, 1, ..., K-1, with at most \(maximumClasses) classes)")
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
        let archive: ZipArchive
        do {
            archive = try ZipArchive(path: path)
        } catch let damage as ZipArchive.Damage {
            throw OwnDataError.invalid("\(path) is not a readable .npz (zip) archive (\(damage.reason)); write it with numpy.savez, "
                + "or give the folder of .npy files")
        }
        let members = archive.members.map(\.name)
        return Reader(where: { "\(path)[\($0).npy]" }, bytes: { name in
            guard let entry = archive.member(named: name + ".npy") else {
                throw OwnDataError.invalid("\(path) holds no array '\(name)' (it holds: "
                    + (members.isEmpty ? "nothing" : members.prefix(10).map(InputText.quote).joined(separator: ", ")
                       + (members.count > 10 ? " and \(members.count - 10) more" : "")) + "); write it with "
                    + "numpy.savez(FILE, train_images=..., train_labels=..., test_images=..., test_labels=...)")
            }
            // The member's size as its zip headers declare it, checked against the memory before
            // extracting; extraction stops once the output passes it (a zip bomb that lies).
            let declared = entry.uncompressedSize
            let available = HostMemory.availableBytes()
            guard Double(declared) <= available else {
                throw OwnDataError.invalid("\(path)[\(name).npy] declares \(declared) bytes once extracted, more than the "
                    + String(format: "%.1f GB", available / 1e9) + " this machine has available (MemAvailable in /proc/meminfo); "
                    + "the archive is damaged, or the array too large for this machine")
            }
            do {
                return try archive.extract(entry)
            } catch is ZipArchive.LongerThanDeclared {
                throw OwnDataError.invalid("\(path)[\(name).npy] extracts to more than the \(declared) bytes its zip headers declare "
                    + "(extraction stopped there); the archive is damaged, write it again with numpy.savez")
            } catch let damage as ZipArchive.Damage {
                throw OwnDataError.invalid("\(path)[\(name).npy] cannot be extracted: \(damage.reason); the archive is damaged, "
                    + "write it again with numpy.savez")
            }
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
