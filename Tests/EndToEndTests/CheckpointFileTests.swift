import DARTS
import DartsTensor
import Foundation
import Testing
@testable import Training

/// The checkpoint file and the run folder's checkpoint housekeeping, in process (no binary).
@Suite struct CheckpointFileTests {
    /// A small search state with every section holding distinct values.
    static func state(seed: UInt64 = 1) -> SearchState {
        var rng = RandomGenerator(seed: seed)
        let network = SearchNetwork(SearchConfiguration(inputChannels: 1, imageSize: 8, channels: 4, layers: 3), rng: &rng)
        let state = SearchState(network: network)
        for arena in [state.weights, state.alphas, state.buffers] {
            for i in 0..<arena.count { arena.values[i] = rng.nextNormal() }
        }
        state.weightOptimizer.momentumBuffer = (0..<state.weights.count).map { _ in rng.nextNormal() }
        state.weightOptimizer.hasMomentum = true
        state.alphaOptimizer.firstMoment = (0..<state.alphas.count).map { _ in rng.nextNormal() }
        state.alphaOptimizer.secondMoment = (0..<state.alphas.count).map { _ in abs(rng.nextNormal()) }
        state.alphaOptimizer.stepCount = 17
        return state
    }

    static func checkpoint(_ state: SearchState, step: Int = 6, rankBuffers: [[Float]]? = nil) -> Checkpoint {
        var progress = SearchProgress()
        // Steps per epoch 4: step 6 is step 2 of epoch 2.
        progress.epoch = step / 4
        progress.stepInEpoch = step % 4
        progress.globalStep = step
        progress.epochSums = [12.5, 9, 32, 13.25]
        progress.epochSeconds = 1.5
        return Checkpoint(state: state, options: SearchOptions(), worldSize: 2, progress: progress, stepsPerEpoch: 4,
                          trainImages: 64, valImages: 64, learningRate: 0.019, rankBuffers: rankBuffers)
    }

    static func bits(_ arena: [Float]) -> [UInt32] { arena.map(\.bitPattern) }

    @Test func aDecodedCheckpointRestoresEveryTensorAndOptimizerStateBitForBit() throws {
        let original = Self.state()
        let data = try Self.checkpoint(original).encoded()
        let decoded = try Checkpoint(data: data, path: "x")
        #expect(decoded.manifest == Self.checkpoint(original).manifest)
        #expect(decoded.manifest.position == "epoch 2/50, step 2/4")
        let copy = Self.state(seed: 99)
        try decoded.restore(into: copy, path: "x")
        #expect(Self.bits(copy.weights.snapshot()) == Self.bits(original.weights.snapshot()))
        #expect(Self.bits(copy.alphas.snapshot()) == Self.bits(original.alphas.snapshot()))
        #expect(Self.bits(copy.buffers.snapshot()) == Self.bits(original.buffers.snapshot()))
        #expect(Self.bits(copy.weightOptimizer.momentumBuffer) == Self.bits(original.weightOptimizer.momentumBuffer))
        #expect(copy.weightOptimizer.hasMomentum)
        #expect(Self.bits(copy.alphaOptimizer.firstMoment) == Self.bits(original.alphaOptimizer.firstMoment))
        #expect(Self.bits(copy.alphaOptimizer.secondMoment) == Self.bits(original.alphaOptimizer.secondMoment))
        #expect(copy.alphaOptimizer.stepCount == 17)
    }

    @Test func everyRankGetsItsOwnBatchNormStatisticsAndAnotherWorldSizeTheirMean() throws {
        let state = Self.state()
        let n = state.buffers.count
        let rank0 = [Float](repeating: 1, count: n), rank1 = [Float](repeating: 2, count: n)
        let decoded = try Checkpoint(data: try Self.checkpoint(state, rankBuffers: [rank0, rank1]).encoded(), path: "x")
        #expect(decoded.manifest.bufferCopies == 2)
        try decoded.restore(into: state, rank: 1, worldSize: 2, path: "x")
        #expect(state.buffers.snapshot() == rank1)
        try decoded.restore(into: state, rank: 0, worldSize: 2, path: "x")
        #expect(state.buffers.snapshot() == rank0)
        try decoded.restore(into: state, rank: 0, worldSize: 1, path: "x")
        #expect(state.buffers.snapshot() == [Float](repeating: 1.5, count: n))
    }

