import DARTS
import DartsTensor
import Datasets
import Distributed
import Foundation

/// Perturbation-based selection (``PerturbationSelection``, docs/algorithm.md §11.5) on a finished
/// search run folder: its supernet (weights and alphas of the newest checkpoint) is measured on
/// the first `images` images of the search's own val half, the half that trained the alphas, so
/// the choice sees validation data only: 221 forward passes over the images. Under MPI every rank
/// loads the search and measures its share of the batches (batch b on rank b mod P); the
/// per-batch sums are gathered and added in batch order, so every rank, and any number of ranks,
/// gets the scores of one process bit for bit, and the same genotype.
///
/// Batch norm uses the statistics of each batch, as the search trained it and as DARTS-PT
/// measures (its `infer` with `_eval=False`); batches are the search's micro-batch (the global batch
/// divided by ranks x accumulated micro-batches), taken in the val half's order, without augmentation.
public struct PerturbationJob {
    /// The search run folder.
    public let folder: URL
    let state: SearchState
    /// This rank's selection batches, and the index of each among all of them.
    let batches: [LabeledBatch]
    let batchIndices: [Int]
    /// The batches of all ranks.
    let batchCount: Int
    /// The images of the search's val half, the most `--selection-images` can be.
    let valHalfImages: Int
    let communicator: Communicator
    /// The images of a batch: the search's micro-batch.
    public let batchSize: Int
    /// The search step of the checkpoint measured.
    public let step: Int
    /// The supernet's operation weights, softmax(alpha), 14 rows of 8 per cell type.
    public let weightsNormal: [[Float]]
    public let weightsReduce: [[Float]]

    /// The default number of selection images: 0.1-point steps of accuracy, about 4 s a
    /// measurement for `search --preset small`'s network on one core.
    public static let defaultImages = 1024

