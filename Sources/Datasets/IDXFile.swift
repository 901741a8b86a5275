/// Decoding of the IDX format of MNIST and Fashion-MNIST (LeCun et al., "THE MNIST DATABASE",
/// file formats section): a big-endian header, then unsigned bytes.
///
///     images: magic 0x00000803, count, rows, cols (UInt32 each), then count * rows * cols pixels
///     labels: magic 0x00000801, count (UInt32), then count labels
enum IDXFile {
    static let imagesMagic: UInt32 = 0x0000_0803
    static let labelsMagic: UInt32 = 0x0000_0801

    /// The images of an IDX3 file as (N, 1, rows, cols) floats, normalized channel 0 of
    /// `normalization`: `(byte / 255 - mean) / std`.
    ///
    /// - Throws: `DatasetError.wrongMagic`, `.wrongDimensions` (rows and cols differ from
    ///   `height` x `width`), `.wrongSize` (bytes after the header differ from count * rows * cols),
    ///   `.emptyDataset`.
    static func decodeImages(
        _ bytes: [UInt8], path: String, height: Int, width: Int, normalization: Normalization
    ) throws -> (images: [Float], count: Int) {
        let headerSize = 16
        guard bytes.count >= 4 else {
            throw DatasetError.wrongSize(path: path, expectedBytes: headerSize, actualBytes: bytes.count)
        }
        let magic = bytes.bigEndianUInt32(at: 0)
        guard magic == imagesMagic else {
            throw DatasetError.wrongMagic(path: path, expected: imagesMagic, found: magic)
        }
        guard bytes.count >= headerSize else {
            throw DatasetError.wrongSize(path: path, expectedBytes: headerSize, actualBytes: bytes.count)
        }
        let count = Int(bytes.bigEndianUInt32(at: 4))
        let rows = Int(bytes.bigEndianUInt32(at: 8))
        let cols = Int(bytes.bigEndianUInt32(at: 12))
        guard rows == height, cols == width else {
            throw DatasetError.wrongDimensions(path: path, expected: (height, width), found: (rows, cols))
        }
        let expectedBytes = headerSize + count * rows * cols
        guard bytes.count == expectedBytes else {
            throw DatasetError.wrongSize(path: path, expectedBytes: expectedBytes, actualBytes: bytes.count)
        }
        guard count > 0 else { throw DatasetError.emptyDataset(path: path) }
        let images = PixelDecoder(normalization).decode(
            bytes, start: headerSize, stride: rows * cols, imageCount: count, planeSize: rows * cols)
        return (images, count)
    }

    /// The labels of an IDX1 file.
    ///
    /// - Throws: `DatasetError.wrongMagic`, `.wrongSize`, `.labelOutOfRange` (a label >= `classCount`).
    static func decodeLabels(_ bytes: [UInt8], path: String, classCount: Int) throws -> [Int32] {
        let headerSize = 8
        guard bytes.count >= 4 else {
            throw DatasetError.wrongSize(path: path, expectedBytes: headerSize, actualBytes: bytes.count)
        }
        let magic = bytes.bigEndianUInt32(at: 0)
        guard magic == labelsMagic else {
            throw DatasetError.wrongMagic(path: path, expected: labelsMagic, found: magic)
        }
        guard bytes.count >= headerSize else {
            throw DatasetError.wrongSize(path: path, expectedBytes: headerSize, actualBytes: bytes.count)
        }
        let count = Int(bytes.bigEndianUInt32(at: 4))
        guard bytes.count == headerSize + count else {
            throw DatasetError.wrongSize(path: path, expectedBytes: headerSize + count, actualBytes: bytes.count)
        }
        var labels = [Int32](repeating: 0, count: count)
        for i in 0..<count {
            let label = bytes[headerSize + i]
            guard Int(label) < classCount else {
                throw DatasetError.labelOutOfRange(path: path, index: i, label: Int(label), classCount: classCount)
            }
            labels[i] = Int32(label)
        }
        return labels
    }
}
