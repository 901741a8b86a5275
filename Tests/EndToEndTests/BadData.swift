import Foundation

/// Small data folders in the formats the search reads, good or broken in one known way.
enum BadData {
    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
    }

    /// An IDX3 image file; `magic`, `rows` and `cols` may lie.
    static func idxImages(count: Int, rows: Int = 28, cols: Int = 28, magic: UInt32 = 0x0803) -> [UInt8] {
        var bytes = bigEndian(magic) + bigEndian(UInt32(count)) + bigEndian(UInt32(rows)) + bigEndian(UInt32(cols))
        for n in 0..<count {
            for p in 0..<(rows * cols) { bytes.append(UInt8((n * 37 + p * 3) % 256)) }
        }
        return bytes
    }

    /// An IDX1 label file.
    static func idxLabels(_ labels: [UInt8], magic: UInt32 = 0x0801) -> [UInt8] {
        bigEndian(magic) + bigEndian(UInt32(labels.count)) + labels
    }

    static func labels(_ count: Int) -> [UInt8] { (0..<count).map { UInt8($0 % 10) } }

    /// A Fashion-MNIST training folder of `count` images under `parent`: plain IDX files, or the
    /// images gzip-compressed (by the system's gzip) as the Debian package ships them.
    static func folder(in parent: URL, count: Int = 64, images: [UInt8]? = nil, labels: [UInt8]? = nil,
                       gzipImages: Bool = false) throws -> URL {
        let folder = parent.appendingPathComponent("data-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let imageFile = folder.appendingPathComponent("train-images-idx3-ubyte")
        try Data(images ?? idxImages(count: count)).write(to: imageFile)
        try Data(labels ?? idxLabels(Self.labels(count))).write(to: folder.appendingPathComponent("train-labels-idx1-ubyte"))
        if gzipImages {
            let gzip = Process()
            gzip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            gzip.arguments = ["gzip", "-f", imageFile.path]
            try gzip.run()
            gzip.waitUntilExit()
        }
        return folder
    }
}
