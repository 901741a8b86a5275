/// Decoding of the CIFAR-10 binary version (Krizhevsky 2009, "binary version" section):
/// a file is a sequence of 3,073-byte records, each one label byte (0...9) followed by the
/// 32x32 red plane, the green plane and the blue plane (1,024 bytes each, row-major).
enum CIFAR10File {
    static let planeSize = 32 * 32
    static let recordSize = 1 + 3 * planeSize

    /// The most records a file may hold: the whole data set (50,000 training and 10,000 test images).
    static let maximumRecords = 60_000

    /// No header; a file is read to at most ``maximumRecords`` records.
    /// - Throws: `DatasetError.tooManyRecords` past them.
    static func rule(path: String) -> SizeRule {
        SizeRule(headerBytes: 0, limit: { _ in maximumRecords * recordSize },
                 tooLong: { _, _ in .tooManyRecords(path: path, records: maximumRecords) })
    }

    /// The training files, in order, and the test file.
    static let trainFiles = (1...5).map { "data_batch_\($0).bin" }
    static let testFiles = ["test_batch.bin"]

    /// The records of one file as (N, 3, 32, 32) normalized floats and N labels.
    ///
    /// - Throws: `DatasetError.notWholeRecords` (size not a multiple of 3,073),
    ///   `.emptyDataset`, `.labelOutOfRange` (a label >= `classCount`).
    static func decode(
        _ bytes: [UInt8], path: String, classCount: Int, decoder: PixelDecoder
    ) throws -> (images: [Float], labels: [Int32]) {
        guard bytes.count % recordSize == 0 else {
            throw DatasetError.notWholeRecords(path: path, size: bytes.count, recordSize: recordSize)
        }
        let count = bytes.count / recordSize
        guard count > 0 else { throw DatasetError.emptyDataset(path: path) }
        var labels = [Int32](repeating: 0, count: count)
        for n in 0..<count {
            let label = bytes[n * recordSize]
            guard Int(label) < classCount else {
                throw DatasetError.labelOutOfRange(path: path, index: n, label: Int(label), classCount: classCount)
            }
            labels[n] = Int32(label)
        }
        let images = decoder.decode(bytes, start: 1, stride: recordSize, imageCount: count, planeSize: planeSize)
        return (images, labels)
    }
}
