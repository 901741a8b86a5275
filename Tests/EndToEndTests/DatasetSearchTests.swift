import Foundation
import Testing

/// The search on the other datasets' file formats, written by the test: CIFAR-10 binary batches
/// (3x32x32) and MNIST IDX files (gzip), end to end through the command.
@Suite(.serialized) struct DatasetSearchTests {
    /// Writes `count` CIFAR-10 records per file (label byte + 3072 pixel bytes, a class-dependent
    /// pattern plus noise so the classes are learnable).
    static func writeCIFAR(to folder: URL, perFile count: Int) throws {
        var rng = SystemRandomNumberGenerator()
        func records(_ n: Int) -> Data {
            var bytes = [UInt8]()
            for i in 0..<n {
                let label = UInt8(i % 10)
                bytes.append(label)
                for c in 0..<3 { for p in 0..<1024 {
                    let base = (Int(label) * 25 + c * 40 + (p % 32) * 2) % 256
                    bytes.append(UInt8((base + Int.random(in: 0..<20, using: &rng)) % 256))
                } }
            }
            return Data(bytes)
        }
        for b in 1...5 { try records(count).write(to: folder.appendingPathComponent("data_batch_\(b).bin")) }
        try records(count).write(to: folder.appendingPathComponent("test_batch.bin"))
    }

    @Test func searchRunsOnCIFAR10BinaryBatches() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let data = tmp.appendingPathComponent("cifar-10-batches-bin")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try Self.writeCIFAR(to: data, perFile: 20)
        let out = tmp.appendingPathComponent("run")
        let result = try CommandRunner.run(["search", "--dataset", "cifar10", "--data", data.path, "--layers", "3",
                                            "--channels", "4", "--batch-size", "8", "--epochs", "1", "--out", out.path], ranks: 2)
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout.contains("cifar10 3x32x32, 50 train / 50 val images, 2 rank(s)"))
        let config = try String(contentsOf: out.appendingPathComponent("config.json"), encoding: .utf8)
        #expect(config.contains("random-crop(padding 4)+horizontal-flip"))
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("genotype.txt").path))
    }

    @Test func aCIFAR10FileOfTheWrongSizeIsNamed() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        try Self.writeCIFAR(to: tmp, perFile: 4)
        try Data(repeating: 7, count: 3073 * 2 + 100).write(to: tmp.appendingPathComponent("data_batch_3.bin"))
        let result = try CommandRunner.run(["search", "--dataset", "cifar10", "--data", tmp.path, "--out",
                                            tmp.appendingPathComponent("run").path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("data_batch_3.bin"))
        #expect(!FileManager.default.fileExists(atPath: tmp.appendingPathComponent("run").path))
    }
}
