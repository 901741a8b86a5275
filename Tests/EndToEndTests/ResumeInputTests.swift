import Foundation
import Testing
import TestSupport
@testable import Training

/// Bad input to `darts-dist search --resume`: damaged checkpoints, checkpoints or flags of another
/// search, folders that are not resumable, and a disk that fills up. Each exits non-zero with a
/// message naming the file or flag and the fix, and leaves the run folder as it was.
@Suite(.serialized) struct ResumeInputTests {
    /// A stopped search to resume: one process with 2 micro-batches per step (the same steps as the
    /// 2-rank reference), killed at the start of step 7; checkpoints at steps 3, 4 and 6.
    static let stopped: Result<URL, Error> = Result {
        let out = ReferenceRuns.root.appendingPathComponent("stopped")
        let job = try BackgroundJob(ReferenceRuns.search(out, extra: ["--accumulate", "2"]), environment: ["DARTS_DIST_FAULT": "kill:0:7"])
        job.waitForExit()
        guard RunFolder.checkpointFiles(in: out).count == 3 else { throw ReferenceRuns.ReferenceFailure(output: job.all) }
        return out
    }

    /// A copy of the stopped search in a fresh folder, changed by `damage`.
    static func stoppedCopy(in tmp: URL, _ damage: (URL) throws -> Void = { _ in }) throws -> URL {
        let run = tmp.appendingPathComponent("run")
        try FileManager.default.copyItem(at: try stopped.get(), to: run)
        try damage(run)
        return run
    }

    static func checkpoint(_ run: URL, step: Int) -> URL {
        run.appendingPathComponent("checkpoints").appendingPathComponent(RunFolder.checkpointName(step: step))
    }

