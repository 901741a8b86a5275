import DARTS
import Distributed
import Foundation
import NN

extension SearchJob {
    /// Every rank's batch-norm running statistics, indexed by rank, on rank 0 (empty on the
    /// others): each rank in turn broadcasts its own, so rank 0 receives their exact bits.
    /// Every rank must call it.
    func gatherBuffers(_ state: SearchState) -> [[Float]] {
        var copies: [[Float]] = []
        for r in 0..<communicator.worldSize {
            var buffer = communicator.rank == r ? state.buffers.snapshot() : [Float](repeating: 0, count: state.buffers.count)
            buffer.withUnsafeMutableBufferPointer { communicator.broadcast($0, root: r) }
            if isRoot { copies.append(buffer) }
        }
        return copies
    }

    /// Writes a checkpoint of the search where it stands (rank 0 writes; every rank must call
    /// it, and every rank throws when the write failed). In the middle of an epoch the batch-norm
    /// statistics of every rank are gathered into it; at an epoch's end they are already the
    /// same on every rank.
    /// - Throws: a ``RankFailure`` on every rank with rank 0's ``CheckpointError``.
    func writeCheckpoint(_ run: SearchRun, learningRate: Float, midEpoch: Bool) throws {
        let state = run.state, progress = run.progress, data = run.data
        let rankBuffers = midEpoch && communicator.worldSize > 1 ? gatherBuffers(state) : nil
        try agree {
            guard let folder = run.folder else { return }
            let checkpoint = Checkpoint(state: state, options: options, worldSize: communicator.worldSize,
                                        progress: progress, stepsPerEpoch: data.stepsPerEpoch,
                                        trainImages: data.trainIndices.count, valImages: data.valIndices.count,
                                        dataChecksum: data.checksum,
                                        learningRate: learningRate, rankBuffers: rankBuffers)
            let hooks = self.hooks, rank = communicator.rank
            try folder.writeCheckpoint(checkpoint, keep: options.keepCheckpoints) {
                hooks?.whileWritingCheckpoint(afterStep: progress.globalStep, rank: rank)
            }
        }
        lastCheckpoint = (progress.globalStep, Checkpoint.Manifest.describe(progress, options: options,
                                                                              stepsPerEpoch: data.stepsPerEpoch))
        noteCheckpoint()
    }

    /// The interrupt line once a checkpoint exists (rank 0): the command that resumes from it.
    func noteCheckpoint() {
        guard communicator.rank == 0 else { return }
        InterruptNotice.install(InterruptNotice.afterCheckpoint("search", folder: options.out,
            keeps: "every checkpoint written so far", worldSize: communicator.worldSize))
    }

    /// The message for a search that stopped on a loss or gradient that is not finite: where it
    /// happened, the last good checkpoint (left intact) and how to resume.
    func divergence(_ what: String, epoch: Int, step: Int, stepsPerEpoch: Int, globalStep: Int) -> SearchError {
        divergence("\(what) at epoch \(epoch + 1)/\(options.epochs), step \(step + 1)/\(stepsPerEpoch) "
            + "(step \(globalStep) of the search); the search stopped before applying it. ")
    }

    /// The same for a validation pass whose outputs are not finite (`what`: "the search network
    /// produced non-finite outputs ... for 3 of 64 validation images") at the end of `epoch`:
    /// nothing of the epoch (files, metrics line, checkpoint) is written.
    func validationDivergence(_ what: String, epoch: Int, globalStep: Int) -> SearchError {
        divergence("\(what) at the end of epoch \(epoch + 1)/\(options.epochs) (after step \(globalStep) of the search): "
            + "its weights or batch-norm statistics hold NaN or infinity; the search stopped before writing the epoch's files. ")
    }

    /// `start`, then the last good checkpoint and how to resume, or that there is none yet.
    private func divergence(_ start: String) -> SearchError {
        var message = start
        if let (checkpointStep, position) = lastCheckpoint {
            let file = URL(fileURLWithPath: options.out).appendingPathComponent(RunFile.checkpoints)
                .appendingPathComponent(RunFolder.checkpointName(step: checkpointStep))
            message += "The last good checkpoint, \(file.path) (\(position)), is intact: resume with "
                + "`darts-dist search --resume \(options.out)`. The same settings on the same data take the same steps, "
                + "so if the loss diverges again start a new search with a lower --lr or --arch-lr"
        } else {
            message += "No checkpoint was written yet: start a new search with a lower --lr or --arch-lr"
        }
        return SearchError.diverged(message)
    }
}

extension Checkpoint.Manifest {
    /// "epoch 3/8, step 2/6" or "end of epoch 2/8", as ``position``.
    static func describe(_ progress: SearchProgress, options: SearchOptions, stepsPerEpoch: Int) -> String {
        progress.stepInEpoch == 0
            ? "end of epoch \(progress.epoch)/\(options.epochs)"
            : "epoch \(progress.epoch + 1)/\(options.epochs), step \(progress.stepInEpoch)/\(stepsPerEpoch)"
    }
}
