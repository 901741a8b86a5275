import Foundation
import TestSupport

/// Small data folders in the formats the search reads, good or broken in one known way.
enum BadData {
    static func labels(_ count: Int) -> [UInt8] { (0..<count).map { UInt8($0 % 10) } }

    /// A Fashion-MNIST training folder of `count` images under `parent`: plain IDX files, or the
    /// images gzip-compressed (by the system's gzip) as the Debian package ships them.
    static func folder(in parent: URL, count: Int = 64, images: [UInt8]? = nil, labels: [UInt8]? = nil,
                       gzipImages: Bool = false) throws -> URL {
        let folder = parent.appendingPathComponent("data-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let imageFile = folder.appendingPathComponent("train-images-idx3-ubyte")
        try Data(images ?? SampleFiles.idxImages(count: count)).write(to: imageFile)
        try Data(labels ?? SampleFiles.idxLabels(Self.labels(count))).write(to: folder.appendingPathComponent("train-labels-idx1-ubyte"))
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