    /// Resumes a damaged copy and expects the refusal (BadInputTests.expectRefused).
    static func expectResumeRefused(_ damage: @escaping (URL) throws -> Void, arguments: @escaping (URL) -> [String] = { ["search", "--resume", $0.path] },
                                    _ messages: @escaping (URL) -> [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        var run: URL!
        var expected: [String] = []
        let stderr = try BadInputTests.expectRefused({ _ in arguments(run) }, prepare: { tmp in
            run = try stoppedCopy(in: tmp, damage)
            expected = messages(run)
        }, [], sourceLocation: sourceLocation)
        for message in expected {
            #expect(stderr.contains(message), "missing \"\(message)\" in: \(stderr)", sourceLocation: sourceLocation)
        }
    }

    @Test func flagsThatChangeTheSearchAreRefused() throws {
        try Self.expectResumeRefused({ _ in }, arguments: { ["search", "--resume", $0.path, "--layers", "4", "--lr", "0.1", "--epochs", "3"] }) { _ in
            ["--resume continues the search its checkpoint defines, but --layers 4 differs from its 3, --lr 0.1 differs from its 0.025; "
             + "drop these flags to resume, or start a new search with another --out"]
        }
    }

    @Test func aCheckpointOfAnotherSearchIsRefused() throws {
        try Self.expectResumeRefused({ run in
            // config.json of this folder says seed 5: the checkpoints were taken by another search.
            let url = run.appendingPathComponent("config.json")
            let text = try String(contentsOf: url, encoding: .utf8).replacingOccurrences(of: "\"seed\" : 2", with: "\"seed\" : 5")
            try Data(text.utf8).write(to: url)
        }) { run in
            ["checkpoint \(Self.checkpoint(run, step: 6).path) belongs to another search than \(run.path): "
             + "--seed is 5 in its config.json, 2 in the checkpoint"]
        }
    }

    @Test func aTruncatedCheckpointIsRefusedNamingTheEarlierIntactOnes() throws {
        try Self.expectResumeRefused({ run in
            let file = Self.checkpoint(run, step: 6)
            let bytes = try Data(contentsOf: file)
            try bytes.prefix(bytes.count - 1000).write(to: file)
        }) { run in
            ["checkpoint \(Self.checkpoint(run, step: 6).path) is damaged: checksum mismatch (truncated or modified)",
             "earlier intact checkpoints, newest first: \(Self.checkpoint(run, step: 4).path) (end of epoch 1/3), "
                + "\(Self.checkpoint(run, step: 3).path) (epoch 1/3, step 3/4); resume from one with --resume FILE. Nothing was changed"]
        }
    }

    @Test(arguments: [5, 200, 60_000, 600_000])
    func aCheckpointWithOneFlippedByteIsRefused(offset: Int) throws {
        try Self.expectResumeRefused({ run in
            let file = Self.checkpoint(run, step: 6)
            var bytes = [UInt8](try Data(contentsOf: file))
            bytes[offset] ^= 0x01
            try Data(bytes).write(to: file)
        }) { run in
            ["checkpoint \(Self.checkpoint(run, step: 6).path) is damaged:", "Nothing was changed"]
        }
    }

    @Test func aDamagedCheckpointNamedExplicitlyIsRefused() throws {
        try Self.expectResumeRefused({ run in
            let file = Self.checkpoint(run, step: 4)
            var bytes = [UInt8](try Data(contentsOf: file))
            bytes[bytes.count - 1] ^= 0x80   // the checksum itself
            try Data(bytes).write(to: file)
        }, arguments: { ["search", "--resume", Self.checkpoint($0, step: 4).path] }) { run in
            ["checkpoint \(Self.checkpoint(run, step: 4).path) is damaged: checksum mismatch",
             "earlier intact checkpoints, newest first: \(Self.checkpoint(run, step: 3).path) (epoch 1/3, step 3/4)"]
        }
    }

    @Test func aFinishedSearchIsNotResumed() throws {
        try Self.expectResumeRefused({ run in
            try Data("{}\n".utf8).write(to: run.appendingPathComponent("result.json"))
        }) { run in ["the search in \(run.path) has finished (it has result.json): there is nothing to resume"] }
    }

    @Test func aFolderWithoutCheckpointsIsRefused() throws {
        try Self.expectResumeRefused({ run in
            try FileManager.default.removeItem(at: run.appendingPathComponent("checkpoints"))
            try FileManager.default.removeItem(at: run.appendingPathComponent("checkpoint.ckpt"))
        }) { run in ["\(run.path) holds no checkpoint: the search stopped before its first one"] }
    }

    @Test func aFolderThatIsNotARunIsRefused() throws {
        try Self.expectResumeRefused({ run in
            try FileManager.default.removeItem(at: run.appendingPathComponent("config.json"))
        }) { run in ["\(run.path) is not a darts-dist run folder (it has no config.json)"] }
        try BadInputTests.expectRefused({ tmp in ["search", "--resume", tmp.appendingPathComponent("nothing").path] },
                                        ["nothing: no such run folder or checkpoint file"])
    }

    @Test func aRetrainRunFolderIsRefusedNamingTheCommandThatContinuesIt() throws {
        func run(_ tmp: URL) -> URL { tmp.appendingPathComponent("retrain") }
        try BadInputTests.expectRefused({ ["search", "--resume", run($0).path] }, prepare: {
            try RetrainCommandTests.smallRetrain(run($0), finished: false)
        }, ["is a retrain run folder, not a search's; continue the retrain with darts-dist retrain --resume"])
        var tmpFolder: URL!
        let stderr = try BadInputTests.expectRefused({ tmp in
            tmpFolder = tmp
            return ["search", "--resume", run(tmp).appendingPathComponent("checkpoint.ckpt").path]
        }, prepare: { try RetrainCommandTests.smallRetrain(run($0), finished: false) }, [])
        let expected = "--resume \(run(tmpFolder).appendingPathComponent("checkpoint.ckpt").path) belongs to the retrain run "
            + "folder \(run(tmpFolder).path), not to a search; continue the retrain with darts-dist retrain --resume \(run(tmpFolder).path)"
        #expect(stderr.contains(expected), "missing \"\(expected)\" in: \(stderr)")
        try BadInputTests.expectRefused({ ["search", "--resume", run($0).path] }, prepare: {
            try RetrainCommandTests.smallRetrain(run($0), finished: true)
        }, ["is a retrain run folder, not a search's; the retrain has finished: measure its model with darts-dist evaluate --model"])
    }

    @Test func aFileOfTheRunFolderOtherThanACheckpointIsRefusedNamingTheRunFolder() throws {
        try Self.expectResumeRefused({ _ in }, arguments: { ["search", "--resume", $0.appendingPathComponent("config.json").path] }) { run in
            ["--resume \(run.appendingPathComponent("config.json").path) is not a checkpoint: pass the run folder, "
             + "--resume \(run.path) (the search goes on from its newest checkpoint), or one of its checkpoints/step_N.ckpt files"]
        }
    }

    @Test(arguments: [("{\"options\": {\"layers\": 3", "it is not valid JSON"),
                      ("{\"worldSize\": 1}", "it has no 'options'"),
                      ("{\"options\": [], \"worldSize\": 1}", "'options' has the wrong type")])
    func aDamagedConfigJSONIsRefusedNamingIt(text: String, problem: String) throws {
        try Self.expectResumeRefused({ run in
            try Data(text.utf8).write(to: run.appendingPathComponent("config.json"))
        }) { run in
            ["\(run.appendingPathComponent("config.json").path) is damaged: \(problem)",
             "restore it from a copy of the run folder. Nothing was changed"]
        }
    }

    @Test func anotherSplitOfEachStepIntoMicroBatchesIsRefused() throws {
        try Self.expectResumeRefused({ _ in }, arguments: { ["search", "--resume", $0.path, "--accumulate", "4"] }) { _ in
            ["the checkpoint was written by 1 rank(s) x --accumulate 2 = 2 micro-batches of 8 images per step; "
             + "1 rank(s) x --accumulate 4 would be 4: resume with P ranks and --accumulate 2/P for P in 1, 2"]
        }
    }

    @Test func anOutFolderOtherThanTheResumedOneIsRefused() throws {
        try Self.expectResumeRefused({ _ in }, arguments: {
            ["search", "--resume", $0.path, "--out", $0.deletingLastPathComponent().appendingPathComponent("other").path]
        }) { _ in ["name different run folders; a resumed search writes to the folder it resumes: drop --out"] }
    }

    @Test func otherDataOfTheSameSizeOnResumeAreRefused() throws {
        var other: URL!
        try Self.expectResumeRefused({ run in
            other = try BadData.folder(in: run.deletingLastPathComponent(), count: 128)
        }, arguments: { ["search", "--resume", $0.path, "--data", other.path] }) { _ in
            ["the data in \(other.path) hold other images or labels than the search read, as many of them (checksum ",
             "; resume with the data the search started with (--data)"]
        }
    }

    @Test func missingDataOnResumeChangesNothing() throws {
        try Self.expectResumeRefused({ _ in }, arguments: { ["search", "--resume", $0.path, "--data", "/nonexistent/fmnist"] }) { _ in
            ["data folder /nonexistent/fmnist does not exist"]
        }
    }

    /// A full disk, simulated by a file-size limit (`ulimit -f`, with SIGXFSZ ignored, so writes
    /// past it fail with EFBIG as they would with ENOSPC): the checkpoint write fails, the job
    /// stops with the reason, the earlier checkpoints are intact and the run resumes to the end.
    @Test func aDiskThatFillsUpDuringACheckpointKeepsTheEarlierOnesAndResumesExactly() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let run = try Self.stoppedCopy(in: tmp)
        let earlier = (3...6).filter { $0 != 5 }.map { Self.checkpoint(run, step: $0) }
        let before = try earlier.map { try Data(contentsOf: $0) }
        // 600 blocks of 512 bytes (dash) or 1024 bytes (bash): below one checkpoint of ~700 KB.
        let limited = try BackgroundJob(executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", "trap '' XFSZ; ulimit -f 600; exec \"$@\"", "sh", CommandRunner.binary.path,
                        "search", "--resume", run.path], environment: [:])
        #expect(limited.waitForExit() != 0)
        #expect(limited.stderr.contains("cannot write checkpoint \(Self.checkpoint(run, step: 8).path): File too large; "
            + "check free space and permissions of --out"), "\(limited.all)")
        #expect(try earlier.map { try Data(contentsOf: $0) } == before, "an earlier checkpoint changed")
        #expect(try FileManager.default.contentsOfDirectory(atPath: run.appendingPathComponent("checkpoints").path)
            .allSatisfy { !$0.contains(".tmp-") }, "a temporary file was left")
        #expect(try RunComparison.metrics(run).count == 2, "metrics.jsonl holds whole lines for epochs 0 and 1")

        let resumed = try BackgroundJob(["search", "--resume", run.path])
        #expect(resumed.waitForExit() == 0, "\(resumed.all)")
        #expect(resumed.stdout.contains("resuming from \(Self.checkpoint(run, step: 6).path)"))
        let summary = try RunComparison.expectSameSearch(run, try ReferenceRuns.reference(secondOrder: false),
                                                         batchNorm: false, sameMetrics: false)
        print("resume: checkpoint write failed (File too large) at step 8; resumed from step 6; \(summary)")
    }
}
