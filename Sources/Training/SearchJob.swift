import DARTS
import DartsTensor
import Datasets
import Distributed
import Foundation
import NN

/// The outcome of a search.
public struct SearchResult: Codable, Sendable {
    public let genotype: Genotype
    public let genotypeText: String
    /// Top-1 accuracy (0...1) of the search network on the validation half after the last epoch.
    public let validationAccuracy: Double
    public let validationLoss: Double
    public let epochs: Int
    public let steps: Int
    public let worldSize: Int
    /// Wall-clock seconds of the whole search, and of its training steps alone.
    public let seconds: Double
    public let stepSeconds: Double
    /// Training images (global) per second of step time.
    public let imagesPerSecond: Double
    /// Hashes of the exact bits of the final weights and alphas (equal on every rank).
    public let weightsChecksum: String
    public let alphasChecksum: String
    /// Every rank's "weights/alphas" checksum pair, indexed by rank, and its host.
    public let rankChecksums: [String]
    public let rankHosts: [String]
}

/// A data-parallel DARTS search (DARTS.md §2) on every rank of `communicator`: the same network
/// and alphas everywhere (broadcast from rank 0), each global batch split into one shard per rank,
/// gradients averaged by allreduce before every optimizer step. Rank 0 prints and writes the run
/// folder; validation is sharded over the ranks and reduced, so it equals one rank validating alone.
public final class SearchJob {
    public let options: SearchOptions
    let parallel: DataParallel
    let communicator: Communicator
    /// Where rank 0's progress lines go (stdout by default).
    public var printLine: (String) -> Void = { print($0); fflush(stdout) }

    public init(options: SearchOptions, communicator: Communicator) {
        self.options = options
        self.communicator = communicator
        parallel = DataParallel(communicator: communicator)
    }

    var isRoot: Bool { communicator.rank == 0 }

    func say(_ line: String) { if isRoot { printLine(line) } }

    func agree(_ body: () throws -> Void) throws { try communicator.agree(body) }

