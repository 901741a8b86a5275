import DARTS
import DartsTensor
import Foundation
import Testing
import TestSupport
@testable import Training

/// `darts-dist genotype RUN_DIR --selection perturbation` (docs/algorithm.md §11.5) on a real,
/// small search: what it prints, what it writes, and that it is what the selection computes on
/// the search's supernet and val half.
@Suite(.serialized) struct PerturbationCommandTests {
    @Test func perturbationSelectionOfASearchIsTheSelectionOfItsSupernetOnItsValHalf() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let search = try CommandRunner.run(["search", "--subset", "128", "--layers", "3", "--channels", "4", "--batch-size", "16",
                                            "--epochs", "1", "--print-every", "4", "--out", out.path])
        #expect(search.status == 0, "\(search.all)")
        let scores = tmp.appendingPathComponent("scores.json")
        let result = try CommandRunner.run(["genotype", out.path, "--selection", "perturbation", "--selection-images", "32",
                                            "--scores", scores.path, "--format", "json"])
        #expect(result.status == 0, "\(result.all)")
        let printed = try Genotype.parse(result.stdout)
        #expect(result.stderr.contains("perturbation-based selection on \(out.path): 221 measurements of the supernet on 32 val-half images"),
                "\(result.all)")
        #expect(result.stderr.contains("measured 221/221") && result.stderr.contains("wrote \(scores.path)"), "\(result.all)")

        // The same selection in this process: the checkpoint's supernet on the val half's first 32
        // images, in the search's batches of 16.
        let job = try PerturbationJob(folder: out, images: 32)
        #expect(job.imageCount == 32 && job.batches.map(\.labels.count) == [16, 16] && job.batchSize == 16)
        #expect(job.sharing(ranks: 1) == "" && job.sharing(ranks: 2) == ", shared by 2 ranks")
        // The search's val half has 64 images: 4 batches at most.
        #expect(job.sharing(ranks: 3) == ", 2 for 3 ranks: 1 of them idle; give --selection-images 48 for one batch a rank, or use fewer ranks")
        #expect(job.sharing(ranks: 5) == ", 2 for 5 ranks: 3 of them idle; the val half's 64 images make 4 batches: use at most that many ranks")
        let (genotype, record) = job.select()
        #expect(printed == genotype)
        let written = try JSONDecoder().decode(PerturbationJob.Scores.self, from: Data(contentsOf: scores))
        #expect(written == job.scores(genotype, record) && written.genotype == printed && written.primitives.first == "none")
        #expect(written.run == out.path && written.images == 32 && written.batchSize == 16 && written.step == 4)
        // The weights are the final alphas' softmax, and the baseline is the supernet's own forward
        // pass (training-mode batch norm) over the two batches.
        let trained = try LastEpochAlphas(folder: out)
        #expect(zip(job.weightsNormal.joined(), trained.normal.joined()).allSatisfy { abs($0 - $1) < 1e-6 })
        var hits = 0, loss = 0.0
        job.state.network.train()
        for batch in job.batches {
            let logits = Autograd.withoutRecording { job.state.network(batch.images) }
            loss += Double(crossEntropy(logits, labels: batch.labels).scalar) * 16
            hits += labelRanks(logits, labels: batch.labels).filter { $0 == 0 }.count
        }
        #expect(record.baseline == .init(accuracy: Double(hits) / 32, loss: loss / 32))
        #expect(record.baseline.loss.isFinite)
        // Two ranks share the batches and give the same genotype and the same scores, bit for bit.
        let scores2 = tmp.appendingPathComponent("scores-2.json")
        let two = try CommandRunner.run(["genotype", out.path, "--selection", "perturbation", "--selection-images", "32",
                                         "--scores", scores2.path, "--format", "json"], ranks: 2)
        #expect(two.status == 0 && two.stdout == result.stdout, "\(two.all)")
        #expect(two.stderr.contains("on 32 val-half images (batches of 16, shared by 2 ranks)"), "\(two.all)")
        var writtenByTwo = try JSONDecoder().decode(PerturbationJob.Scores.self, from: Data(contentsOf: scores2))
        #expect(writtenByTwo.ranks == 2)
        writtenByTwo.ranks = 1
        #expect(writtenByTwo == written)
        // Ctrl-C during the measurements: one line saying nothing was written; the process ends by the signal.
        let stopped = tmp.appendingPathComponent("stopped.json")
        let interrupted = try BackgroundJob(["genotype", out.path, "--selection", "perturbation", "--selection-images", "64",
                                            "--scores", stopped.path])
        #expect(interrupted.waitForOutput("measured 1/221"), "\(interrupted.all)")
        kill(interrupted.process.processIdentifier, SIGINT)
        interrupted.waitForExit()
        #expect(interrupted.process.terminationReason == .uncaughtSignal && interrupted.process.terminationStatus == SIGINT, "\(interrupted.all)")
        #expect(interrupted.stderr.contains("interrupted: the perturbation-based selection on \(out.path) stopped before its end; "
                                            + "nothing was printed or written"), "\(interrupted.all)")
        #expect(interrupted.stdout.isEmpty && !FileManager.default.fileExists(atPath: stopped.path))
        // Measuring leaves the batch-norm running statistics as they were.
        let statistics = job.state.buffers.snapshot()
        _ = job.measure(normal: job.weightsNormal, reduce: job.weightsReduce)
        #expect(job.state.buffers.snapshot() == statistics)
        // A measurement is repeatable: the same mask, the same score.
        var masked = job.weightsReduce
        masked[6][Primitive.dilConv5x5.index] = 0
        #expect(job.measure(normal: job.weightsNormal, reduce: masked) == record.operationScores["reduce"]![6][Primitive.dilConv5x5.index])
    }

    @Test func perturbationSelectionRefusesWhatItCannotMeasure() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        func refused(_ arguments: [String], _ message: String) throws {
            let result = try CommandRunner.run(["genotype"] + arguments)
            #expect(result.status != 0 && result.stderr.contains(message) && result.stdout.isEmpty, "\(arguments): \(result.all)")
        }
        try refused(["DARTS_V2", "--selection", "perturbation"],
                    "--selection perturbation needs a finished search run folder (it measures the folder's supernet); 'DARTS_V2' is not a folder.")
        try refused([tmp.path, "--selection", "perturbation", "--max-parameter-free", "2"],
                    "--max-parameter-free caps a derivation by alpha magnitude; drop it with --selection perturbation.")
        try refused(["DARTS_V2", "--scores", tmp.appendingPathComponent("s.json").path],
                    "--selection-images, --scores and --data apply only to --selection perturbation; add it or drop them.")
        try refused([tmp.path, "--selection", "perturbation", "--selection-images", "0"], "--selection-images 0 must be at least 1.")
        try refused([tmp.path, "--selection", "perturbation", "--scores", "/proc/scores.json"],
                    getuid() == 0 ? "--scores /proc/scores.json: cannot create a file in /proc ("
                                  : "--scores /proc/scores.json: the folder /proc is not writable; give another path")
        try refused([tmp.path, "--selection", "perturbation", "--scores", tmp.appendingPathComponent("s.json").path,
                     "--dot", tmp.appendingPathComponent("s.json").path],
                    "--scores and --dot both name \(tmp.appendingPathComponent("s.json").path); give them different paths.")
        let png = tmp.appendingPathComponent("s.png").path, dot = tmp.appendingPathComponent("s.dot").path
        try refused([tmp.path, "--selection", "perturbation", "--scores", png, "--dot", dot],
                    "--scores \(png) is the PNG drawn from --dot \(dot); give them different names.")
        try refused([tmp.path, "--selection", "perturbation", "--scores", tmp.path],
                    "--scores \(tmp.path) is a folder; give a file path such as \(tmp.appendingPathComponent("scores.json").path)")

        try refused([tmp.path, "--selection", "perturbation"],
                    "cannot select by perturbation: \(tmp.path) is not a search run folder")

        // Too many images, a search that has not finished, and one with partial channels.
        let plain = tmp.appendingPathComponent("plain")
        let partial = tmp.appendingPathComponent("partial")
        for (out, extra) in [(plain, ["--checkpoint-every", "1"]), (partial, ["--partial-channels", "2"])] {
            let search = try CommandRunner.run(["search", "--subset", "64", "--layers", "3", "--channels", "4", "--batch-size", "16",
                                                "--epochs", "1", "--out", out.path] + extra)
            #expect(search.status == 0, "\(search.all)")
        }
        try refused([plain.path, "--selection", "perturbation", "--selection-images", "40000"],
                    "--selection-images 40000 is more than the 32 images of the search's val half; give at most 32")
        try refused([plain.path, "--selection", "perturbation", "--selection-images", "15"],
                    "--selection-images 15 is less than one batch of the search (16 images); give at least 16")
        // Without --selection-images a val half smaller than the default is measured whole.
        #expect(try PerturbationJob(folder: plain).imageCount == 32)
        try refused([plain.path, "--selection", "perturbation", "--data", tmp.path],
                    "cannot select by perturbation: ")
        let other = try BadData.folder(in: tmp, count: 64)
        let recorded = try #require(try Checkpoint(contentsOf: plain.appendingPathComponent(RunFile.latestCheckpoint)).manifest.dataChecksum)
        try refused([plain.path, "--selection", "perturbation", "--data", other.path],
                    "cannot select by perturbation: \(plain.path): the data in \(other.path) hold other images or labels than the "
                    + "search read, as many of them (checksum ")
        try refused([plain.path, "--selection", "perturbation", "--data", other.path],
                    ", the search's \(recorded); files another darts-dist version decodes differently count as other); "
                    + "give the data the search used with --data")
        // A damaged checkpoint.ckpt that is a file of its own: the newest of checkpoints/ holds the same supernet.
        let checkpoint = plain.appendingPathComponent(RunFile.latestCheckpoint)
        let newest = try #require(RunFolder.checkpointFiles(in: plain).last)
        let intact = try Data(contentsOf: checkpoint)
        #expect(try Data(contentsOf: newest) == intact)
        var damaged = [UInt8](intact)
        damaged[damaged.count / 2] ^= 0x01
        try FileManager.default.removeItem(at: checkpoint)
        try Data(damaged).write(to: checkpoint)
        let damage = "cannot select by perturbation: checkpoint \(checkpoint.path) is damaged: checksum mismatch (truncated or modified); "
        try refused([plain.path, "--selection", "perturbation"],
                    damage + "\(newest.path) holds the finished search's supernet intact: copy it over \(checkpoint.path) and run the command again")
        // Both damaged (a hard link is one file): earlier checkpoints are not the finished supernet.
        // Missing: the same fix.
        try FileManager.default.removeItem(at: checkpoint)
        try refused([plain.path, "--selection", "perturbation"], "cannot select by perturbation: checkpoint \(checkpoint.path) is "
                    + "missing; \(newest.path) holds the finished search's supernet intact: copy it over \(checkpoint.path)")
        // Both damaged (a hard link is one file): earlier checkpoints are not the finished supernet.
        try Data(damaged).write(to: checkpoint)
        try Data(damaged).write(to: newest)
        let noCopy = "; the selection measures the finished search's supernet, and checkpoints/ has no intact copy of it: derive the "
            + "cell by alpha magnitude (darts-dist genotype \(plain.path)) or run the search again"
        try refused([plain.path, "--selection", "perturbation"], damage + noCopy.dropFirst(2))
        // An earlier checkpoint in its place is not measured.
        let earlier = try #require(RunFolder.checkpointFiles(in: plain).dropLast().last)
        try FileManager.default.removeItem(at: checkpoint)
        try FileManager.default.copyItem(at: earlier, to: checkpoint)
        let position = try Checkpoint(contentsOf: earlier).manifest.position
        try refused([plain.path, "--selection", "perturbation"], "cannot select by perturbation: checkpoint \(checkpoint.path) holds "
                    + "the search at \(position), not at its end" + noCopy)
        try intact.write(to: checkpoint)
        try intact.write(to: newest)
        try FileManager.default.removeItem(at: plain.appendingPathComponent(RunFile.result))
        try refused([plain.path, "--selection", "perturbation"],
                    "the search has not finished (no result.json); continue the search with darts-dist search --resume \(plain.path)\n")
        // A search whose folder another process holds (its .lock, as a running search holds it) is named as running.
        let lock = open(plain.appendingPathComponent(RunFile.lock).path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        #expect(lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) == 0)
        _ = ftruncate(lock, 0)
        _ = "process 4242 on node1\n".withCString { write(lock, $0, strlen($0)) }
        try refused([plain.path, "--selection", "perturbation"],
                    "the search has not finished (no result.json); the search is still running (process 4242 on node1): "
                    + "wait until it has ended")
        let retrain = try CommandRunner.run(["retrain", "--resume", plain.path])
        #expect(retrain.status != 0 && retrain.stderr.contains("is a search run folder, not a retrain's; the search is still running "
            + "(process 4242 on node1); once it has ended, retrain its cell with darts-dist retrain --genotype \(plain.path) --out NEW_DIR"),
            "\(retrain.all)")
        // Without its genotype.json (a search ends by writing it), `genotype` and `retrain --genotype` say the same.
        try FileManager.default.removeItem(at: plain.appendingPathComponent(Genotype.fileName))
        let running = "\(plain.path): the search has not finished, so it has no genotype.json yet; the search is still running "
            + "(process 4242 on node1): wait until it has ended, or give one of its epoch_N.genotype.json files"
        for arguments in [["genotype", plain.path], ["retrain", "--genotype", plain.path, "--out", tmp.appendingPathComponent("r").path]] {
            let result = try CommandRunner.run(arguments)
            #expect(result.status != 0 && result.stderr.contains(running), "\(result.all)")
        }
        close(lock)
        try refused([plain.path], "\(plain.path): the search has not finished, so it has no genotype.json yet; continue the search "
                    + "with darts-dist search --resume \(plain.path), or give one of its epoch_N.genotype.json files")
        // A search stopped before its first checkpoint cannot be continued, and has no epoch genotype to give.
        let early = tmp.appendingPathComponent("early")
        try FileManager.default.createDirectory(at: early, withIntermediateDirectories: false)
        try FileManager.default.copyItem(at: plain.appendingPathComponent(RunFile.config), to: early.appendingPathComponent(RunFile.config))
        try refused([early.path], "\(early.path): the search has not finished, so it has no genotype.json yet; it stopped before its "
                    + "first checkpoint, so nothing of it can be continued: start the search again with a new --out\n")
        try refused([partial.path, "--selection", "perturbation"],
                    "perturbation-based selection needs a plain DARTS search; this one ran with --partial-channels 2")
    }
}
