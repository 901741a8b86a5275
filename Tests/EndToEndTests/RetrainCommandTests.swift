import DARTS
import Foundation
import Testing
import TestSupport
@testable import Training

/// `darts-dist retrain` and `darts-dist evaluate` as users run them: the built binary, alone and
/// under mpirun, on the real Fashion-MNIST files (a few hundred images, a 3-cell network, C = 4).
@Suite(.serialized) struct RetrainCommandTests {
    /// 256 training images, 200 test images, C = 4, 3 cells, global batch 16 (16 steps per epoch),
    /// 2 epochs, with the paper's auxiliary head, drop path and cutout left on.
    static func tinyRetrain(out: URL, genotype: String = "DARTS_V2", extra: [String] = []) -> [String] {
        ["retrain", "--genotype", genotype, "--preset", "paper", "--layers", "3", "--channels", "4", "--subset", "256", "--test-subset", "200",
         "--batch-size", "16", "--epochs", "2", "--print-every", "8", "--out", out.path] + extra
    }

    /// A retrain run folder at `out` (64 training and 100 test images, 2 epochs of 4 steps),
    /// stopped after its first epoch unless `finished`.
    static func smallRetrain(_ out: URL, finished: Bool) throws {
        let result = try CommandRunner.run(tinyRetrain(out: out, extra: ["--subset", "64", "--test-subset", "100"]
            + (finished ? [] : ["--stop-after-epochs", "1"])))
        try #require(result.status == 0, "\(result.all)")
    }

    static func metrics(_ out: URL) throws -> [RetrainEpochMetrics] {
        try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
            .map { try JSONDecoder().decode(RetrainEpochMetrics.self, from: Data($0.utf8)) }
    }

    /// `--dry-run` announces the network a retrain would train (the parameter count of its
    /// config.json) and writes nothing; it refuses an --out that exists, and --resume.
    @Test func dryRunAnnouncesTheNetworkAndWritesNothing() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let dry = tmp.appendingPathComponent("dry"), real = tmp.appendingPathComponent("real")
        let result = try CommandRunner.run(Self.tinyRetrain(out: dry, extra: ["--dry-run"]))
        #expect(result.status == 0, "\(result.all)")
        #expect(!FileManager.default.fileExists(atPath: dry.path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path).isEmpty)
        #expect(result.stdout.contains("dry run: nothing written"), "\(result.stdout)")
        #expect(!result.stdout.contains("epoch 1/2") && !result.stdout.contains("to stop"), "no progress, no hint for a run that stops")

