import Foundation
import Testing
import TestSupport
@testable import Training

/// The resume guarantee: a search killed at any moment (kill -9 of mpirun, of its ranks, in the
/// middle of an epoch, during a checkpoint write) and resumed with `--resume` ends with the final
/// weights, alphas and genotype of the same search run without interruption, bit for bit (and
/// with the same batch-norm statistics and metrics, apart from timings, on the same world size).
@Suite(.serialized) struct ResumeTests {
    static func run(_ arguments: [String], ranks: Int? = nil, fault: String? = nil) throws -> BackgroundJob {
        let job = try BackgroundJob(arguments, ranks: ranks, environment: fault.map { ["DARTS_DIST_FAULT": $0] } ?? [:])
        job.waitForExit()
        return job
    }

    @Test func killingMpirunAloneEndsEveryRankAndTheRunStillEndsAsTheUninterruptedOne() throws {
        let reference = try ReferenceRuns.reference(secondOrder: false)
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let job = try BackgroundJob(ReferenceRuns.search(out), ranks: 2)
        // Rank 0 prints a step's line before it writes that step's checkpoint and starts the next
        // step, so at this line the checkpoints of steps 3 and 4 exist.
        #expect(job.waitForOutput("epoch 2/3 step 1/4"), "\(job.all)")
        let ranks = Array(job.rankPIDs().values)
        #expect(ranks.count == 2)
        let killed = Date()
        kill(job.process.processIdentifier, SIGKILL)
        job.waitForExit()
        let ended = BackgroundJob.waitUntilEnded(ranks)
        #expect(ended != nil, "ranks \(ranks) still run 60 s after mpirun was killed")
        let seconds = ended.map { $0.timeIntervalSince(killed) } ?? .infinity
        #expect(seconds < 10)
        // The orphaned ranks may take a few more steps (and checkpoints) before they notice: the
        // run folder is whatever they left, and resuming it must still give the reference.
        let finished = FileManager.default.fileExists(atPath: out.appendingPathComponent("result.json").path)
        var resumedFrom = "(the ranks finished the search before they ended)"
        if !finished {
            let resumed = try Self.run(["search", "--resume", out.path], ranks: 2)
            #expect(resumed.process.terminationStatus == 0, "\(resumed.all)")
            resumedFrom = resumed.stdout.split(separator: "\n").first { $0.hasPrefix("resuming from") }.map(String.init) ?? "?"
        }
        let summary = try RunComparison.expectSameSearch(out, reference)
        print("resume: kill -9 of mpirun alone after step 5; ranks ended \(String(format: "%.2f", seconds)) s later; "
              + "\(resumedFrom); \(summary)")
    }

    /// SIGTERM to mpirun and its ranks, as a batch scheduler ends a job at its time limit (Slurm
    /// signals every process of the job step). The test runner starts its children with SIGINT
    /// and SIGTERM blocked, which mpirun keeps; darts-dist unblocks them.
    @Test func sigtermOfMpirunSaysHowToContinueOnceAndTheResumedRunEndsAsTheUninterruptedOne() throws {
        let reference = try ReferenceRuns.reference(secondOrder: false)
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let job = try BackgroundJob(ReferenceRuns.search(out), ranks: 2)
        #expect(job.waitForOutput("epoch 2/3 step 1/4"), "\(job.all)")
        let ranks = Array(job.rankPIDs().values)
        kill(job.process.processIdentifier, SIGTERM)
        for pid in ranks { kill(pid, SIGTERM) }
        #expect(job.waitForExit() != 0)
        #expect(BackgroundJob.waitUntilEnded(ranks) != nil, "ranks \(ranks) still run after SIGTERM")
        let hint = "darts-dist search: interrupted; \(out.path) keeps every checkpoint written so far: "
            + "continue with `mpirun -np 2 --oversubscribe --bind-to none --mca btl_vader_single_copy_mechanism none "
            + "-x OPENBLAS_NUM_THREADS=1 \(CommandRunner.binary.path) search --resume \(out.path)` (and your other mpirun flags, "
            + "such as --hostfile or -x VARIABLE, which cannot be read back)"
        #expect(job.stderr.components(separatedBy: hint).count == 2, "the hint once (rank 0's): \(job.all)")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("result.json").path))
        let resumed = try Self.run(["search", "--resume", out.path], ranks: 2)
        #expect(resumed.process.terminationStatus == 0, "\(resumed.all)")
        _ = try RunComparison.expectSameSearch(out, reference)
    }