    /// Runs the search to the end.
    /// - Throws: `RankFailure` (bad options, data or output folder on any rank) and ``SearchError``
    ///   (diverging loss or ranks), on every rank at the same point.
    @discardableResult
    public func run() throws -> SearchResult {
        let started = Date()
        let rank = communicator.rank, worldSize = communicator.worldSize
        var kind = DatasetKind.fashionMNIST
        try agree {
            try options.validate(worldSize: worldSize)
            kind = try options.datasetKind()
        }
        let folder = options.data ?? kind.defaultFolder

        // Data: every rank reads the files itself (they are on every host).
        var dataset: ImageDataset!
        var trainIndices: [Int] = [], valIndices: [Int] = []
        try agree {
            var all = try loadDataset(kind, folder: folder, split: .train)
            if let subset = options.subset {
                guard subset <= all.count else {
                    throw SearchError.invalidOption("--subset \(subset) is larger than the \(all.count) training images")
                }
                all = all.prefix(subset)
            }
            dataset = all
            (trainIndices, valIndices) = try splitTrainVal(count: all.count, trainPortion: options.trainPortion)
            let smaller = min(trainIndices.count, valIndices.count)
            guard options.batchSize <= smaller else {
                throw SearchError.invalidOption("--batch-size \(options.batchSize) is larger than the train or val half "
                    + "(\(trainIndices.count) and \(valIndices.count) images); lower --batch-size or raise --subset")
            }
        }
        var trainSampler: DistributedSampler!, valSampler: DistributedSampler!
        try agree {
            trainSampler = try DistributedSampler(count: trainIndices.count, globalBatchSize: options.batchSize,
                                                  rank: rank, worldSize: worldSize, seed: options.seed)
            valSampler = try DistributedSampler(count: valIndices.count, globalBatchSize: options.batchSize,
                                                rank: rank, worldSize: worldSize, seed: options.seed &+ 0x5EED)
        }
        let stepsPerEpoch = min(trainSampler.batchCount, valSampler.batchCount)
        let augmentation = Augmentation.standard(kind)

        // The network, identical on every rank: same seed, then rank 0's values broadcast.
        let config = SearchConfiguration(inputChannels: dataset.channels, imageSize: dataset.height,
                                         channels: options.channels, layers: options.layers, classes: dataset.classCount)
        var rng = RandomGenerator(seed: options.seed)
        let network = SearchNetwork(config, rng: &rng)
        let state = SearchState(network: network, learningRate: options.learningRate, momentum: options.momentum,
                                weightDecay: options.weightDecay, alphaLearningRate: options.archLearningRate,
                                alphaWeightDecay: options.archWeightDecay)
        parallel.broadcastFromRoot(state.weights.values)
        parallel.broadcastFromRoot(state.alphas.values)
        parallel.broadcastFromRoot(state.buffers.values)
        let architect = Architect(state: state, parallel: parallel)
        let step = SearchStep(state: state, architect: architect, parallel: parallel, gradClip: options.gradClip,
                              secondOrder: options.secondOrder)
        let schedule = CosineAnnealingLR(maxLearningRate: options.learningRate, minLearningRate: options.learningRateMin,
                                         epochs: options.epochs)

        // Run folder (rank 0).
        var run: RunFolder?
        let hosts = communicator.allgather(communicator.hostName)
        try agree {
            guard isRoot else { return }
            run = try RunFolder(path: options.out)
            try run!.writeJSON("config.json", RunConfig(options: options, worldSize: worldSize, hosts: hosts,
                dataFolder: folder, trainImages: trainIndices.count, valImages: valIndices.count,
                augmentation: augmentation.description, weights: state.weights.count, alphas: state.alphas.count,
                stepsPerEpoch: stepsPerEpoch))
        }
        say("darts-dist search: \(kind.rawValue) \(dataset.channels)x\(dataset.height)x\(dataset.width), "
            + "\(trainIndices.count) train / \(valIndices.count) val images, \(worldSize) rank(s) on \(Set(hosts).sorted().joined(separator: ", "))")
        say("network: C=\(options.channels), \(options.layers) cells, \(state.weights.count) weights, \(state.alphas.count) alphas; "
            + "global batch \(options.batchSize) (\(options.batchSize / worldSize) per rank"
            + (options.accumulate > 1 ? " in \(options.accumulate) micro-batches" : "") + "), \(stepsPerEpoch) steps per epoch, "
            + (options.secondOrder ? "second order" : "first order") + "; output in \(options.out)")

        let local = options.batchSize / worldSize
        let micro = local / options.accumulate
        let shape = [micro, dataset.channels, dataset.height, dataset.width]
        let trainImages = (0..<options.accumulate).map { _ in Tensor(shape: shape) }
        let valImages = (0..<options.accumulate).map { _ in Tensor(shape: shape) }
        var trainLabels = [[Int32]](repeating: [Int32](repeating: 0, count: micro), count: options.accumulate)
        var valLabels = trainLabels
        var stepSeconds = 0.0
        var totalSteps = 0
        var lastValidation = (loss: 0.0, accuracy: 0.0)
        let totalPlanned = stepsPerEpoch * options.epochs

        for epoch in 0..<options.epochs {
            let lr = schedule.learningRate(epoch: epoch)
            state.weightOptimizer.learningRate = lr
            let trainShards = trainSampler.indices(epoch: epoch)
            let valShards = valSampler.indices(epoch: epoch)
            var sums = [0.0, 0.0, 0.0, 0.0]   // loss * n, correct, n, val loss * n (architect)
            let epochStart = Date()
            for stepIndex in 0..<stepsPerEpoch {
                let t0 = Date()
                // This rank's shard, as `accumulate` consecutive micro-batches.
                var train: [LabeledBatch] = [], val: [LabeledBatch] = []
                for k in 0..<options.accumulate {
                    let part = (k * micro)..<((k + 1) * micro)
                    fill(dataset, trainShards[stepIndex][part].map { trainIndices[$0] }, trainImages[k], &trainLabels[k], augmentation, epoch, stream: 1)
                    fill(dataset, valShards[stepIndex][part].map { valIndices[$0] }, valImages[k], &valLabels[k], augmentation, epoch, stream: 2)
                    train.append(LabeledBatch(images: trainImages[k], labels: trainLabels[k]))
                    val.append(LabeledBatch(images: valImages[k], labels: valLabels[k]))
                }

                let (archLoss, loss, correct) = step.run(train: train, val: val, learningRate: lr)

                var stepSums = [Double(loss) * Double(local), Double(correct), Double(local), Double(archLoss) * Double(local)]
                communicator.allreduceSum(&stepSums)
                for i in 0..<4 { sums[i] += stepSums[i] }
                guard stepSums[0].isFinite else {
                    throw SearchError.diverged("the training loss became \(stepSums[0]) at epoch \(epoch + 1), step \(stepIndex + 1); "
                        + "lower --lr or --arch-lr")
                }
                stepSeconds += Date().timeIntervalSince(t0)
                totalSteps += 1
                if let every = options.checkEvery, totalSteps % every == 0 { try checkConsistency(state) }
                if isRoot && ((stepIndex + 1) % options.printEvery == 0 || stepIndex + 1 == stepsPerEpoch) {
                    let perStep = stepSeconds / Double(totalSteps)
                    let eta = perStep * Double(totalPlanned - totalSteps)
                    say(String(format: "epoch %d/%d step %d/%d  loss %.4f  acc %.2f%%  lr %.5f  %.1f img/s  %.2f s/step  ETA %@",
                               epoch + 1, options.epochs, stepIndex + 1, stepsPerEpoch, sums[0] / sums[2], 100 * sums[1] / sums[2],
                               lr, Double(options.batchSize) / perStep, perStep, formatDuration(eta)))
                }
            }
            let epochSeconds = Date().timeIntervalSince(epochStart)

            // Batch-norm statistics are per rank during training (DDP without SyncBN): average them
            // so that every rank validates, and later checkpoints, the same network.
            parallel.average(state.buffers.values)
            lastValidation = validate(state: state, dataset: dataset, indices: valIndices)
            if options.checkEvery == nil { try checkConsistency(state) }

            let genotype = network.genotype()
            say(String(format: "epoch %d/%d done in %.1f s: train loss %.4f acc %.2f%%, val loss %.4f acc %.2f%%",
                       epoch + 1, options.epochs, epochSeconds, sums[0] / sums[2], 100 * sums[1] / sums[2],
                       lastValidation.loss, 100 * lastValidation.accuracy))
            say("genotype = \(genotype.dartsText)")
            try agree {
                guard let run else { return }
                try Checkpoint(state: state, options: options, worldSize: worldSize, epoch: epoch + 1, step: totalSteps)
                    .write(to: run.url.appendingPathComponent("checkpoint.ckpt"))
                try run.write("epoch_\(epoch).genotype.txt", text: genotype.dartsText)
                try run.writeJSON("epoch_\(epoch).genotype.json", genotype)
                try run.write("epoch_\(epoch).json", data: try genotype.nniJSON())   // NNI's exported architecture
                try run.writeJSON("epoch_\(epoch).alphas.json", AlphaRecord(epoch: epoch, network: network))
                try run.appendMetrics(EpochMetrics(epoch: epoch, learningRate: lr, trainLoss: sums[0] / sums[2],
                    trainAccuracy: sums[1] / sums[2], archLoss: sums[3] / sums[2], validationLoss: lastValidation.loss,
                    validationAccuracy: lastValidation.accuracy, seconds: epochSeconds, steps: stepsPerEpoch,
                    imagesPerSecond: Double(stepsPerEpoch * options.batchSize) / epochSeconds))
            }
        }

        let genotype = network.genotype()
        let rankChecksums = communicator.allgather(
            String(state.weights.checksum(), radix: 16) + "/" + String(state.alphas.checksum(), radix: 16))
        let result = SearchResult(genotype: genotype, genotypeText: genotype.dartsText,
            validationAccuracy: lastValidation.accuracy, validationLoss: lastValidation.loss, epochs: options.epochs,
            steps: totalSteps, worldSize: worldSize, seconds: Date().timeIntervalSince(started), stepSeconds: stepSeconds,
            imagesPerSecond: Double(totalSteps * options.batchSize) / max(stepSeconds, 1e-9),
            weightsChecksum: String(state.weights.checksum(), radix: 16), alphasChecksum: String(state.alphas.checksum(), radix: 16),
            rankChecksums: rankChecksums, rankHosts: hosts)
        try agree {
            guard let run else { return }
            try run.write("genotype.txt", text: genotype.dartsText)
            try run.writeJSON("genotype.json", genotype)
            try run.writeJSON("result.json", result)
        }
        say(String(format: "search finished in %@: final validation accuracy %.2f%%", formatDuration(result.seconds),
                   100 * result.validationAccuracy))
        say("final genotype = \(genotype.dartsText)")
        let identical = Set(rankChecksums).count == 1
        say("weights/alphas checksums: " + (identical ? "\(rankChecksums[0]), identical on all \(worldSize) rank(s)"
                                            : "DIFFER across ranks: \(rankChecksums.joined(separator: ", "))"))
        RankSummary.gather(parallel: parallel, steps: totalSteps, stepSeconds: stepSeconds).lines.forEach(say)
        if let run { say(RunPictures.draw(in: run)) }
        return result
    }

