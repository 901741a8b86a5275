/// Which half of a data set's official split to load.
public enum DatasetSplit: String, Sendable, CaseIterable {
    /// The training files (60,000 images for MNIST and Fashion-MNIST, 50,000 for CIFAR-10).
    case train
    /// The test files (10,000 images for each data set).
    case test
}

/// Loads one split of a data set from `folder` into memory, normalized with
/// `kind.normalization` (pixels scaled to [0, 1], then `(x - mean) / std` per channel).
///
/// - MNIST and Fashion-MNIST read the IDX files `train-images-idx3-ubyte`,
///   `train-labels-idx1-ubyte` (train) or `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`
///   (test), each either plain or gzip-compressed with a `.gz` suffix (gzip is recognized by its
///   magic bytes 1f 8b, not by the name).
/// - CIFAR-10 reads `data_batch_1.bin` ... `data_batch_5.bin` (train) or `test_batch.bin` (test).
///
/// - Returns: (N, C, H, W) images with C, H, W those of `kind`, and N labels in 0..<10.
/// - Throws: `DatasetError` naming the file and the fix: a missing folder or file, a truncated
///   or corrupt gzip stream, a wrong IDX magic number, wrong image dimensions, a file whose size
///   disagrees with its header or is not a whole number of CIFAR-10 records, image and label
///   counts that differ, a label out of range, or an empty data set.
///
/// Own data (`kind.isOwnData`: folder, numpy) is loaded by `loadOwnDataset`, which takes
/// `imageSize` and `reference` (see there); the built-in data sets refuse `imageSize`.
public func loadDataset(_ kind: DatasetKind, folder: String, split: DatasetSplit, imageSize: Int? = nil,
                        reference: DatasetReference? = nil) throws -> ImageDataset {
    if kind.isOwnData {
        return try loadOwnDataset(kind, at: folder, split: split, imageSize: imageSize, reference: reference)
    }
    if let imageSize {
        throw DatasetError.invalidParameters("--image-size \(imageSize) applies to --dataset folder and numpy only; "
            + "\(kind.rawValue) images are \(kind.height)x\(kind.width): drop --image-size")
    }
    switch FileStatus.of(folder) {
    case .directory: break
    case .missing: throw DatasetError.missingFolder(path: folder, hint: kind.installHint)
    case .brokenLink(let reason): throw DatasetError.brokenLink(path: folder, reason: reason)
    case .inaccessible(let reason): throw DatasetError.unreadableFile(path: folder, reason: reason)
    case .regular, .special: throw DatasetError.fileNotFolder(path: folder, kind: kind)
    }
    let name = "\(kind.rawValue)/\(split.rawValue)"
    switch kind {
    case .mnist, .fashionMNIST:
        let prefix = split == .train ? "train" : "t10k"
        let imagesPath = try findFile(folder: folder, name: "\(prefix)-images-idx3-ubyte", kind: kind)
        let labelsPath = try findFile(folder: folder, name: "\(prefix)-labels-idx1-ubyte", kind: kind)
        let decoded = try IDXFile.decodeImages(
            FileBytes.read(imagesPath, rule: IDXFile.imagesRule(path: imagesPath, height: kind.height, width: kind.width)),
            path: imagesPath, height: kind.height, width: kind.width, normalization: kind.normalization)
        let labelBytes = try FileBytes.read(
            labelsPath, rule: IDXFile.labelsRule(path: labelsPath, imageCount: decoded.count, imagesPath: imagesPath))
        let labels = try IDXFile.decodeLabels(labelBytes, path: labelsPath, classCount: kind.classCount)
        guard decoded.count == labels.count else {
            throw DatasetError.countMismatch(imagesPath: imagesPath, images: decoded.count,
                                             labelsPath: labelsPath, labels: labels.count)
        }
        if let other = IDXFile.recognizedDataset(labels: labels, split: split), other.kind != kind {
            throw DatasetError.otherDataset(folder: folder, asked: kind, found: other.kind, evidence: other.evidence)
        }
        return ImageDataset(
            name: name, images: decoded.images, labels: labels,
            channels: kind.channels, height: kind.height, width: kind.width,
            classCount: kind.classCount, normalization: kind.normalization)
    case .cifar10:
        let names = split == .train ? CIFAR10File.trainFiles : CIFAR10File.testFiles
        let paths = try names.map { name -> String in
            let path = join(folder, name)
            if FileStatus.of(path) == .missing { throw DatasetError.missingFile(path: path, hint: kind.installHint) }
            return path
        }
        let decoder = PixelDecoder(kind.normalization)
        var images: [Float] = []
        var labels: [Int32] = []
        for path in paths {
            let part = try CIFAR10File.decode(
                FileBytes.read(path, rule: CIFAR10File.rule(path: path)), path: path, classCount: kind.classCount, decoder: decoder)
            if images.isEmpty {
                images = part.images
                labels = part.labels
            } else {
                images.append(contentsOf: part.images)
                labels.append(contentsOf: part.labels)
            }
        }
        return ImageDataset(
            name: name, images: images, labels: labels,
            channels: kind.channels, height: kind.height, width: kind.width,
            classCount: kind.classCount, normalization: kind.normalization)
    case .folder, .numpy:
        preconditionFailure("own data is loaded by loadOwnDataset")
    }
}

/// The path of `name` or `name.gz` in `folder`: the first that is a regular file (plain first),
/// else the first that exists (its reading then says what it is), else neither.
private func findFile(folder: String, name: String, kind: DatasetKind) throws -> String {
    let plain = join(folder, name)
    let gzipped = plain + ".gz"
    let candidates = [plain, gzipped].map { ($0, FileStatus.of($0)) }
    for (path, status) in candidates {
        if case .regular = status { return path }
    }
    if let (path, _) = candidates.first(where: { $0.1 != .missing }) { return path }
    throw DatasetError.missingFile(path: "\(gzipped) (or \(name))", hint: kind.installHint)
}

private func join(_ folder: String, _ name: String) -> String {
    folder.hasSuffix("/") ? folder + name : folder + "/" + name
}