    /// Loads the search.
    /// - Parameters:
    ///   - folder: a search run folder that has finished (holds result.json and checkpoint.ckpt).
    ///   - images: how many of the val half's images measure each mask, from the first; at least one
    ///     micro-batch. nil: ``defaultImages``, or the whole val half when it is smaller.
    ///   - data: the folder of the search's data set when it has moved since the search (nil: the search's own).
    /// - Throws: ``SelectionError`` naming the folder and the fix: not a finished search (or one still
    ///   running), a checkpoint.ckpt that is missing, damaged or not at the search's end, a search
    ///   with `--partial-channels` or `--auxiliary-skip`, data other than the search's (counts or
    ///   checksum), more images than the val half has, or fewer than one batch; `CheckpointError`
    ///   for a checkpoint of another kind, `DatasetError` for missing data.
    public init(folder: URL, images requested: Int? = nil, data dataFolder: String? = nil,
                communicator: Communicator = SingleProcessCommunicator()) throws {
        self.folder = folder
        self.communicator = communicator
        let path = folder.path
        switch RunKind.of(folder: folder) {
        case .search?:
            break
        case .retrain?:
            throw SelectionError("\(path) is a retrain run folder; give the folder of the search whose cell it trained")
        case nil:
            throw SelectionError("\(path) is not a search run folder (it has no search config.json or checkpoint.ckpt); "
                                 + "give the folder a `darts-dist search` wrote")
        }
        guard RunKind.isFinished(folder) else {
            throw SelectionError("\(path): the search has not finished (no \(RunFile.result)); "
                + (RunKind.search.stillRunning(path).map { "\($0): wait until it has ended" }
                   ?? RunKind.search.whatToDo(with: path, finished: false)))
        }
        let latest = folder.appendingPathComponent(RunFile.latestCheckpoint)
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint(contentsOf: latest)
        } catch CheckpointError.corrupt(let file, let why) {
            throw Self.notTheFinishedSupernet("checkpoint \(file) is damaged: \(why)", folder: folder)
        } catch CheckpointError.unreadable(let file, let why) {
            throw Self.notTheFinishedSupernet(FileManager.default.fileExists(atPath: file) ? "cannot read checkpoint \(file): \(why)"
                                                                                          : "checkpoint \(file) is missing", folder: folder)
        }
        guard checkpoint.manifest.epoch == checkpoint.manifest.options.epochs else {
            throw Self.notTheFinishedSupernet("checkpoint \(latest.path) holds the search at \(checkpoint.manifest.position), not at "
                                              + "its end", folder: folder)
        }
        let manifest = checkpoint.manifest
        let options = manifest.options
        guard options.partialChannels == 1, !options.auxiliarySkip else {
            throw SelectionError("\(path): perturbation-based selection needs a plain DARTS search; this one ran with "
                + (options.partialChannels > 1 ? "--partial-channels \(options.partialChannels)" : "--auxiliary-skip")
                + " (its edges do not reduce to softmax(alpha) x operation); derive its genotype by alpha magnitude instead")
        }
        var dataOptions = options
        if let dataFolder { dataOptions.data = dataFolder }
        let data = try SearchData(options: dataOptions, kind: try options.datasetKind(), rank: 0, worldSize: 1)
        if let mismatch = data.mismatch(with: manifest) {
            throw SelectionError("\(path): the data in \(data.folder) \(mismatch); give the data the search used with --data")
        }
        valHalfImages = data.valIndices.count
        let images = requested ?? min(Self.defaultImages, data.valIndices.count)
        guard images <= data.valIndices.count else {
            throw SelectionError("--selection-images \(images) is more than the \(data.valIndices.count) images of the "
                                 + "search's val half; give at most \(data.valIndices.count)")
        }
        // The micro-batch each rank trained on: global batch / (ranks x accumulate), at least 1.
        let (ranksTimesAccumulate, overflow) = manifest.worldSize.multipliedReportingOverflow(by: max(1, options.accumulate))
        let batch = overflow ? 1 : max(1, options.batchSize / max(1, ranksTimesAccumulate))
        guard images >= batch else {
            throw SelectionError("--selection-images \(images) is less than one batch of the search (\(batch) images); give at least \(batch)")
        }
        let config = options.searchConfiguration(inputChannels: data.dataset.channels, imageSize: data.dataset.height,
                                                 classes: data.dataset.classCount)
        var rng = RandomGenerator(seed: options.seed)
        state = SearchState(network: SearchNetwork(config, rng: &rng))
        try checkpoint.restore(into: state, rank: 0, worldSize: 1, path: folder.appendingPathComponent(RunFile.latestCheckpoint).path)
        var batches: [LabeledBatch] = []
        batchCount = images / batch   // whole batches only: batch statistics of one size
        batchIndices = Array(stride(from: communicator.rank, to: batchCount, by: communicator.worldSize))
        for b in batchIndices {
            let part = Array(data.valIndices[(b * batch)..<((b + 1) * batch)])
            let tensor = Tensor(shape: [part.count, data.dataset.channels, data.dataset.height, data.dataset.width])
            var labels = [Int32](repeating: 0, count: part.count)
            data.fill(part, tensor, &labels, .none, 0, stream: 3)
            batches.append(LabeledBatch(images: tensor, labels: labels))
        }
        self.batches = batches
        batchSize = batch
        step = manifest.step
        let weights = state.network.edgeOperationWeights()
        (weightsNormal, weightsReduce) = (weights.normal, weights.reduce)
    }

    /// The refusal of a search folder whose checkpoint.ckpt does not hold the finished search's
    /// supernet (`problem` says why). checkpoint.ckpt is a hard link to the newest file of
    /// checkpoints/, or a copy of it where the file system has no hard links (or the folder was
    /// copied without them): when that file is intact and at the search's end, it is the fix.
    static func notTheFinishedSupernet(_ problem: String, folder: URL) -> SelectionError {
        let latest = folder.appendingPathComponent(RunFile.latestCheckpoint).path
        if let newest = RunFolder.checkpointFiles(in: folder).last, let copy = try? Checkpoint(contentsOf: newest),
           copy.manifest.epoch == copy.manifest.options.epochs {
            return SelectionError("\(problem); \(newest.path) holds the finished search's supernet intact: copy it over "
                + "\(latest) and run the command again")
        }
        return SelectionError("\(problem); the selection measures the finished search's supernet, and \(RunFile.checkpoints)/ "
            + "has no intact copy of it: derive the cell by alpha magnitude (darts-dist genotype \(folder.path)) or run the "
            + "search again")
    }

    /// The images measured per mask (whole batches, over all ranks).
    public var imageCount: Int { batchCount * batchSize }

    /// How the batches are shared, for the command's first line: "" on one rank, ", shared by 2
    /// ranks" when every rank has a batch, and otherwise how many ranks idle and the fix: more
    /// images when the val half has them, else fewer ranks.
    public func sharing(ranks: Int) -> String {
        guard ranks > 1 else { return "" }
        guard batchCount < ranks else { return ", shared by \(ranks) ranks" }
        let idle = ", \(batchCount) for \(ranks) ranks: \(ranks - batchCount) of them idle; "
        let (needed, overflow) = ranks.multipliedReportingOverflow(by: batchSize)
        if !overflow && needed <= valHalfImages {
            return idle + "give --selection-images \(needed) for one batch a rank, or use fewer ranks"
        }
        return idle + "the val half's \(valHalfImages) images make \(valHalfImages / batchSize) batches: use at most that many ranks"
    }

    /// Top-1 accuracy and mean loss of the supernet on the selection images with the given
    /// operation weights (14 rows of 8 per cell type) in place of softmax(alpha). Batch norm in
    /// training mode, without recording a graph; the running statistics are left as they were.
    public func measure(normal: [[Float]], reduce: [[Float]]) -> PerturbationSelection.Score {
        let network = state.network
        let statistics = state.buffers.snapshot()
        defer { state.buffers.load(statistics) }
        network.train()
        let shape = [CellLayout.edgeCount, Primitive.count]
        let w = (Tensor(shape: shape, values: normal.flatMap { $0 }), Tensor(shape: shape, values: reduce.flatMap { $0 }))
        // Per batch: top-1 hits and the batch's mean loss, in its own slots; every other rank's
        // slots hold 0, so the allreduce's sums are exact and the totals are added in batch order.
        var perBatch = [Double](repeating: 0, count: 2 * batchCount)
        Autograd.withoutRecording {
            for (batch, b) in zip(batches, batchIndices) {
                let logits = network.logits(batch.images, operationWeightsNormal: w.0, reduce: w.1)
                perBatch[2 * b] = Double(labelRanks(logits, labels: batch.labels).filter { $0 == 0 }.count)
                perBatch[2 * b + 1] = Double(crossEntropy(logits, labels: batch.labels).scalar)
            }
        }
        if communicator.worldSize > 1 { communicator.allreduceSum(&perBatch) }
        var hits = 0.0, loss = 0.0
        for b in 0..<batchCount {
            hits += perBatch[2 * b]
            loss += perBatch[2 * b + 1] * Double(batchSize)
        }
        let count = Double(max(imageCount, 1))
        return .init(accuracy: hits / count, loss: loss / count)
    }

    /// Runs the selection.
    /// - Parameter progress: called after each measurement with the count done.
    public func select(progress: (Int) -> Void = { _ in }) -> (genotype: Genotype, record: PerturbationSelection.Record) {
        defer { TensorMemoryPool.releaseCached() }
        return PerturbationSelection.select(weightsNormal: weightsNormal, weightsReduce: weightsReduce,
                                            measure: { measure(normal: $0, reduce: $1) }, progress: progress)
    }
}