        try Self.smallRetrain(real, finished: false)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: real.appendingPathComponent("config.json"))) as? [String: Any]
        let parameters = try #require(config?["parameters"] as? Int), auxiliary = try #require(config?["auxiliaryParameters"] as? Int)
        #expect(auxiliary > 0)
        #expect(result.stdout.contains("network: C=4, 3 cells, \(parameters - auxiliary) parameters (+\(auxiliary) auxiliary head"),
                "\(result.stdout)")

        let existing = try CommandRunner.run(Self.tinyRetrain(out: real, extra: ["--dry-run"]))
        #expect(existing.status != 0 && existing.all.contains(real.path), "\(existing.all)")
        let resumed = try CommandRunner.run(["retrain", "--resume", real.path, "--dry-run"])
        #expect(resumed.status != 0 && resumed.all.contains("--dry-run checks a new retrain"), "\(resumed.all)")
        #expect(try Self.metrics(real).count == 1, "the refused commands left the run folder as it was")

        // Augmentation as large as the 28 x 28 images trains on blank images: refused once the
        // images' side is known, before anything is written.
        for (flag, value, message) in [("--crop-padding", "28", "--crop-padding 28 is not smaller than the images' side (28 pixels)"),
                                       ("--cutout", "28", "--cutout 28 can erase a whole image of the images' side (28 pixels)")] {
            let refused = try CommandRunner.run(Self.tinyRetrain(out: dry, extra: [flag, value, "--dry-run"]))
            #expect(refused.status != 0 && refused.stderr.contains(message), "\(refused.all)")
        }
        let largest = try CommandRunner.run(Self.tinyRetrain(out: dry, extra: ["--crop-padding", "27", "--cutout", "27", "--dry-run"]))
        #expect(largest.status == 0, "\(largest.all)")
        #expect(!FileManager.default.fileExists(atPath: dry.path))
    }

    @Test func retrainWritesTheRunFolderAndEvaluateReproducesItsTestAccuracy() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let result = try CommandRunner.run(Self.tinyRetrain(out: out))
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout.contains("epoch 2/2 step 16/16") && result.stdout.contains("img/s") && result.stdout.contains("ETA"))
        #expect(result.stdout.contains("top-1") && result.stdout.contains("top-5"))
        #expect(result.stdout.contains("drop 0.100"), "drop path ramps to 0.2 * 1 / 2 in epoch 2")

        let files = Set(try FileManager.default.contentsOfDirectory(atPath: out.path))
        for name in ["config.json", "metrics.jsonl", "genotype.txt", "genotype.json", "checkpoint.ckpt", "model.bin", "result.json"] {
            #expect(files.contains(name), "missing \(name)")
        }
        let metrics = try Self.metrics(out)
        #expect(metrics.map(\.epoch) == [0, 1])
        #expect(metrics.map(\.dropPathProbability) == [0, 0.1])
        for m in metrics {
            #expect(m.testTop1 >= 0 && m.testTop1 <= m.testTop5 && m.testTop5 <= 1 && m.steps == 16 && m.imagesPerSecond > 0)
        }
        let summary = try readJSON(RetrainResult.self, out.appendingPathComponent("result.json"))
        #expect(summary.epochs == 2 && summary.steps == 32 && summary.worldSize == 1)
        #expect(summary.testTop1 == metrics[1].testTop1 && summary.testTop5 == metrics[1].testTop5)
        // The best epoch counts from 1 in result.json as on the console; metrics.jsonl counts from 0.
        let best = metrics.max { $0.testTop1 < $1.testTop1 }!
        #expect(summary.bestEpoch == best.epoch + 1)
        #expect(result.stdout.contains(String(format: "(best top-1 %.2f%% after epoch %d)", 100 * best.testTop1, summary.bestEpoch)),
                "\(result.stdout)")
        #expect(result.stdout.contains(String(format: "epoch %d/2 done", summary.bestEpoch)))
        #expect(try Genotype.load(path: out.path) == .dartsV2)   // the run folder's genotype.json

        // The saved model holds the genotype and configuration, and measures the same on the same images.
        let model = try SavedModel(path: out.appendingPathComponent("model.bin").path)
        #expect(model.manifest.genotype == .dartsV2)
        #expect(model.manifest.configuration.channels == 4 && model.manifest.configuration.layers == 3)
        #expect(model.manifest.configuration.auxiliary)
        let evaluation = try CommandRunner.run(["evaluate", "--model", out.path, "--test-subset", "200", "--json"])
        #expect(evaluation.status == 0, "\(evaluation.all)")
        let report = try JSONDecoder().decode(EvaluationReport.self, from: Data(evaluation.stdout.utf8))
        #expect(report.result.images == 200)
        #expect(report.result.top1 == summary.testTop1 && report.result.top5 == summary.testTop5)
        #expect(abs(report.result.loss - summary.testLoss) < 1e-9)
        #expect(report.result.classes.count == 10 && report.result.classes.map(\.images).reduce(0, +) == 200)

        let table = try CommandRunner.run(["evaluate", "--model", out.appendingPathComponent("model.bin").path, "--test-subset", "200"])
        #expect(table.status == 0, "\(table.all)")
        #expect(table.stdout.contains(String(format: "top-1 %.2f%%", 100 * summary.testTop1)))
        #expect(table.stdout.contains("Ankle boot") && table.stdout.contains("T-shirt/top"))
    }

    @Test func aRunStoppedAfterItsFirstEpochAndResumedEndsBitIdenticalToAnUninterruptedOne() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let whole = tmp.appendingPathComponent("whole"), parts = tmp.appendingPathComponent("parts")
        let a = try CommandRunner.run(Self.tinyRetrain(out: whole))
        #expect(a.status == 0, "\(a.all)")

        let first = try CommandRunner.run(Self.tinyRetrain(out: parts, extra: ["--stop-after-epochs", "1"]))
        #expect(first.status == 0, "\(first.all)")
        #expect(first.stdout.contains("stopped after epoch 1 of 2"))
        #expect(!FileManager.default.fileExists(atPath: parts.appendingPathComponent("model.bin").path))
        #expect(try RetrainCheckpoint(contentsOf: parts.appendingPathComponent("checkpoint.ckpt")).manifest.epoch == 1)
        // A line written after the checkpoint (as by a process killed in between) is not kept twice.
        let handle = try FileHandle(forWritingTo: parts.appendingPathComponent("metrics.jsonl"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"epoch\": 1}\n".utf8))
        try handle.close()

        let resumed = try CommandRunner.run(["retrain", "--resume", parts.path])
        #expect(resumed.status == 0, "\(resumed.all)")
        #expect(resumed.stdout.contains("resuming \(parts.path) after epoch 1 of 2"))
        #expect(!resumed.stdout.contains("epoch 1/2 step"))

        let x = try SavedModel(path: whole.path), y = try SavedModel(path: parts.path)
        #expect(x.sections["weights"]! == y.sections["weights"]!)
        #expect(x.sections["buffers"]! == y.sections["buffers"]!)
        let mx = try Self.metrics(whole), my = try Self.metrics(parts)
        #expect(my.map(\.epoch) == [0, 1])
        #expect(mx.map(\.testTop1) == my.map(\.testTop1) && mx.map(\.testLoss) == my.map(\.testLoss))
        #expect(mx.map(\.trainLoss) == my.map(\.trainLoss))
        let rx = try readJSON(RetrainResult.self, whole.appendingPathComponent("result.json"))
        let ry = try readJSON(RetrainResult.self, parts.appendingPathComponent("result.json"))
        #expect(rx.weightsChecksum == ry.weightsChecksum && rx.steps == ry.steps)

        // A finished run is not resumed again.
        let again = try CommandRunner.run(["retrain", "--resume", parts.path])
        #expect(again.status != 0 && again.stderr.contains("already finished"), "\(again.all)")
    }

    @Test func aRetrainStoppedOnTwoRanksAndResumedOnOneTrainsTheSameWeights() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let whole = tmp.appendingPathComponent("whole"), parts = tmp.appendingPathComponent("parts")
        let a = try CommandRunner.run(Self.tinyRetrain(out: whole), ranks: 2)
        #expect(a.status == 0, "\(a.all)")
        let first = try CommandRunner.run(Self.tinyRetrain(out: parts, extra: ["--stop-after-epochs", "1"]), ranks: 2)
        #expect(first.status == 0, "\(first.all)")

        // Another split of each step into micro-batches is refused, and changes nothing.
        let checkpoint = try Data(contentsOf: parts.appendingPathComponent("checkpoint.ckpt"))
        let split = try CommandRunner.run(["retrain", "--resume", parts.path, "--accumulate", "4"])
        #expect(split.status == 1)
        #expect(split.stderr.contains("the checkpoint was written by 2 rank(s) x --accumulate 1 = 2 micro-batches of 8 images per step; "
            + "1 rank(s) x --accumulate 4 would be 4: resume with P ranks and --accumulate 2/P for P in 1, 2"), "\(split.all)")
        #expect(try Data(contentsOf: parts.appendingPathComponent("checkpoint.ckpt")) == checkpoint)

        // One process continues with --accumulate 2: the same micro-batches, the same weights.
        let resumed = try CommandRunner.run(["retrain", "--resume", parts.path])
        #expect(resumed.status == 0, "\(resumed.all)")
        #expect(resumed.stdout.contains("resuming \(parts.path) after epoch 1 of 2"), "\(resumed.all)")
        let x = try SavedModel(path: whole.path), y = try SavedModel(path: parts.path)
        #expect(x.sections["weights"]! == y.sections["weights"]!)
        #expect(y.manifest.options?.accumulate == 2)
    }

    @Test func twoRanksTrainTheSameWeightsAsOneProcessAccumulatingTwoMicroBatches() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let parallel = tmp.appendingPathComponent("ranks"), single = tmp.appendingPathComponent("accumulate")
        let a = try CommandRunner.run(Self.tinyRetrain(out: parallel), ranks: 2)
        #expect(a.status == 0, "\(a.all)")
        #expect(a.stdout.contains("2 rank(s)") && a.stdout.contains("identical on all 2 rank(s)"))
        #expect(a.stdout.components(separatedBy: "epoch 1/2 step 8/16").count == 2, "only rank 0 prints")
        let b = try CommandRunner.run(Self.tinyRetrain(out: single, extra: ["--accumulate", "2"]))
        #expect(b.status == 0, "\(b.all)")
        // Augmentation (crop, flip, cutout) and drop path masks are keyed by image, and the
        // allreduce adds in rank order: the weights are bit-identical. (Batch-norm running
        // statistics are averaged over ranks, a running mean over micro-batches: they differ.)
        let p = try SavedModel(path: parallel.path), s = try SavedModel(path: single.path)
        #expect(p.sections["weights"]! == s.sections["weights"]!)
        let summary = try readJSON(RetrainResult.self, parallel.appendingPathComponent("result.json"))
        #expect(summary.worldSize == 2 && Set(summary.rankChecksums).count == 1)
    }

    @Test func aGenotypeIsReadFromASearchRunFolderAndFromNNIsFormat() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let search = tmp.appendingPathComponent("search")
        try FileManager.default.createDirectory(at: search, withIntermediateDirectories: true)
        let random = Genotype.random(seed: 1)
        try JSONEncoder().encode(random).write(to: search.appendingPathComponent("genotype.json"))
        let nni = tmp.appendingPathComponent("epoch_49.json")
        try Genotype.dartsV1.nniJSON().write(to: nni)
        for (source, expected) in [(search.path, random), (nni.path, Genotype.dartsV1.inputOrdered)] {
            let out = tmp.appendingPathComponent("run-\(UUID().uuidString)")
            let result = try CommandRunner.run(Self.tinyRetrain(out: out, genotype: source, extra: ["--epochs", "1", "--subset", "64"]))
            #expect(result.status == 0, "\(result.all)")
            #expect(result.stdout.contains("genotype = \(expected.dartsText)"))
            #expect(try SavedModel(path: out.path).manifest.genotype == expected)
        }
    }

    @Test func resumeAcceptsFlagsGivenWithTheSavedValuesAndRefusesOthers() throws {
        func run(_ tmp: URL) -> URL { tmp.appendingPathComponent("run") }
        let prepare = { (tmp: URL) in try Self.smallRetrain(run(tmp), finished: false) }
        try BadInputTests.expectRefused({ ["retrain", "--resume", run($0).path, "--layers", "3", "--lr", "0.1", "--epochs", "3"] },
                                        prepare: prepare,
            ["--resume continues the retrain its checkpoint defines, but --epochs 3 differs from its 2, "
             + "--lr 0.1 differs from its 0.025; drop these flags to resume, or start a new retrain with another --out"])
        let stderr = try BadInputTests.expectRefused({ ["retrain", "--resume", run($0).path, "--preset", "fast"] }, ranks: 2,
                                                     prepare: prepare, ["--preset fast differs from its paper"])
        #expect(stderr.components(separatedBy: "differs from its").count == 2, "printed once: \(stderr)")
        try BadInputTests.expectRefused({ ["retrain", "--resume", run($0).path, "--out", $0.appendingPathComponent("other").path] },
                                        prepare: prepare,
            ["name different run folders; a resumed retrain writes to the folder it resumes: drop --out"])

        // The flags of the run, given again with their values, are accepted, as by a resumed search.
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        try prepare(tmp)
        let resumed = try CommandRunner.run(Self.tinyRetrain(out: run(tmp), extra: ["--subset", "64", "--test-subset", "100",
                                                                                    "--preset", "paper", "--resume", run(tmp).path]))
        #expect(resumed.status == 0, "\(resumed.all)")
        #expect(resumed.stdout.contains("resuming \(run(tmp).path) after epoch 1 of 2"), "\(resumed.all)")
        #expect(FileManager.default.fileExists(atPath: run(tmp).appendingPathComponent("result.json").path))
    }

    @Test func aSearchRunFolderIsRefusedNamingTheCommandThatContinuesIt() throws {
        var run: URL!
        let cases: [(path: (URL) -> URL, finished: Bool)] = [
            ({ $0 }, false), ({ $0.appendingPathComponent("checkpoint.ckpt") }, false), ({ $0 }, true),
        ]
        for (path, finished) in cases {
            let stderr = try BadInputTests.expectRefused({ _ in ["retrain", "--resume", path(run).path] }, prepare: { tmp in
                run = try ResumeInputTests.stoppedCopy(in: tmp)
                if finished { try Data("{}\n".utf8).write(to: run.appendingPathComponent("result.json")) }
            }, [])
            let expected = finished
                ? "--resume \(run.path) is a search run folder, not a retrain's; the search has finished: retrain its cell "
                    + "with darts-dist retrain --genotype \(run.path) --out NEW_DIR"
                : path(run) == run
                ? "--resume \(run.path) is a search run folder, not a retrain's; continue the search with darts-dist search --resume \(run.path)"
                : "--resume \(path(run).path) belongs to the search run folder \(run.path), not to a retrain; "
                    + "continue the search with darts-dist search --resume \(run.path)"
            #expect(stderr.contains(expected), "missing \"\(expected)\" in: \(stderr)")
        }
    }

    /// Small things of the output: "1 epoch", "1 step", a checksum of 16 hex digits, and no
    /// checkpoints/ folder (a retrain writes its checkpoint as checkpoint.ckpt).
    @Test func aOneEpochRunSaysOneEpochPrintsAFixedWidthChecksumAndHasNoEmptyFolder() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let result = try CommandRunner.run(Self.tinyRetrain(out: out, extra: ["--subset", "16", "--test-subset", "100", "--epochs", "1"]))
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout.contains("1 step per epoch, 1 epoch, lr"), "\(result.stdout)")
        let summary = try readJSON(RetrainResult.self, out.appendingPathComponent("result.json"))
        #expect(summary.weightsChecksum.count == 16 && summary.weightsChecksum.allSatisfy(\.isHexDigit), "\(summary.weightsChecksum)")
        #expect(result.stdout.contains("checksum of the weights and batch-norm statistics: \(summary.weightsChecksum), identical"))
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("checkpoints").path))
        #expect(hexChecksum(0xabc) == "0000000000000abc" && hexChecksum(.max) == "ffffffffffffffff")
        #expect(counted(1, "epoch") == "1 epoch" && counted(0, "epoch") == "0 epochs" && counted(2, "step") == "2 steps")
    }

    /// `--label-smoothing` reaches the training loss (other weights than without it), 0 is the
    /// plain loss bit for bit, config.json records it, and `--resume` keeps it (a run stopped and
    /// resumed ends as an uninterrupted one) and refuses another value.
    @Test func labelSmoothingChangesTheTrainedWeightsAndZeroIsThePlainLoss() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        func checksum(_ name: String, _ extra: [String]) throws -> String {
            let out = tmp.appendingPathComponent(name)
            let result = try CommandRunner.run(Self.tinyRetrain(out: out, extra: ["--subset", "64", "--test-subset", "100", "--epochs", "1"] + extra))
            try #require(result.status == 0, "\(result.all)")
            return try readJSON(RetrainResult.self, out.appendingPathComponent("result.json")).weightsChecksum
        }
        let plain = try checksum("plain", [])
        #expect(try checksum("zero", ["--label-smoothing", "0"]) == plain)
        #expect(try checksum("smoothed", ["--label-smoothing", "0.1"]) != plain)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: tmp.appendingPathComponent("smoothed/config.json"))) as? [String: Any]
        let options = config?["options"] as? [String: Any]
        #expect((options?["labelSmoothing"] as? Double).map { abs($0 - 0.1) < 1e-6 } == true, "\(options ?? [:])")

        let smoothed = ["--subset", "64", "--test-subset", "100", "--label-smoothing", "0.1"]
        let whole = tmp.appendingPathComponent("whole"), stopped = tmp.appendingPathComponent("stopped")
        let first = try CommandRunner.run(Self.tinyRetrain(out: whole, extra: smoothed))
        try #require(first.status == 0, "\(first.all)")
        #expect(first.stdout.contains("drop path 0.2, label smoothing 0.1; output in"), "\(first.stdout)")
        let part = try CommandRunner.run(Self.tinyRetrain(out: stopped, extra: smoothed + ["--stop-after-epochs", "1"]))
        try #require(part.status == 0, "\(part.all)")
        let resumed = try CommandRunner.run(["retrain", "--resume", stopped.path])
        try #require(resumed.status == 0, "\(resumed.all)")
        let checksums = try [whole, stopped].map { try readJSON(RetrainResult.self, $0.appendingPathComponent("result.json")).weightsChecksum }
        #expect(checksums[0] == checksums[1])

        func run(_ tmp: URL) -> URL { tmp.appendingPathComponent("run") }
        try BadInputTests.expectRefused({ ["retrain", "--resume", run($0).path, "--label-smoothing", "0.2"] }, prepare: { tmp in
            let result = try CommandRunner.run(Self.tinyRetrain(out: run(tmp), extra: ["--subset", "64", "--test-subset", "100",
                                                                                      "--label-smoothing", "0.1", "--stop-after-epochs", "1"]))
            try #require(result.status == 0, "\(result.all)")
        }, ["--label-smoothing 0.2 differs from its 0.1"])
    }

    @Test func usersMistakesEndWithOneMessageNamingTheInputAndNothingOverwritten() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")

        let noGenotype = try CommandRunner.run(["retrain", "--out", out.path])
        #expect(noGenotype.status != 0 && noGenotype.stderr.contains("Give --genotype"), "\(noGenotype.all)")

        let missing = try CommandRunner.run(Self.tinyRetrain(out: out, genotype: "/nonexistent/genotype.txt"))
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent/genotype.txt: no such file or folder"), "\(missing.all)")
        #expect(!FileManager.default.fileExists(atPath: out.path))

        let resumeNothing = try CommandRunner.run(["retrain", "--resume", tmp.path])
        #expect(resumeNothing.status != 0 && resumeNothing.stderr.contains("holds no checkpoint.ckpt"), "\(resumeNothing.all)")

        let indivisible = try CommandRunner.run(Self.tinyRetrain(out: out, extra: ["--batch-size", "15"]), ranks: 2)
        #expect(indivisible.status != 0)
        #expect(indivisible.stderr.components(separatedBy: "--batch-size 15 (global) is not divisible by the world size 2").count == 2,
                "printed once: \(indivisible.stderr)")
        // A value that does not parse is reported by rank 0 alone too (each rank parses the line).
        let unparsable = try CommandRunner.run(["retrain", "--epochs", "abc"], ranks: 2)
        #expect(unparsable.status != 0)
        #expect(unparsable.stderr.components(separatedBy: "The value 'abc' is invalid for '--epochs <epochs>'").count == 2,
                "printed once: \(unparsable.stderr)")
        let help = try CommandRunner.run(["retrain", "--help"], ranks: 2)
        #expect(help.status == 0 && help.stdout.components(separatedBy: "OVERVIEW:").count == 2, "printed once: \(help.all)")

        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try Data("keep me\n".utf8).write(to: out.appendingPathComponent("result.json"))
        let existing = try CommandRunner.run(Self.tinyRetrain(out: out))
        #expect(existing.status != 0 && existing.stderr.contains("already holds a run"), "\(existing.all)")
        #expect(try String(contentsOf: out.appendingPathComponent("result.json"), encoding: .utf8) == "keep me\n")

        let noModel = try CommandRunner.run(["evaluate", "--model", tmp.appendingPathComponent("none.bin").path])
        #expect(noModel.status != 0 && noModel.stderr.contains("none.bin: no such file or folder"), "\(noModel.all)")
    }
}
