/// A data set that cannot be loaded, or a sampler or split that cannot be built from the
/// numbers given. Each message names the file or value at fault and says how to fix it.
public enum DatasetError: Error, CustomStringConvertible, Equatable {
    /// The data folder does not exist; `hint` says how to install the data.
    case missingFolder(path: String, hint: String)
    /// The data folder given is a file.
    case fileNotFolder(path: String, kind: DatasetKind)
    /// A file the format needs is not in the folder (`path` lists the names tried).
    case missingFile(path: String, hint: String)
    /// The file exists but could not be read.
    case unreadableFile(path: String, reason: String)
    /// A data file path naming a folder, a FIFO, a device or a socket (`kind` says which).
    case notRegularFile(path: String, kind: String)
    /// A data file or folder path that is a symbolic link which cannot be followed (a loop, or a
    /// target that does not exist); `reason` is the system's.
    case brokenLink(path: String, reason: String)
    /// A file that holds (after decompression) more bytes than its header says, stopped at `expectedBytes`.
    case longerThanHeader(path: String, expectedBytes: Int)
    /// A compressed file whose header promises more bytes than the machine has memory for, refused
    /// before it is decompressed (a gzip bomb, or a damaged count).
    case tooLargeForMemory(path: String, expectedBytes: Int, availableBytes: Double)
    /// A CIFAR-10 file of more than `records` records (the whole data set has 60,000).
    case tooManyRecords(path: String, records: Int)
    /// A folder whose files are recognizably those of another data set than the one asked for.
    case otherDataset(folder: String, asked: DatasetKind, found: DatasetKind, evidence: String)
    /// The file starts with the gzip magic (1f 8b) but does not decompress to its end.
    case corruptGzip(path: String, reason: String)
    /// An IDX file whose magic number is not the one of its kind (0x00000803 images, 0x00000801 labels).
    case wrongMagic(path: String, expected: UInt32, found: UInt32)
    /// Images whose height and width are not those of the data set.
    case wrongDimensions(path: String, expected: (height: Int, width: Int), found: (height: Int, width: Int))
    /// A file whose length (after decompression) differs from what its header or format says.
    case wrongSize(path: String, expectedBytes: Int, actualBytes: Int)
    /// An image file and a label file that hold different numbers of items.
    case countMismatch(imagesPath: String, images: Int, labelsPath: String, labels: Int)
    /// A label that is not below the class count.
    case labelOutOfRange(path: String, index: Int, label: Int, classCount: Int)
    /// A CIFAR-10 binary file whose size is not a multiple of the 3,073-byte record.
    case notWholeRecords(path: String, size: Int, recordSize: Int)
    /// A data set with no images.
    case emptyDataset(path: String)
    /// Sampler or split parameters that cannot work, with the sentence to show.
    case invalidParameters(String)

    public var description: String {
        switch self {
        case let .missingFolder(path, hint):
            return "data folder \(path) does not exist; \(hint)"
        case let .fileNotFolder(path, kind):
            let files = kind == .cifar10 ? "data_batch_1.bin ... data_batch_5.bin and test_batch.bin"
                : "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz"
            return "data folder \(path) is a file, not a folder; --data takes the folder that holds the \(kind.rawValue) "
                + "files (\(files))"
        case let .missingFile(path, hint):
            return "data file \(path) not found; \(hint)"
        case let .unreadableFile(path, reason):
            return "cannot read data file \(path): \(reason); check its permissions"
        case let .notRegularFile(path, kind):
            return "data file \(path) is \(kind), not a regular file; --data takes a folder that holds the data files "
                + "themselves: move it away and put the file there (or a symbolic link to it)"
        case let .brokenLink(path, reason):
            return "\(path) is a symbolic link that cannot be followed (\(reason)); point it at the data, or replace it "
                + "with the data itself"
        case let .longerThanHeader(path, expectedBytes):
            return "\(path) holds more than the \(expectedBytes) bytes its header says (reading stopped there); "
                + "the file is damaged, download or reinstall it"
        case let .tooLargeForMemory(path, expectedBytes, availableBytes):
            return "\(path) is compressed and its header says it holds \(expectedBytes) bytes, which need about "
                + String(format: "%.1f GB", 5 * Double(expectedBytes) / 1e9) + " once decoded to float32, but this machine has "
                + String(format: "%.1f GB", availableBytes / 1e9) + " available (MemAvailable in /proc/meminfo); "
                + "the file is damaged or not a data set: download or reinstall it"
        case let .tooManyRecords(path, records):
            return "\(path) holds more than \(records) records of 3073 bytes, more than the whole CIFAR-10 data set "
                + "(reading stopped there); give the files data_batch_1.bin ... data_batch_5.bin and test_batch.bin "
                + "of the binary version"
        case let .otherDataset(folder, asked, found, evidence):
            return "--dataset \(asked.rawValue) was asked for, but \(folder) holds \(found.displayName) (\(evidence)); "
                + "pass --dataset \(found.rawValue) for these files, or --data with a folder of \(asked.displayName) files"
        case let .corruptGzip(path, reason):
            return "gzip file \(path) is truncated or corrupt (\(reason)); download or reinstall it"
        case let .wrongMagic(path, expected, found):
            return "\(path) is not an IDX file of the expected kind: magic number is \(hex(found)), "
                + "expected \(hex(expected)); check that the image and label files are not swapped or damaged"
        case let .wrongDimensions(path, expected, found):
            return "\(path) holds \(found.height)x\(found.width) images, expected "
                + "\(expected.height)x\(expected.width); check that the folder holds the right data set"
        case let .wrongSize(path, expectedBytes, actualBytes):
            let relation = actualBytes < expectedBytes ? "shorter than" : "longer than"
            return "\(path) is \(actualBytes) bytes, \(relation) the \(expectedBytes) bytes its header says; "
                + "the file is truncated or damaged, download or reinstall it"
        case let .countMismatch(imagesPath, images, labelsPath, labels):
            return "\(imagesPath) holds \(images) images but \(labelsPath) holds \(labels) labels; "
                + "the two files must come from the same split and release"
        case let .labelOutOfRange(path, index, label, classCount):
            return "\(path): label \(label) of item \(index) is not below the class count \(classCount); "
                + "the file is damaged or of another data set"
        case let .notWholeRecords(path, size, recordSize):
            return "\(path) is \(size) bytes, not a multiple of the \(recordSize)-byte CIFAR-10 record "
                + "(1 label byte + 3072 pixel bytes); use the binary version (cifar-10-binary.tar.gz), "
                + "not the Python or MATLAB one, and check the file is complete"
        case let .emptyDataset(path):
            return "\(path) holds no images; download or reinstall the data set"
        case let .invalidParameters(message):
            return message
        }
    }

    public static func == (a: DatasetError, b: DatasetError) -> Bool {
        a.description == b.description
    }
}

private func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
