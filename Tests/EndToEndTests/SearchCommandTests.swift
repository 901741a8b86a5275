import Foundation
import Testing
import TestSupport
@testable import DARTS
@testable import Training

/// `darts-dist search` as users run it: the built binary, alone and under mpirun, on the real
/// Fashion-MNIST files (a small subset, a small network).
@Suite(.serialized) struct SearchCommandTests {
    /// A tiny search: 192 images (96 train / 96 val), C=4, 4 cells, global batch 16, 2 epochs.
    static func tinySearch(out: URL, extra: [String] = []) -> [String] {
        ["search", "--subset", "192", "--layers", "4", "--channels", "4", "--batch-size", "16", "--epochs", "2",
         "--print-every", "3", "--out", out.path] + extra
    }

    struct Result: Decodable {
        let genotypeText: String
        let validationAccuracy: Double
        let epochs: Int
        let steps: Int
        let worldSize: Int
        let rankChecksums: [String]
    }

    struct Alphas: Decodable { let epoch: Int; let normal: [[Float]]; let reduce: [[Float]] }

    /// `--dry-run` under mpirun announces the network the search would train (the same lines as
    /// the search itself) and writes nothing; it refuses an --out that exists, and --resume.
    @Test func dryRunAnnouncesTheSearchAndWritesNothing() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let dry = tmp.appendingPathComponent("dry"), real = tmp.appendingPathComponent("real")
        let result = try CommandRunner.run(Self.tinySearch(out: dry, extra: ["--dry-run"]), ranks: 2)
        #expect(result.status == 0, "\(result.all)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path).isEmpty)
        #expect(result.stdout.contains("dry run: nothing written"), "\(result.stdout)")
        #expect(!result.stdout.contains("epoch 1/2") && !result.stdout.contains("to stop"), "no progress, no hint for a run that stops")

        let search = try CommandRunner.run(Self.tinySearch(out: real, extra: ["--epochs", "1"]), ranks: 2)
        #expect(search.status == 0, "\(search.all)")
        func network(_ text: String) -> String? {
            text.split(separator: "\n").first { $0.hasPrefix("network: C=4, 4 cells") }
                .map { String($0.prefix { $0 != ";" }) }
        }
        #expect(network(result.stdout) != nil && network(result.stdout) == network(search.stdout), "\(result.stdout)\n\(search.stdout)")

