import CJPEG
import CPNG
import Foundation
import InputText

/// One decoded image: H x W x C bytes (C = 1 gray or 3 RGB), row-major, channels interleaved.
struct DecodedImage {
    let width: Int
    let height: Int
    let channels: Int
    let pixels: [UInt8]

    /// The image as one (C, H, W) float image in [0, 1] (byte / 255), C its own channels.
    func planes() -> RawImages {
        var one = RawImages(pixels: [Float](repeating: 0, count: channels * height * width), labels: [0],
                            channels: channels, height: height, width: width, classNames: [])
        let plane = height * width
        for i in 0..<plane {
            for c in 0..<channels { one.pixels[c * plane + i] = Float(pixels[i * channels + c]) / 255 }
        }
        return one
    }
}

/// PNG and JPEG decoding through Debian's libpng (simplified API) and libjpeg-turbo, for the
/// image folders of `--dataset folder`. The format is recognized by the file's first bytes (PNG
/// signature 89 50 4E 47 0D 0A 1A 0A, PNG spec §5.2; JPEG SOI marker FF D8 FF, ITU T.81 B.1.1.2),
/// not by its name.
public enum ImageCodecs {
    /// The file name extensions taken as images (compared case-insensitively).
    static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    /// The most pixels (width x height) of an image decoded: 2^26 (67 MP, 8192 x 8192). Decoding
    /// and converting one image needs about 18 bytes a pixel of each channel (the decoder's bytes,
    /// their copy, the float planes): 3.6 GB at this bound in RGB. Checked on the file's header,
    /// before the pixel buffer is allocated, as is ``pixelsThatFit()``, so that a small file
    /// declaring a huge image (a decompression bomb, or a damaged header) cannot exhaust memory.
    static let maximumPixels = 1 << 26

    /// The pixels of an RGB image whose decoding fits in the memory available now.
    static func pixelsThatFit() -> Int {
        Int(min(HostMemory.availableBytes() / (18 * 3), Double(Int.max / 2)))
    }

    /// Decodes `bytes`, the contents of `path`.
    /// - Throws: ``OwnDataError`` naming `path` when the bytes are neither PNG nor JPEG, the
    ///   header declares more than ``maximumPixels`` pixels or more than ``pixelsThatFit()``, or
    ///   the library reports the file corrupt or truncated (its message is quoted; a progressive
    ///   JPEG of more than 500 scans is one).
    static func decode(_ bytes: [UInt8], path: String) throws -> DecodedImage {
        let isPNG = bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let isJPEG = bytes.starts(with: [0xFF, 0xD8, 0xFF])
        guard isPNG || isJPEG else {
            throw OwnDataError.invalid("\(InputText.path(path)) is neither a PNG nor a JPEG file (its first bytes are not a PNG signature or a "
                + "JPEG SOI marker); replace it with a valid image or move it out of the data folder")
        }
        var pixels: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0, channels: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let fit = pixelsThatFit(), limit = min(maximumPixels, fit)
        let status = bytes.withUnsafeBufferPointer { buffer in
            message.withUnsafeMutableBufferPointer { text in
                isPNG
                    ? cpng_decode(buffer.baseAddress, buffer.count, limit, &pixels, &width, &height, &channels,
                                  text.baseAddress, text.count)
                    : cjpeg_decode(buffer.baseAddress, UInt(buffer.count), limit, &pixels, &width, &height, &channels,
                                   text.baseAddress, text.count)
            }
        }
        defer { free(pixels) }
        if status == -2 {
            let declared = Int(width) * Int(height)
            throw OwnDataError.invalid("\(InputText.path(path)) declares \(width) x \(height) pixels (width x height), "
                + (declared > maximumPixels
                   ? "more than the \(maximumPixels) (8192 x 8192) darts-dist decodes"
                   : "more than the \(fit) whose decoding fits in this machine's available memory (MemAvailable in /proc/meminfo)")
                + "; resize it (every image is resized to --image-size anyway) or move it out of the data folder")
        }
        guard status == 0, let pixels else {
            let reason = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw OwnDataError.invalid("\(InputText.path(path)) is a corrupt or truncated \(isPNG ? "PNG" : "JPEG") file (\(isPNG ? "libpng" : "libjpeg"): "
                + "\(reason)); replace it with a valid image or move it out of the data folder")
        }
        let count = Int(width) * Int(height) * Int(channels)
        return DecodedImage(width: Int(width), height: Int(height), channels: Int(channels),
                            pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }
}

extension ImageCodecs {
    /// Writes `pixels` (H x W x C bytes, C = 1 or 3) as the PNG file `path` (libpng).
    /// - Throws: ``OwnDataError`` with libpng's reason.
    public static func writePNG(_ pixels: [UInt8], width: Int, height: Int, channels: Int, to path: String) throws {
        precondition(pixels.count == width * height * channels && (channels == 1 || channels == 3), "H x W x C bytes, C = 1 or 3")
        var message = [CChar](repeating: 0, count: 256)
        let status = cpng_write_file(path, pixels, Int32(width), Int32(height), Int32(channels), &message, message.count)
        guard status == 0 else {
            throw OwnDataError.invalid("cannot write \(path): " + String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
    }

    /// `pixels` (H x W x C bytes, C = 1 or 3) encoded as a JPEG of `quality` (libjpeg).
    public static func encodeJPEG(_ pixels: [UInt8], width: Int, height: Int, channels: Int, quality: Int = 95) -> [UInt8] {
        precondition(pixels.count == width * height * channels && (channels == 1 || channels == 3), "H x W x C bytes, C = 1 or 3")
        var jpeg: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = cjpeg_encode(pixels, Int32(width), Int32(height), Int32(channels), Int32(quality), &jpeg, &size, &message, message.count)
        defer { free(jpeg) }
        precondition(status == 0 && jpeg != nil, "libjpeg failed on valid pixels")
        return Array(UnsafeBufferPointer(start: jpeg, count: Int(size)))
    }
}