    /// Gathers one shard into the batch tensors. Each image's augmentation draws from a generator
    /// keyed by (seed, epoch, stream, image index), so it does not depend on which rank holds it.
    func fill(_ dataset: ImageDataset, _ indices: [Int], _ images: Tensor, _ labels: inout [Int32],
              _ augmentation: Augmentation, _ epoch: Int, stream: UInt64) {
        let start = Profiler.now()
        defer { Profiler.add(Profiler.now() - start, to: .data) }
        let imageSize = dataset.imageSize
        labels.withUnsafeMutableBufferPointer { labelBuffer in
            for (row, index) in indices.enumerated() {
                var rng = RandomGenerator(seed: options.seed ^ (UInt64(epoch) << 40) ^ (stream << 60) ^ UInt64(index) &* 0x9E37_79B9)
                fillBatch(dataset, indices: [index], images: images.data + row * imageSize,
                          labels: labelBuffer.baseAddress! + row, augmentation: augmentation, rng: &rng)
            }
        }
    }

    /// Loss and top-1 accuracy on `indices` in evaluation mode (running BN statistics, no graph),
    /// each rank taking every worldSize-th chunk; the sums are reduced over ranks.
    func validate(state: SearchState, dataset: ImageDataset, indices: [Int]) -> (loss: Double, accuracy: Double) {
        let network = state.network
        network.eval()
        state.weights.requiresGrad = false
        state.alphas.requiresGrad = false
        defer {
            network.train()
            state.weights.requiresGrad = true
            state.alphas.requiresGrad = true
        }
        let chunk = 256
        var sums = [0.0, 0.0, 0.0]
        var labels = [Int32](repeating: 0, count: chunk)
        var start = communicator.rank * chunk
        while start < indices.count {
            let part = Array(indices[start..<min(start + chunk, indices.count)])
            let images = Tensor(shape: [part.count, dataset.channels, dataset.height, dataset.width])
            labels = [Int32](repeating: 0, count: part.count)
            fill(dataset, part, images, &labels, .none, 0, stream: 3)
            let logits = network(images)
            let loss = crossEntropy(logits, labels: labels)
            sums[0] += Double(loss.scalar) * Double(part.count)
            sums[1] += Double(topKCorrect(logits, labels: labels).top1)
            sums[2] += Double(part.count)
            start += chunk * communicator.worldSize
        }
        communicator.allreduceSum(&sums)
        TensorMemoryPool.releaseCached()   // validation's batch sizes are not the training step's
        return (sums[0] / sums[2], sums[1] / sums[2])
    }

    /// Compares a hash of the weights, alphas and optimizer state across ranks.
    func checkConsistency(_ state: SearchState) throws {
        var h = state.weights.checksum() ^ (state.alphas.checksum() &* 31)
        for v in state.weightOptimizer.momentumBuffer + state.alphaOptimizer.firstMoment + state.alphaOptimizer.secondMoment {
            h = (h ^ UInt64(v.bitPattern)) &* 0x0000_0100_0000_01b3
        }
        do {
            try parallel.checkConsistency(h, what: "weights, alphas and optimizer states")
        } catch {
            throw SearchError.diverged("\(error)")
        }
    }
}

/// "1h02m", "3m05s", "12s".
func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
}
