/// Byte to normalized float conversion shared by the IDX and CIFAR-10 decoders.
struct PixelDecoder {
    /// A 256-entry table per channel: `table[c * 256 + b] = (b / 255 - mean[c]) / std[c]`.
    let table: [Float]
    let channels: Int

    init(_ normalization: Normalization) {
        channels = normalization.mean.count
        var table = [Float](repeating: 0, count: channels * 256)
        for c in 0..<channels {
            for b in 0..<256 {
                table[c * 256 + b] = normalization.normalize(UInt8(b), channel: c)
            }
        }
        self.table = table
    }

    /// Converts `imageCount` planar images of `channels` x `planeSize` bytes each, found
    /// `stride` bytes apart in `bytes` starting at `start`, into consecutive (C, H, W) floats.
    ///
    ///     output[(n * C + c) * planeSize + p] = table[c][bytes[start + n * stride + c * planeSize + p]]
    ///
    /// The caller has checked that the last image ends inside `bytes`.
    func decode(_ bytes: [UInt8], start: Int, stride: Int, imageCount: Int, planeSize: Int) -> [Float] {
        let imageSize = channels * planeSize
        precondition(imageCount == 0 || start + (imageCount - 1) * stride + imageSize <= bytes.count,
                     "pixel range outside the file")
        let total = imageCount * imageSize
        return [Float](unsafeUninitializedCapacity: total) { output, initialized in
            bytes.withUnsafeBufferPointer { input in
                table.withUnsafeBufferPointer { table in
                    for n in 0..<imageCount {
                        for c in 0..<channels {
                            let source = input.baseAddress! + start + n * stride + c * planeSize
                            let destination = output.baseAddress! + (n * channels + c) * planeSize
                            let channelTable = table.baseAddress! + c * 256
                            for p in 0..<planeSize {
                                (destination + p).initialize(to: channelTable[Int(source[p])])
                            }
                        }
                    }
                }
            }
            initialized = total
        }
    }
}