    /// Ctrl-C in a shell (SIGINT to mpirun and its ranks, the terminal's process group), or SIGTERM
    /// to them as a batch scheduler sends it: mpirun exits with status 1 (README, "Stopping and
    /// continuing"), the hint is printed once. mpirun is started with the signals unblocked, as a
    /// shell starts it; under the test runner's blocked mask it would exit 143 instead.
    @Test(arguments: [SIGINT, SIGTERM])
    func aSignalledMpirunExitsWithStatusOne(signal: Int32) throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let job = try BackgroundJob(ReferenceRuns.search(out), ranks: 2, unblockingSignals: true)
        #expect(job.waitForOutput("epoch 2/3 step 1/4"), "\(job.all)")
        let ranks = Array(job.rankPIDs().values)
        kill(job.process.processIdentifier, signal)
        for pid in ranks { kill(pid, signal) }
        let status = job.waitForExit()
        #expect(job.process.terminationReason == .exit && status == 1, "mpirun's status \(status): \(job.all)")
        #expect(job.stderr.components(separatedBy: "darts-dist search: interrupted; \(out.path) keeps every checkpoint").count == 2,
                "\(job.all)")
        #expect(BackgroundJob.waitUntilEnded(ranks) != nil, "ranks \(ranks) still run")
    }

    /// `mpirun ... > log 2>&1` (a batch job's output file) ended by SIGTERM: the hint reaches the
    /// log whole, and the lines before it are intact (a line appended to mpirun's log through
    /// another open file was written over by mpirun's next output).
    @Test func theHintReachesAnMpirunLogFileWhole() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run"), log = tmp.appendingPathComponent("job.log")
        // 30 epochs instead of 3: on an AMD EPYC (Zen 4) the 3-epoch search (3 s) ended before the log
        // file showed the line the test waits for, so no signal was sent and the test failed.
        let epochs = 30
        var search = ReferenceRuns.search(out)
        search[search.firstIndex(of: "--epochs")! + 1] = String(epochs)
        let command = BackgroundJob.mpirunCommand(contexts: [(2, search)])
            .map { "'" + $0 + "'" }.joined(separator: " ")
        let job = try BackgroundJob(executable: URL(fileURLWithPath: "/bin/sh"),
                                    arguments: ["-c", "exec \(command) > '\(log.path)' 2>&1"], unblockingSignals: true)
        var text = ""
        for _ in 0..<30_000 where job.process.isRunning && !text.contains("epoch 2/\(epochs) step 1/4") {
            text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            Thread.sleep(forTimeInterval: 0.01)
        }
        let ranks = Array(job.rankPIDs().values)
        kill(job.process.processIdentifier, SIGTERM)
        for pid in ranks { kill(pid, SIGTERM) }
        job.waitForExit()
        _ = BackgroundJob.waitUntilEnded(ranks)
        text = try String(contentsOf: log, encoding: .utf8)
        let hint = "darts-dist search: interrupted; \(out.path) keeps every checkpoint written so far: continue with `mpirun"
        #expect(text.components(separatedBy: hint).count == 2, "\(text)")
        #expect(text.hasPrefix("darts-dist search: "), "\(text)")
        // Progress lines before the hint are whole (a line written over starts with another's end).
        #expect(text.split(separator: "\n").filter { $0.contains(" step ") && $0.contains(" loss ") }.allSatisfy { $0.hasPrefix("epoch ") },
                "\(text)")
    }

    /// Ctrl-C (SIGINT) of a search on one process: the hint, and the process ends by the signal.
    @Test func ctrlCOfASingleProcessSearchSaysHowToContinue() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let job = try BackgroundJob(ReferenceRuns.search(out))
        #expect(job.waitForOutput("epoch 2/3 step 1/4"), "\(job.all)")
        kill(job.process.processIdentifier, SIGINT)
        job.waitForExit()
        #expect(job.process.terminationReason == .uncaughtSignal && job.process.terminationStatus == SIGINT, "\(job.all)")
        #expect(job.stderr.contains("darts-dist search: interrupted; \(out.path) keeps every checkpoint written so far: "
            + "continue with `\(CommandRunner.binary.path) search --resume \(out.path)`"), "\(job.all)")
    }

    /// Interrupted before its first checkpoint (the end of a 64-step epoch), a search says there is
    /// nothing to resume instead of giving a --resume command that would be refused.
    @Test func ctrlCBeforeTheFirstCheckpointSaysThereIsNothingToResume() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let job = try BackgroundJob(["search", "--subset", "2048", "--layers", "3", "--channels", "4", "--batch-size", "16",
                                     "--epochs", "2", "--out", out.path])
        #expect(job.waitForOutput("darts-dist search: "), "\(job.all)")
        kill(job.process.processIdentifier, SIGINT)
        job.waitForExit()
        #expect(job.process.terminationReason == .uncaughtSignal, "\(job.all)")
        #expect(job.stderr.contains("darts-dist search: interrupted before its first checkpoint; \(out.path) holds nothing to resume"),
                "\(job.all)")
        #expect(!job.stderr.contains("--resume"), "\(job.all)")
    }

    @Test func aJobKilledTwiceMidEpochResumesToTheUninterruptedResult() throws {
        let reference = try ReferenceRuns.reference(secondOrder: false)
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        // 1. kill -9 of mpirun and its ranks at once (as a batch scheduler ends a job) in epoch 2.
        let job = try BackgroundJob(ReferenceRuns.search(out), ranks: 2)
        #expect(job.waitForOutput("epoch 2/3 step 1/4"), "\(job.all)")
        let ranks = job.rankPIDs()
        kill(job.process.processIdentifier, SIGKILL)
        for pid in ranks.values { kill(pid, SIGKILL) }
        job.waitForExit()
        #expect(BackgroundJob.waitUntilEnded(Array(ranks.values)) != nil)
        let afterFirstKill = RunComparison.checkpointNames(out)
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("result.json").path))
        // 2. The resumed job is killed in turn: rank 1 dies at the start of step 10 (epoch 3, step 2).
        let second = try Self.run(["search", "--resume", out.path], ranks: 2, fault: "kill:1:10")
        #expect(second.process.terminationStatus != 0)
        #expect(second.stdout.contains("resuming from"), "\(second.all)")
        #expect(!second.stdout.contains("epoch 3/3 step 2/4"))
        // 3. The second resume runs to the end.
        let third = try Self.run(["search", "--resume", out.path], ranks: 2)
        #expect(third.process.terminationStatus == 0, "\(third.all)")
        #expect(third.stdout.contains("resuming from \(out.path)/checkpoints/step_00000009.ckpt: epoch 3/3, step 1/4"), "\(third.all)")
        let summary = try RunComparison.expectSameSearch(out, reference)
        let firstResume = second.stdout.split(separator: "\n").first { $0.hasPrefix("resuming from") } ?? "?"
        print("resume: kill -9 of mpirun and ranks in epoch 2 (checkpoints then: \(afterFirstKill)); \(firstResume); "
              + "rank 1 killed at step 10; resumed from step 9; \(summary)")
    }

    @Test func aKillDuringACheckpointWriteLeavesThePreviousOneAndResumesExactly() throws {
        let reference = try ReferenceRuns.reference(secondOrder: false)
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        // Rank 0 is killed with half of the step-6 checkpoint written.
        let killed = try Self.run(ReferenceRuns.search(out), ranks: 2, fault: "kill-in-checkpoint:0:6")
        #expect(killed.process.terminationStatus != 0)
        #expect(killed.stderr.contains("fault injected: kill-in-checkpoint on rank 0 at step 6"), "\(killed.all)")
        let folder = out.appendingPathComponent("checkpoints")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(names.contains { $0.hasPrefix(".step_00000006.ckpt.tmp-") }, "\(names)")
        #expect(RunComparison.checkpointNames(out) == ["step_00000003.ckpt", "step_00000004.ckpt"])
        let resumed = try Self.run(["search", "--resume", out.path], ranks: 2)
        #expect(resumed.process.terminationStatus == 0, "\(resumed.all)")
        #expect(resumed.stdout.contains("resuming from \(folder.path)/step_00000004.ckpt: end of epoch 1/3"), "\(resumed.all)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).allSatisfy { !$0.contains(".tmp-") })
        #expect(RunComparison.checkpointNames(out) == ["step_00000008.ckpt", "step_00000009.ckpt", "step_00000012.ckpt"])
        let summary = try RunComparison.expectSameSearch(out, reference)
        print("resume: rank 0 killed halfway through writing the step-6 checkpoint; resumed from step 4; \(summary)")
    }

    @Test func secondOrderKilledMidEpochResumesExactly() throws {
        let reference = try ReferenceRuns.reference(secondOrder: true)
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        // Rank 1 dies at the start of step 8 (epoch 2, step 4): the newest checkpoint is step 6,
        // mid-epoch, with each rank's own batch-norm statistics.
        let killed = try Self.run(ReferenceRuns.search(out, secondOrder: true), ranks: 2, fault: "kill:1:8")
        #expect(killed.process.terminationStatus != 0)
        let checkpoint = try Checkpoint(contentsOf: out.appendingPathComponent("checkpoints/step_00000006.ckpt"))
        #expect(checkpoint.manifest.bufferCopies == 2)
        #expect(checkpoint.sections["buffers.rank0"] != checkpoint.sections["buffers.rank1"])
        #expect(checkpoint.manifest.progress.epochSums[2] == 32)   // two steps of 16 images in epoch 2
        let resumed = try Self.run(["search", "--resume", out.path], ranks: 2)
        #expect(resumed.process.terminationStatus == 0, "\(resumed.all)")
        #expect(resumed.stdout.contains("epoch 2/3, step 2/4"), "\(resumed.all)")
        let summary = try RunComparison.expectSameSearch(out, reference)
        print("resume (second order): rank 1 killed at step 8; resumed from step 6 (mid-epoch); \(summary)")
    }

    /// One process, every search option on (docs/algorithm.md §11, §12): killed at the start of step 4,
    /// inside the warm-up epoch, it resumes from the step-3 checkpoint with the checkpoint's
    /// options and ends as the uninterrupted search.
    @Test func aSearchWithEverySearchOptionKilledInTheWarmUpResumesExactly() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let variants = ["--warmup-epochs", "1", "--arch-regularization", "beta", "--arch-regularization-weight", "3",
                        "--max-parameter-free", "1", "--partial-channels", "2", "--auxiliary-skip"]
        let reference = tmp.appendingPathComponent("reference"), out = tmp.appendingPathComponent("run")
        let uninterrupted = try Self.run(ReferenceRuns.search(reference, extra: variants))
        #expect(uninterrupted.process.terminationStatus == 0, "\(uninterrupted.all)")
        let killed = try Self.run(ReferenceRuns.search(out, extra: variants), fault: "kill:0:4")
        #expect(killed.process.terminationStatus != 0)
        #expect(RunComparison.checkpointNames(out) == ["step_00000003.ckpt"])
        // The variants come from the checkpoint; giving one anew is refused like any defining flag.
        let changed = try Self.run(["search", "--resume", out.path, "--warmup-epochs", "0"])
        #expect(changed.process.terminationStatus != 0 && changed.stderr.contains("--warmup-epochs"), "\(changed.all)")
        let resumed = try Self.run(["search", "--resume", out.path])
        #expect(resumed.process.terminationStatus == 0, "\(resumed.all)")
        #expect(resumed.stdout.contains("epoch 1/3, step 3/4"), "\(resumed.all)")
        let summary = try RunComparison.expectSameSearch(out, reference)
        print("resume with every search option: killed at step 4 (warm-up), resumed from step 3; \(summary)")
    }

    @Test func anotherWorldSizeResumesWhenRanksTimesMicroBatchesIsKeptAndIsRefusedOtherwise() throws {
        let reference = try ReferenceRuns.reference(secondOrder: false)
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let killed = try Self.run(ReferenceRuns.search(out), ranks: 2, fault: "kill:1:8")
        #expect(killed.process.terminationStatus != 0)

        // 4 ranks cannot share 2 micro-batches per step: refused, and nothing is changed.
        let before = FolderSnapshot(tmp)
        let refused = try Self.run(["search", "--resume", out.path], ranks: 4)
        #expect(refused.process.terminationStatus != 0)
        #expect(refused.stderr.contains("the checkpoint was written by 2 rank(s) x --accumulate 1 = 2 micro-batches"), "\(refused.all)")
        #expect(refused.stderr.contains("resume with P ranks and --accumulate 2/P for P in 1, 2"))
        #expect(before.changes(to: FolderSnapshot(tmp)).isEmpty)

        // One process with 2 micro-batches per step (chosen for it) takes the same steps.
        let resumed = try Self.run(["search", "--resume", out.path])
        #expect(resumed.process.terminationStatus == 0, "\(resumed.all)")
        #expect(resumed.stdout.contains("16 per rank in 2 micro-batches"), "\(resumed.all)")
        // Batch-norm running statistics are per rank during an epoch, so they (and the validation
        // metrics they feed) follow the new layout; the weights, alphas and genotype do not.
        let summary = try RunComparison.expectSameSearch(out, reference, batchNorm: false, sameMetrics: false)
        print("resume: 2-rank search killed at step 8, resumed on 1 process x 2 micro-batches from step 6; \(summary)")
    }
}