        let existing = try CommandRunner.run(Self.tinySearch(out: real, extra: ["--dry-run"]))
        #expect(existing.status != 0 && existing.all.contains(real.path), "\(existing.all)")
        let resumed = try CommandRunner.run(["search", "--resume", real.path, "--dry-run"])
        #expect(resumed.status != 0 && resumed.all.contains("--dry-run checks a new search"), "\(resumed.all)")
    }

    @Test func singleProcessSearchWritesTheWholeRunFolder() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let result = try CommandRunner.run(Self.tinySearch(out: out))
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout.contains("epoch 2/2 step 6/6"))
        #expect(result.stdout.contains("img/s") && result.stdout.contains("ETA"))
        #expect(result.stdout.contains("final genotype = Genotype(normal=["))

        let files = Set(try FileManager.default.contentsOfDirectory(atPath: out.path))
        for name in ["config.json", "metrics.jsonl", "genotype.txt", "genotype.json", "result.json",
                     "epoch_0.genotype.txt", "epoch_0.genotype.json", "epoch_0.alphas.json",
                     "epoch_1.genotype.txt", "epoch_1.genotype.json", "epoch_1.alphas.json", "epoch_0.json", "epoch_1.json",
                     "checkpoint.ckpt"] {
            #expect(files.contains(name), "missing \(name)")
        }
        let metrics = try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        #expect(metrics.count == 2)
        let summary = try readJSON(Result.self, out.appendingPathComponent("result.json"))
        #expect(summary.epochs == 2 && summary.steps == 12 && summary.worldSize == 1)
        #expect(summary.validationAccuracy >= 0 && summary.validationAccuracy <= 1)
        // Checksums are 16 hex digits each, zero-padded.
        let checksums = summary.rankChecksums[0].split(separator: "/")
        #expect(checksums.count == 2 && checksums.allSatisfy { $0.count == 16 && $0.allSatisfy(\.isHexDigit) }, "\(checksums)")
        #expect(result.stdout.contains("weights/alphas checksums: \(summary.rankChecksums[0]), identical on all 1 rank(s)"))
        let text = try String(contentsOf: out.appendingPathComponent("genotype.txt"), encoding: .utf8)
        #expect(text.trimmingCharacters(in: .whitespacesAndNewlines) == summary.genotypeText)
        #expect(!summary.genotypeText.contains("'none'"))
        let genotype = try readJSON(Genotype.self, out.appendingPathComponent("genotype.json"))
        #expect(genotype.dartsText == summary.genotypeText)
        // NNI's format of the last epoch reads back to the same cells (NNI keeps no edge order).
        let nni = try Genotype.load(path: out.appendingPathComponent("epoch_1.json").path)
        #expect(nni == genotype.inputOrdered)
        #expect(genotype.normal.count == 8 && genotype.reduce.count == 8)
        let alphas = try readJSON(Alphas.self, out.appendingPathComponent("epoch_1.alphas.json"))
        #expect(alphas.epoch == 1 && alphas.normal.count == 14 && alphas.reduce.count == 14)
        for row in alphas.normal + alphas.reduce {
            #expect(row.count == 8 && abs(row.reduce(0, +) - 1) < 1e-5)
        }
    }

    @Test func validatingEveryOtherEpochChangesNoStepOfTheSearch() throws {
        let reference = try ReferenceRuns.reference(secondOrder: false)
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let result = try CommandRunner.run(ReferenceRuns.search(out, extra: ["--validate-every", "2"]), ranks: 2)
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout.contains("epoch 1/3 done in "), "\(result.all)")
        #expect(result.stdout.contains("not validated (--validate-every 2)"))
        #expect(result.stdout.components(separatedBy: "not validated").count == 2, "epochs 2 and 3 validate")
        let mine = try readJSON(Result.self, out.appendingPathComponent("result.json"))
        let theirs = try readJSON(Result.self, reference.appendingPathComponent("result.json"))
        #expect(mine.rankChecksums == theirs.rankChecksums, "the same weights and alphas, bit for bit")
        #expect(mine.validationAccuracy == theirs.validationAccuracy && mine.genotypeText == theirs.genotypeText)
        // metrics.jsonl: no validation figures in epoch 0; epochs 1 and 2 as in the reference.
        func lines(_ run: URL) throws -> [[String: Any]] {
            try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
                .map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        }
        let a = try lines(out), b = try lines(reference)
        #expect(a.count == 3 && b.count == 3)
        #expect(a[0]["validationLoss"] == nil && a[0]["validationAccuracy"] == nil && a[0]["trainLoss"] as? Double == b[0]["trainLoss"] as? Double)
        for epoch in 1...2 {
            #expect(a[epoch]["validationLoss"] as? Double == b[epoch]["validationLoss"] as? Double)
            #expect(a[epoch]["validationAccuracy"] as? Double == b[epoch]["validationAccuracy"] as? Double)
        }
        // The accuracy curve has a validation point for each validated epoch only.
        let svg = try String(contentsOf: out.appendingPathComponent("accuracy.svg"), encoding: .utf8)
        #expect(svg.components(separatedBy: "<title>validation, epoch").count - 1 == 2, "\(svg.prefix(400))")
    }

    @Test(arguments: [2, 4])
    func everyRankEndsWithIdenticalWeightsAndAlphas(ranks: Int) throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let result = try CommandRunner.run(Self.tinySearch(out: out), ranks: ranks)
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout.contains("\(ranks) rank(s)"))
        // Only rank 0 prints progress.
        #expect(result.stdout.components(separatedBy: "epoch 1/2 step 3/6").count == 2)
        let summary = try readJSON(Result.self, out.appendingPathComponent("result.json"))
        #expect(summary.worldSize == ranks)
        #expect(summary.rankChecksums.count == ranks)
        #expect(Set(summary.rankChecksums).count == 1, "ranks differ: \(summary.rankChecksums)")
        #expect(result.stdout.contains("identical on all \(ranks) rank(s)"))
    }

    @Test func anExistingRunFolderIsNeverOverwritten() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let precious = out.appendingPathComponent("genotype.txt")
        try Data("keep me\n".utf8).write(to: precious)
        try Data("{}\n".utf8).write(to: out.appendingPathComponent("config.json"))
        let result = try CommandRunner.run(Self.tinySearch(out: out), ranks: 2)
        #expect(result.status != 0)
        #expect(result.stderr.contains("already holds a run (2 entries); choose a new --out or move the old run away"),
                "\(result.all)")
        #expect(try String(contentsOf: precious, encoding: .utf8) == "keep me\n")
    }

    @Test func aGlobalBatchNotDivisibleByTheWorldSizeIsRefusedByRankZeroAlone() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let result = try CommandRunner.run(["search", "--batch-size", "18", "--out", tmp.appendingPathComponent("r").path], ranks: 4)
        #expect(result.status != 0)
        #expect(result.stderr.contains("--batch-size 18 (global) is not divisible by the world size 4"))
        #expect(result.stderr.components(separatedBy: "not divisible").count == 2, "printed once: \(result.stderr)")
    }

    @Test func aMissingDataFolderNamesTheFolderAndTheFix() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let result = try CommandRunner.run(["search", "--data", "/nonexistent/fmnist", "--out", tmp.appendingPathComponent("r").path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("/nonexistent/fmnist"))
        #expect(!FileManager.default.fileExists(atPath: tmp.appendingPathComponent("r").path))
    }
}
