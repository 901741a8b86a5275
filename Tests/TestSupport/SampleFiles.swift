/// Builders of small IDX (MNIST, Fashion-MNIST) and CIFAR-10 binary files with known contents
/// (docs/algorithm.md §7 has both formats).
public enum SampleFiles {
    /// `value` as 4 big-endian bytes.
    public static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
    }

    /// The byte of pixel (n, c, y, x) in every sample file: distinct nearby values, all of 0...255 used.
    public static func pixel(_ n: Int, _ c: Int, _ y: Int, _ x: Int) -> UInt8 {
        UInt8((n * 37 + c * 101 + y * 11 + x * 3) % 256)
    }

    /// An IDX3 image file of `count` images; `magic`, `rows`, `cols` and `headerCount` may lie.
    public static func idxImages(count: Int, rows: Int = 28, cols: Int = 28,
                                 magic: UInt32 = 0x0000_0803, headerCount: Int? = nil) -> [UInt8] {
        var bytes = bigEndian(magic) + bigEndian(UInt32(headerCount ?? count))
            + bigEndian(UInt32(rows)) + bigEndian(UInt32(cols))
        for n in 0..<count {
            for y in 0..<rows {
                for x in 0..<cols { bytes.append(pixel(n, 0, y, x)) }
            }
        }
        return bytes
    }

    /// An IDX1 label file; `magic` may lie.
    public static func idxLabels(_ labels: [UInt8], magic: UInt32 = 0x0000_0801) -> [UInt8] {
        bigEndian(magic) + bigEndian(UInt32(labels.count)) + labels
    }

    /// CIFAR-10 binary records: label byte, then the red, green and blue 32x32 planes.
    /// Image n of the file is numbered `first + n` in `pixel`.
    public static func cifarRecords(_ labels: [UInt8], first: Int = 0) -> [UInt8] {
        var bytes: [UInt8] = []
        for (n, label) in labels.enumerated() {
            bytes.append(label)
            for c in 0..<3 {
                for y in 0..<32 {
                    for x in 0..<32 { bytes.append(pixel(first + n, c, y, x)) }
                }
            }
        }
        return bytes
    }
}