    @Test func anyFlippedByteOrTruncationIsDetected() throws {
        let data = try Self.checkpoint(Self.state()).encoded()
        var positions = Array(stride(from: 0, to: data.count, by: max(1, data.count / 300)))
        positions.append(data.count - 1)
        for position in positions {
            var damaged = data
            damaged[position] ^= 0x10
            #expect(throws: CheckpointError.self, "byte \(position) flipped") { try Checkpoint(data: damaged, path: "x") }
        }
        for length in [0, 7, 23, 100, data.count / 2, data.count - 1] {
            #expect(throws: CheckpointError.self, "truncated to \(length)") { try Checkpoint(data: data.prefix(length), path: "x") }
        }
    }

    @Test func aCheckpointOfAnotherNetworkIsRefused() throws {
        let data = try Self.checkpoint(Self.state()).encoded()
        var rng = RandomGenerator(seed: 1)
        let other = SearchState(network: SearchNetwork(SearchConfiguration(inputChannels: 1, imageSize: 8, channels: 4, layers: 4), rng: &rng))
        let error = #expect(throws: CheckpointError.self) { try Checkpoint(data: data, path: "x.ckpt").restore(into: other, path: "x.ckpt") }
        #expect("\(error!)".contains("checkpoint x.ckpt does not fit this search: its network"))
    }