extension PerturbationJob {
    /// What `genotype --scores` writes: the selection's measurements and what they were taken on.
    public struct Scores: Codable, Equatable {
        /// The search run folder and the step of its checkpoint.
        public var run: String
        public var step: Int
        /// The images measured (the first of the val half) and the batch they were taken in.
        public var images: Int
        public var batchSize: Int
        /// The ranks that shared the batches (the scores do not depend on it).
        public var ranks: Int
        /// The operation names, in the order of each row of `selection.operationScores` (PRIMITIVES).
        public var primitives: [String]
        /// The genotype chosen from these scores.
        public var genotype: Genotype
        public var selection: PerturbationSelection.Record

        /// Pretty-printed JSON, keys sorted; a non-finite score is written as the string "nan" or "inf".
        public func encoded() throws -> Data {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            return try encoder.encode(self)
        }
    }

    /// The record of a selection on this job.
    public func scores(_ genotype: Genotype, _ record: PerturbationSelection.Record) -> Scores {
        Scores(run: folder.path, step: step, images: imageCount, batchSize: batchSize, ranks: communicator.worldSize,
               primitives: Primitive.allCases.map(\.rawValue), genotype: genotype, selection: record)
    }
}

/// Why a perturbation-based selection cannot run, in a sentence naming the input and the fix.
public struct SelectionError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
