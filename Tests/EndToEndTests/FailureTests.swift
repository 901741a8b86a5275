import Foundation
import Testing
import TestSupport
@testable import Training

/// A failure on any rank ends the whole job within seconds, with a non-zero exit and a message
/// naming the rank and the cause: never a hang, never a silent continue. Each test prints the
/// time from the failure to the job's end.
@Suite(.serialized) struct FailureTests {
    static func seconds(_ from: Date?, _ to: Date?) -> Double {
        guard let from, let to else { return .infinity }
        return to.timeIntervalSince(from)
    }

    static func report(_ what: String, ranks: Int, _ seconds: Double) {
        print("failure: \(what) under mpirun -np \(ranks): the job ended \(String(format: "%.2f", seconds)) s after the failure")
    }

    @Test(arguments: [(2, 1, "nan-gradient"), (4, 3, "inf-gradient"), (4, 0, "nan-loss")])
    func aNonFiniteLossOrGradientOnOneRankStopsEveryRankAndKeepsTheLastCheckpoint(ranks: Int, failing: Int, kind: String) throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let job = try BackgroundJob(ReferenceRuns.search(out), ranks: ranks, environment: ["DARTS_DIST_FAULT": "\(kind):\(failing):7"])
        let status = job.waitForExit()
        #expect(status != 0)
        let what = kind == "nan-loss" ? "the training loss became nan" : "the norm of the averaged weight gradient became "
            + (kind == "nan-gradient" ? "nan" : "inf")
        #expect(job.stderr.contains("error: \(what) at epoch 2/3, step 3/4 (step 7 of the search)"), "\(job.all)")
        #expect(job.stderr.contains("The last good checkpoint, \(out.path)/checkpoints/step_00000006.ckpt (epoch 2/3, step 2/4), "
            + "is intact: resume with `darts-dist search --resume \(out.path)`"))
        #expect(job.stderr.components(separatedBy: "error: ").count == 2, "one message, from rank 0: \(job.stderr)")
        // Nothing after the last good checkpoint was written, and it loads.
        #expect(RunComparison.checkpointNames(out) == ["step_00000003.ckpt", "step_00000004.ckpt", "step_00000006.ckpt"])
        let checkpoint = try Checkpoint(contentsOf: out.appendingPathComponent("checkpoints/step_00000006.ckpt"))
        #expect(checkpoint.sections["weights"]!.allSatisfy { $0.isFinite })
        #expect(try Data(contentsOf: out.appendingPathComponent("checkpoint.ckpt")) == Data(contentsOf: out.appendingPathComponent("checkpoints/step_00000006.ckpt")))
        let seconds = Self.seconds(job.faultTime, job.endTime)
        #expect(seconds < 10)
        Self.report("\(kind) on rank \(failing) at step 7", ranks: ranks, seconds)

        // The message's command resumes it (the fault was transient) to the uninterrupted result.
        if ranks == 2 {
            let resumed = try BackgroundJob(["search", "--resume", out.path], ranks: 2)
            #expect(resumed.waitForExit() == 0, "\(resumed.all)")
            try RunComparison.expectSameSearch(out, try ReferenceRuns.reference(secondOrder: false))
        }
    }

    @Test(arguments: [(2, 1), (4, 2)])
    func anErrorOnOneRankAbortsEveryRankNamingTheRank(ranks: Int, failing: Int) throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let job = try BackgroundJob(ReferenceRuns.search(out), ranks: ranks, environment: ["DARTS_DIST_FAULT": "error:\(failing):5"])
        let status = job.waitForExit()
        #expect(status != 0)
        #expect(job.stderr.contains("error (rank \(failing) of \(ranks) on "), "\(job.all)")
        #expect(job.stderr.contains("injected failure at step 5 (DARTS_DIST_FAULT); aborting all ranks"))
        #expect(try Checkpoint(contentsOf: out.appendingPathComponent("checkpoint.ckpt")).manifest.step == 4)
        let seconds = Self.seconds(job.faultTime, job.endTime)
        #expect(seconds < 10)
        Self.report("an error thrown on rank \(failing) at step 5", ranks: ranks, seconds)
    }

    @Test(arguments: [(2, 1), (4, 2)])
    func aRankKilledWithSignalNineEndsTheJobNamingTheRank(ranks: Int, failing: Int) throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let job = try BackgroundJob(ReferenceRuns.search(out), ranks: ranks)
        #expect(job.waitForOutput("epoch 1/3 step 2/4"), "\(job.all)")
        let pids = job.rankPIDs()
        guard let victim = pids[failing] else { Issue.record("no rank \(failing) among \(pids)"); return }
        let killed = Date()
        kill(victim, SIGKILL)
        let status = job.waitForExit()
        #expect(status != 0)
        #expect(job.stderr.contains("process rank \(failing) with PID"), "\(job.all)")
        #expect(job.stderr.contains("exited on signal 9 (Killed)"))
        #expect(BackgroundJob.waitUntilEnded(Array(pids.values), timeout: 10) != nil, "a rank outlived the job")
        let seconds = Self.seconds(killed, job.endTime)
        #expect(seconds < 10)
        Self.report("kill -9 of rank \(failing)", ranks: ranks, seconds)
    }

    /// MPMD launches give one rank other arguments: a data folder that is missing (2 ranks) or
    /// whose images file is a truncated gzip (4 ranks) on the last rank only.
    @Test(arguments: [2, 4])
    func unreadableDataOnOneRankEndsTheJobNamingTheRankAndTheFile(ranks: Int) throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let bad: String
        let expected: String
        if ranks == 2 {
            bad = tmp.appendingPathComponent("missing").path
            expected = "data folder \(bad) does not exist"
        } else {
            let folder = try BadData.folder(in: tmp, gzipImages: true)
            let images = folder.appendingPathComponent("train-images-idx3-ubyte.gz")
            let bytes = try Data(contentsOf: images)
            try bytes.prefix(bytes.count / 2).write(to: images)
            bad = folder.path
            expected = "gzip file \(images.path) is truncated or corrupt"
        }
        let arguments = ReferenceRuns.search(out)
        let started = Date()
        let job = try BackgroundJob(contexts: [(ranks - 1, arguments), (1, arguments + ["--data", bad])])
        let status = job.waitForExit()
        #expect(status != 0)
        #expect(job.stderr.contains("error: rank \(ranks - 1) on "), "\(job.all)")
        #expect(job.stderr.contains(expected), "\(job.all)")
        #expect(!FileManager.default.fileExists(atPath: out.path), "the run folder was created")
        let seconds = Self.seconds(started, job.endTime)
        #expect(seconds < 30)
        print("failure: bad --data on rank \(ranks - 1) (MPMD) under mpirun -np \(ranks): the whole job took "
              + String(format: "%.2f", seconds) + " s from launch to exit")
    }

    /// An MPMD launch whose last rank runs another executable (a copy of the build with one byte
    /// appended: it runs, but it is not the same file) is refused before anything is read or written.
    @Test func ranksRunningDifferentBuildsAreRefused() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let other = tmp.appendingPathComponent("darts-dist-other")
        var bytes = try Data(contentsOf: CommandRunner.binary)
        bytes.append(0)
        try bytes.write(to: other)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: other.path)
        let out = tmp.appendingPathComponent("run")
        let arguments = ReferenceRuns.search(out)
        let job = try BackgroundJob(executable: URL(fileURLWithPath: "/usr/bin/env"), arguments:
            ["mpirun"] + BackgroundJob.mpirunOptions + ["-np", "1", CommandRunner.binary.path] + arguments
            + [":", "-np", "1", other.path] + arguments)
        #expect(job.waitForExit() != 0)
        #expect(job.stderr.contains("error: the ranks run different darts-dist builds:"), "\(job.all)")
        #expect(job.stderr.contains("rank 0 on "), "\(job.all)")
        #expect(job.stderr.contains("rank 1 on "), "\(job.all)")
        #expect(job.stderr.components(separatedBy: "different darts-dist builds").count == 2, "printed once: \(job.all)")
        #expect(!FileManager.default.fileExists(atPath: out.path), "the run folder was created")
    }

    @Test func ranksStartedWithDifferentOptionsAreRefused() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let arguments = ReferenceRuns.search(out)
        let job = try BackgroundJob(contexts: [(3, arguments), (1, arguments + ["--seed", "5"])])
        #expect(job.waitForExit() != 0)
        #expect(job.stderr.contains("the search options of rank(s) 3 differ from rank 0's"), "\(job.all)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    @Test func badOptionsOnOneRankOnlyAreReportedByRankZero() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let arguments = ReferenceRuns.search(out)
        let job = try BackgroundJob(contexts: [(1, arguments), (1, arguments + ["--lr=-1"])])
        #expect(job.waitForExit() != 0)
        #expect(job.stderr.contains("error: rank 1 on "), "\(job.all)")
        #expect(job.stderr.contains("--lr -1.0 must be positive"))
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }
}
