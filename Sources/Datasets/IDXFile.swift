/// Decoding of the IDX format of MNIST and Fashion-MNIST (LeCun et al., "THE MNIST DATABASE",
/// file formats section): a big-endian header, then unsigned bytes.
///
///     images: magic 0x00000803, count, rows, cols (UInt32 each), then count * rows * cols pixels
///     labels: magic 0x00000801, count (UInt32), then count labels
enum IDXFile {
    static let imagesMagic: UInt32 = 0x0000_0803
    static let labelsMagic: UInt32 = 0x0000_0801

    /// The length of an IDX3 image file of `height` x `width` images, from its 16-byte header:
    /// the magic number and dimensions are checked before anything else is read.
    /// - Throws: `DatasetError.wrongMagic`, `.wrongDimensions`; a file longer than the header says
    ///   fails with `.wrongSize` (plain) or `.longerThanHeader` (gzip, decompression stopped).
    static func imagesRule(path: String, height: Int, width: Int) -> SizeRule {
        SizeRule(headerBytes: 16, limit: { header in
            let magic = header.bigEndianUInt32(at: 0)
            guard magic == imagesMagic else { throw DatasetError.wrongMagic(path: path, expected: imagesMagic, found: magic) }
            let rows = Int(header.bigEndianUInt32(at: 8)), cols = Int(header.bigEndianUInt32(at: 12))
            guard rows == height, cols == width else {
                throw DatasetError.wrongDimensions(path: path, expected: (height, width), found: (rows, cols))
            }
            return try imagesLength(count: Int(header.bigEndianUInt32(at: 4)), rows: rows, cols: cols, path: path)
        }, tooLong: { limit, actual in
            actual.map { .wrongSize(path: path, expectedBytes: limit, actualBytes: $0) }
                ?? .longerThanHeader(path: path, expectedBytes: limit)
        })
    }

    /// The length of an IDX1 label file from its 8-byte header; with `imageCount`, a label
    /// count other than the images' is refused before the labels are read.
    /// - Throws: `DatasetError.wrongMagic`, `.countMismatch`; as ``imagesRule(path:height:width:)`` when too long.
    static func labelsRule(path: String, imageCount: Int?, imagesPath: String) -> SizeRule {
        SizeRule(headerBytes: 8, limit: { header in
            let magic = header.bigEndianUInt32(at: 0)
            guard magic == labelsMagic else { throw DatasetError.wrongMagic(path: path, expected: labelsMagic, found: magic) }
            let count = Int(header.bigEndianUInt32(at: 4))
            if let imageCount, count != imageCount {
                throw DatasetError.countMismatch(imagesPath: imagesPath, images: imageCount, labelsPath: path, labels: count)
            }
            return 8 + count
        }, tooLong: { limit, actual in
            actual.map { .wrongSize(path: path, expectedBytes: limit, actualBytes: $0) }
                ?? .longerThanHeader(path: path, expectedBytes: limit)
        })
    }

    /// 16 + count x rows x cols, the bytes of an image file, checked for overflow.
    static func imagesLength(count: Int, rows: Int, cols: Int, path: String) throws -> Int {
        let (plane, o1) = rows.multipliedReportingOverflow(by: cols)
        let (pixels, o2) = plane.multipliedReportingOverflow(by: count)
        let (total, o3) = pixels.addingReportingOverflow(16)
        guard !o1, !o2, !o3 else { throw DatasetError.wrongSize(path: path, expectedBytes: Int.max, actualBytes: 0) }
        return total
    }

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
        let expectedBytes = try imagesLength(count: count, rows: rows, cols: cols, path: path)
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

    /// The first 10 labels and the label count of the official MNIST and Fashion-MNIST files,
    /// which have the same names and format.
    static let signatures: [(kind: DatasetKind, split: DatasetSplit, count: Int, first: [Int32])] = [
        (.fashionMNIST, .train, 60_000, [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]),
        (.fashionMNIST, .test, 10_000, [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]),
        (.mnist, .train, 60_000, [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]),
        (.mnist, .test, 10_000, [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]),
    ]

    /// The data set whose official `split` these labels are (count and first labels), with
    /// the evidence in words; nil when they are neither MNIST's nor Fashion-MNIST's.
    static func recognizedDataset(labels: [Int32], split: DatasetSplit) -> (kind: DatasetKind, evidence: String)? {
        guard let match = signatures.first(where: {
            $0.split == split && $0.count == labels.count && Array(labels.prefix($0.first.count)) == $0.first
        }) else { return nil }
        let first = match.first.map(String.init).joined(separator: ", ")
        return (match.kind, "its \(labels.count) \(split == .train ? "training" : "test") labels begin \(first), "
            + "as the official \(match.kind.displayName) files do")
    }
}