    @Test func aFailedWriteLeavesTheExistingFileAndNoTemporaryFile() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let file = tmp.appendingPathComponent("checkpoint.ckpt")
        try Data("earlier".utf8).write(to: file)
        // A target whose name is a folder cannot be replaced by the rename.
        let folder = tmp.appendingPathComponent("folder.ckpt")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("inside"), withIntermediateDirectories: true)
        // Refused before anything is written: a path that is not a regular file is never replaced.
        let error = #expect(throws: OutputPathError.self) { try Self.checkpoint(Self.state()).write(to: folder) }
        #expect(error.map { "\($0)" }?.contains("\(folder.path) is a folder, not a regular file") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path).sorted() == ["checkpoint.ckpt", "folder.ckpt"])
        #expect(try Data(contentsOf: file) == Data("earlier".utf8))
    }

    @Test func theRunFolderKeepsTheNewestCheckpointsAndNamesTheLatest() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let run = try RunFolder(path: tmp.appendingPathComponent("run").path)
        let state = Self.state()
        for step in [3, 4, 6, 8, 9] { try run.writeCheckpoint(Self.checkpoint(state, step: step), keep: 2) }
        #expect(RunComparison.checkpointNames(run.url) == ["step_00000008.ckpt", "step_00000009.ckpt"])
        #expect(try Checkpoint(contentsOf: run.latestCheckpoint).manifest.step == 9)
        #expect(try Data(contentsOf: run.latestCheckpoint) == Data(contentsOf: run.checkpointsFolder.appendingPathComponent("step_00000009.ckpt")))
    }

    @Test func resumingDropsMetricsOfUnfinishedEpochsAndCutLinesAndTemporaryFiles() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let url = tmp.appendingPathComponent("run")
        do {
            let run = try RunFolder(path: url.path)
            for epoch in 0..<3 { try run.appendMetrics(["epoch": epoch]) }
        }
        let metrics = url.appendingPathComponent("metrics.jsonl")
        let handle = try FileHandle(forWritingTo: metrics)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"epoch\":3,\"trainLo".utf8))   // a line cut by a kill
        try handle.close()
        // Half a checkpoint left by a kill, in the folder the killed checkpoint write made.
        try FileManager.default.createDirectory(at: url.appendingPathComponent("checkpoints"), withIntermediateDirectories: true)
        try Data("half".utf8).write(to: url.appendingPathComponent("checkpoints/.step_00000012.ckpt.tmp-4242"))
        do {
            let resumed = try RunFolder(resuming: url, completedEpochs: 2)
            try resumed.appendMetrics(["epoch": 2])
        }
        #expect(try String(contentsOf: metrics, encoding: .utf8) == "{\"epoch\":0}\n{\"epoch\":1}\n{\"epoch\":2}\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: url.appendingPathComponent("checkpoints").path).isEmpty)
        // With nothing to drop, metrics.jsonl is appended to, not rewritten.
        let inode = try FileManager.default.attributesOfItem(atPath: metrics.path)[.systemFileNumber] as? Int
        _ = try RunFolder(resuming: url, completedEpochs: 3)
        #expect(try FileManager.default.attributesOfItem(atPath: metrics.path)[.systemFileNumber] as? Int == inode)
    }

    @Test func aSecondWriterOfARunFolderIsRefusedUntilTheFirstHasEnded() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        var first: RunFolder? = try RunFolder(path: tmp.appendingPathComponent("run").path)
        let url = first!.url
        let error = #expect(throws: RunFolderError.self) { try RunFolder(resuming: url, completedEpochs: 0) }
        #expect("\(error!)".contains("another darts-dist run is writing to \(url.path) (process \(getpid()) on "), "\(error!)")
        first = nil   // the first writer ends
        #expect(throws: Never.self) { _ = try RunFolder(resuming: url, completedEpochs: 0) }
    }

    /// A search still running before its first checkpoint is reported as running, not as stopped,
    /// and --out of a folder with nothing to resume does not suggest --resume.
    @Test func aRunningSearchWithoutCheckpointIsNamedAsRunning() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        var first: RunFolder? = try RunFolder(path: tmp.appendingPathComponent("run").path)
        let url = first!.url
        let error = #expect(throws: RunFolderError.self) { try RunFolder.checkNotBeingWritten(url) }
        #expect("\(error!)".contains("another darts-dist run is writing to \(url.path) (process \(getpid()) on "), "\(error!)")
        let occupied = #expect(throws: RunFolderError.self) { try RunFolder.checkCanCreate(path: url.path) }
        #expect("\(occupied!)".contains("already holds a run (2 entries); choose a new --out or move the old run away"),
                "\(occupied!)")
        first = nil   // the search ends
        #expect(throws: Never.self) { try RunFolder.checkNotBeingWritten(url) }
    }

    @Test func resumedOptionsTakeOnlyTheResumableFlagsAndChooseTheMicroBatches() throws {
        var saved = SearchOptions()
        saved.layers = 5
        saved.subset = 128
        let state = Self.state()
        var checkpoint = Self.checkpoint(state)
        checkpoint.manifest.options = saved
        checkpoint.manifest.worldSize = 4
        var given = SearchOptions()
        given.data = "/scratch/fmnist"
        given.printEvery = 7
        given.layers = 5
        let request = ResumeRequest(path: "/runs/a", given: given, givenFlags: ["--data", "--print-every", "--layers"])
        let options = try ResumeState.resumedOptions(checkpoint: checkpoint, checkpointPath: "c", runFolder: URL(fileURLWithPath: "/runs/a"),
                                                     configOptions: saved, request: request, worldSize: 2)
        #expect(options.layers == 5 && options.subset == 128 && options.data == "/scratch/fmnist" && options.printEvery == 7)
        #expect(options.accumulate == 2, "4 ranks x 1 = 2 ranks x 2")
        #expect(options.out == "/runs/a")
        let refused = #expect(throws: SearchError.self) {
            try ResumeState.resumedOptions(checkpoint: checkpoint, checkpointPath: "c", runFolder: URL(fileURLWithPath: "/runs/a"),
                                           configOptions: saved, request: request, worldSize: 3)
        }
        #expect("\(refused!)".contains("3 rank(s) cannot share them equally: resume with P ranks and --accumulate 4/P for P in 1, 2, 4"))
    }
}
