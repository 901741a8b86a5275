import Datasets
import Foundation
import Testing
import TestSupport
@testable import Training

/// Every rank reads the data itself, and under MPMD (or with node-local copies) each may read
/// another folder: the ranks compare a checksum of what they loaded before training, and a job
/// whose ranks hold different data stops naming them.
@Suite struct DataAgreementTests {
    /// Two valid Fashion-MNIST folders of 64 images; the second with one pixel of image 17 changed.
    static func folders(in tmp: URL) throws -> (same: URL, copy: URL, changed: URL) {
        let images = SampleFiles.idxImages(count: 64)
        var changed = images
        changed[16 + 17 * 784 + 400] &+= 1
        return (try BadData.folder(in: tmp, images: images), try BadData.folder(in: tmp, images: images),
                try BadData.folder(in: tmp, images: changed))
    }

    @Test func theChecksumSeesOnePixelOneLabelAndTheShape() throws {
        let tmp = try TemporaryFolder(prefix: "darts-dist-data")
        defer { tmp.remove() }
        let (same, copy, changed) = try Self.folders(in: tmp.url)
        let a = try loadDataset(.fashionMNIST, folder: same.path, split: .train)
        let b = try loadDataset(.fashionMNIST, folder: copy.path, split: .train)
        let c = try loadDataset(.fashionMNIST, folder: changed.path, split: .train)
        #expect(dataChecksum(a) == dataChecksum(b))
        #expect(dataChecksum(a) != dataChecksum(c))
        var relabelled = a
        relabelled.labels[5] = (relabelled.labels[5] + 1) % 10
        #expect(dataChecksum(a) != dataChecksum(relabelled))
        #expect(dataChecksum(a) != dataChecksum(a.prefix(63)))
    }

    /// `mpirun -np 1 darts-dist search --data A : -np 1 darts-dist search --data B`, A and B valid
    /// and one pixel apart: refused before the run folder exists, naming rank 1 and both folders.
    @Test func ranksThatLoadedDifferentImagesAreRefusedByName() throws {
        let tmp = try TemporaryFolder(prefix: "darts-dist-data")
        defer { tmp.remove() }
        let (same, copy, changed) = try Self.folders(in: tmp.url)
        let out = tmp.url.appendingPathComponent("run")
        let search = ["search", "--layers", "3", "--channels", "4", "--batch-size", "16", "--epochs", "1", "--print-every", "1",
                      "--out", out.path]
        let job = try BackgroundJob(contexts: [(1, search + ["--data", same.path]), (1, search + ["--data", changed.path])])
        #expect(job.waitForExit() == 1, "\(job.all)")
        #expect(job.stderr.contains("error: rank(s) 1 loaded other data than rank 0: rank 0 read 64 training images 1x28x28 "),
                "\(job.all)")
        #expect(job.stderr.contains("from \(same.path); rank 1 read 64 training images 1x28x28 (checksum "), "\(job.all)")
        #expect(job.stderr.contains("from \(changed.path). Every rank must train on the same images"), "\(job.all)")
        #expect(!FileManager.default.fileExists(atPath: out.path), "the run folder was created")

        // Two copies of the same files are the same data: the search runs.
        let fine = try BackgroundJob(contexts: [(1, search + ["--data", same.path]), (1, search + ["--data", copy.path])])
        #expect(fine.waitForExit() == 0, "\(fine.all)")
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("result.json").path))
    }

    @Test func aRetrainWhoseRanksLoadedDifferentImagesIsRefused() throws {
        let tmp = try TemporaryFolder(prefix: "darts-dist-data")
        defer { tmp.remove() }
        let (same, _, changed) = try Self.folders(in: tmp.url)
        for folder in [same, changed] {
            // A retrain reads the test split too: the training files serve as both here.
            for kind in ["images-idx3-ubyte", "labels-idx1-ubyte"] {
                try FileManager.default.copyItem(at: folder.appendingPathComponent("train-\(kind)"),
                                                 to: folder.appendingPathComponent("t10k-\(kind)"))
            }
        }
        let out = tmp.url.appendingPathComponent("run")
        let retrain = ["retrain", "--genotype", "DARTS_V2", "--preset", "fast", "--layers", "3", "--channels", "4",
                       "--batch-size", "16", "--epochs", "1", "--out", out.path]
        let job = try BackgroundJob(contexts: [(1, retrain + ["--data", same.path]), (1, retrain + ["--data", changed.path])])
        #expect(job.waitForExit() == 1, "\(job.all)")
        #expect(job.stderr.contains("error: rank(s) 1 loaded other data than rank 0: rank 0 read 64 training images"), "\(job.all)")
        #expect(job.stderr.contains("64 test images 1x28x28"), "\(job.all)")
        #expect(!FileManager.default.fileExists(atPath: out.path), "the run folder was created")
    }
}
