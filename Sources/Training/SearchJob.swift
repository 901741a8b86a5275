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
///
/// Rank 0 writes a checkpoint at the end of every epoch and every `checkpointEvery` steps; a search
/// resumed from one (``ResumeRequest``) takes exactly the steps the uninterrupted search would have
/// taken, and ends with the same weights, alphas and genotype, bit for bit.
public final class SearchJob {
    /// The search's options (for a resumed search, its checkpoint's, once ``run()`` has read it).
    public private(set) var options: SearchOptions
    let resume: ResumeRequest?
    let parallel: DataParallel
    let communicator: Communicator
    /// Where rank 0's progress lines go (stdout by default).
    public var printLine: (String) -> Void = { print($0); fflush(stdout) }
    /// The fault a test injects (DARTS_DIST_FAULT), if any.
    var fault: FaultInjection?
    /// The global step and position of the last checkpoint written or resumed from.
    var lastCheckpoint: (step: Int, position: String)?

    public init(options: SearchOptions, communicator: Communicator, resume: ResumeRequest? = nil) {
        self.options = resume?.given ?? options
        self.resume = resume
        self.communicator = communicator
        parallel = DataParallel(communicator: communicator)
    }

    var isRoot: Bool { communicator.rank == 0 }

    func say(_ line: String) { if isRoot { printLine(line) } }

    func agree(_ body: () throws -> Void) throws { try communicator.agree(body) }

    /// Runs the search to the end, or from its checkpoint to the end when resuming.
    /// - Throws: `RankFailure` (bad options, data, checkpoint or output folder on any rank) and
    ///   ``SearchError`` (a loss or gradient that is not finite, diverging ranks), on every rank at
    ///   the same point.
    @discardableResult
    public func run() throws -> SearchResult {
        let started = Date()
        let rank = communicator.rank, worldSize = communicator.worldSize
        try agree { fault = try FaultInjection.fromEnvironment() }
        try checkSameOptionsOnEveryRank()
        var resumed: ResumeState?
        if let resume {
            resumed = try loadResume(resume)
            options = resumed!.options
        }
        var kind = DatasetKind.fashionMNIST
        try agree {
            try options.validate(worldSize: worldSize)
            kind = try options.datasetKind()
            if resume == nil && isRoot { try RunFolder.checkCanCreate(path: options.out) }
        }
        // Data: every rank reads the files itself (they are on every host).
        var data: SearchData!
        try agree { data = try SearchData(options: options, kind: kind, rank: rank, worldSize: worldSize) }
        let dataset = data.dataset
        let stepsPerEpoch = data.stepsPerEpoch

        // The network, identical on every rank: same seed, then rank 0's values broadcast, or the checkpoint's.
        let config = options.searchConfiguration(inputChannels: dataset.channels, imageSize: dataset.height,
                                                 classes: dataset.classCount)
        var rng = RandomGenerator(seed: options.seed)
        let network = SearchNetwork(config, rng: &rng)
        network.recomputesActivations = options.recompute
        let state = SearchState(network: network, learningRate: options.learningRate, momentum: options.momentum,
                                weightDecay: options.weightDecay, alphaLearningRate: options.archLearningRate,
                                alphaWeightDecay: options.archWeightDecay)
        var progress = SearchProgress()
        if let resumed {
            try agree { try checkResume(resumed, data: data, state: state) }
            progress = resumed.checkpoint.manifest.progress
            lastCheckpoint = (progress.globalStep, resumed.checkpoint.manifest.position)
        } else {
            parallel.broadcastFromRoot(state.weights.values)
            parallel.broadcastFromRoot(state.alphas.values)
            parallel.broadcastFromRoot(state.buffers.values)
        }
        let architect = Architect(state: state, parallel: parallel)
        let searchStep = SearchStep(state: state, architect: architect, parallel: parallel, gradClip: options.gradClip,
                              secondOrder: options.secondOrder)
        let schedule = CosineAnnealingLR(maxLearningRate: options.learningRate, minLearningRate: options.learningRateMin,
                                         epochs: options.epochs)

        // Run folder (rank 0): a new one, or the resumed one with the epochs after its checkpoint dropped.
        var run: RunFolder?
        let hosts = communicator.allgather(communicator.hostName)
        try agree {
            guard isRoot else { return }
            if let resumed {
                run = try RunFolder(resuming: resumed.runFolder, completedEpochs: progress.epoch)
                return
            }
            run = try RunFolder(path: options.out)
            try run!.writeJSON("config.json", RunConfig(options: options, worldSize: worldSize, hosts: hosts,
                dataFolder: data.folder, trainImages: data.trainIndices.count, valImages: data.valIndices.count,
                augmentation: data.augmentation.description, weights: state.weights.count, alphas: state.alphas.count,
                stepsPerEpoch: stepsPerEpoch))
        }
        if isRoot {
            if resumed == nil {
                InterruptNotice.install(InterruptNotice.beforeFirstCheckpoint("search", folder: options.out))
            } else {
                noteCheckpoint()
            }
        }
        defer { InterruptNotice.remove() }
        say("darts-dist search: \(kind.rawValue) \(dataset.channels)x\(dataset.height)x\(dataset.width), "
            + "\(data.trainIndices.count) train / \(data.valIndices.count) val images, \(worldSize) rank(s) on \(Set(hosts).sorted().joined(separator: ", "))")
        say("network: C=\(options.channels), \(options.layers) cells, \(state.weights.count) weights, \(state.alphas.count) alphas; "
            + "global batch \(options.batchSize) (\(options.batchSize / worldSize) per rank"
            + (options.accumulate > 1 ? " in \(options.accumulate) micro-batches" : "") + "), \(counted(stepsPerEpoch, "step")) per epoch, "
            + (options.secondOrder ? "second order" : "first order")
            + (options.recompute ? ", activations recomputed" : "")
            + (options.partialChannels > 1 ? ", partial channels K=\(options.partialChannels)" : "")
            + (options.auxiliarySkip ? ", auxiliary skip" : "") + "; output in \(options.out)")
        if let resumed {
            let m = resumed.checkpoint.manifest
            say("resuming from \(resumed.checkpointPath): \(m.position), written by \(m.worldSize) rank(s)"
                + (m.options.accumulate > 1 ? " x \(m.options.accumulate) micro-batches" : ""))
        }

        let local = options.batchSize / worldSize
        let micro = local / options.accumulate
        let shape = [micro, dataset.channels, dataset.height, dataset.width]
        let trainImages = (0..<options.accumulate).map { _ in Tensor(shape: shape) }
        let valImages = (0..<options.accumulate).map { _ in Tensor(shape: shape) }
        var trainLabels = [[Int32]](repeating: [Int32](repeating: 0, count: micro), count: options.accumulate)
        var valLabels = trainLabels
        let totalPlanned = stepsPerEpoch * options.epochs
        var stepsThisRun = 0, secondsThisRun = 0.0

        for epoch in progress.epoch..<options.epochs {
            let lr = schedule.learningRate(epoch: epoch)
            state.weightOptimizer.learningRate = lr
            let trainShards = data.trainSampler.indices(epoch: epoch)
            let valShards = data.valSampler.indices(epoch: epoch)
            let epochStart = Date().addingTimeInterval(-progress.epochSeconds)
            for step in progress.stepInEpoch..<stepsPerEpoch {
                let t0 = Date()
                let globalStep = progress.globalStep + 1
                if fault?.fires(.kill, rank: rank, step: globalStep) == true { FaultInjection.killSelf() }
                if fault?.fires(.error, rank: rank, step: globalStep) == true { throw InjectedFailure(step: globalStep) }
                // This rank's shard, as `accumulate` consecutive micro-batches.
                var train: [LabeledBatch] = [], val: [LabeledBatch] = []
                for k in 0..<options.accumulate {
                    let part = (k * micro)..<((k + 1) * micro)
                    data.fill(trainShards[step][part].map { data.trainIndices[$0] }, trainImages[k], &trainLabels[k], data.augmentation, epoch, stream: 1)
                    data.fill(valShards[step][part].map { data.valIndices[$0] }, valImages[k], &valLabels[k], data.augmentation, epoch, stream: 2)
                    train.append(LabeledBatch(images: trainImages[k], labels: trainLabels[k]))
                    val.append(LabeledBatch(images: valImages[k], labels: valLabels[k]))
                }

                // The step's sums over all ranks, and the norm of the averaged gradient: the same
                // numbers on every rank, so every rank stops together, before the update, when one
                // of them is not finite.
                var stepSums = [Double](repeating: 0, count: 4)
                network.auxiliarySkipWeight = AuxiliarySkipSchedule.weight(step: globalStep - 1, steps: totalPlanned)
                _ = try searchStep.run(train: train, val: val, learningRate: lr,
                                 afterBackward: { injectNumericFault(loss: &$0, state: state, step: globalStep) },
                                 beforeUpdate: { outcome in
                    stepSums = [Double(outcome.loss) * Double(local), Double(outcome.correct), Double(local),
                                Double(outcome.archLoss) * Double(local)]
                    communicator.allreduceSum(&stepSums)
                    if let what = nonFinite(stepSums: stepSums, gradientNorm: outcome.gradientNorm, alphas: state.alphas) {
                        throw divergence(what, epoch: epoch, step: step, stepsPerEpoch: stepsPerEpoch, globalStep: globalStep)
                    }
                })

                for i in 0..<4 { progress.epochSums[i] += stepSums[i] }
                progress.globalStep = globalStep
                progress.stepInEpoch = step + 1
                let seconds = Date().timeIntervalSince(t0)
                progress.stepSeconds += seconds
                stepsThisRun += 1
                secondsThisRun += seconds
                if let every = options.checkEvery, globalStep % every == 0 { try checkConsistency(state) }
                if isRoot && ((step + 1) % options.printEvery == 0 || step + 1 == stepsPerEpoch) {
                    let sums = progress.epochSums
                    let perStep = secondsThisRun / Double(stepsThisRun)
                    let eta = perStep * Double(totalPlanned - globalStep)
                    say(String(format: "epoch %d/%d step %d/%d  loss %.4f  acc %.2f%%  lr %.5f  %.1f img/s  %.2f s/step  ETA %@",
                               epoch + 1, options.epochs, step + 1, stepsPerEpoch, sums[0] / sums[2], 100 * sums[1] / sums[2],
                               lr, Double(options.batchSize) / perStep, perStep, formatDuration(eta)))
                }
                if let every = options.checkpointEvery, globalStep % every == 0, step + 1 < stepsPerEpoch {
                    progress.epochSeconds = Date().timeIntervalSince(epochStart)
                    try writeCheckpoint(state, progress: progress, data: data, learningRate: lr, run: run, midEpoch: true)
                }
            }
            let epochSeconds = Date().timeIntervalSince(epochStart)

            // Batch-norm statistics are per rank during training (DDP without SyncBN): average them
            // so that every rank validates, and later checkpoints, the same network.
            parallel.average(state.buffers.values)
            let validation = validate(state: state, data: data)
            if options.checkEvery == nil { try checkConsistency(state) }

            let sums = progress.epochSums
            let genotype = network.genotype()
            say(String(format: "epoch %d/%d done in %.1f s: train loss %.4f acc %.2f%%, val loss %.4f acc %.2f%%",
                       epoch + 1, options.epochs, epochSeconds, sums[0] / sums[2], 100 * sums[1] / sums[2],
                       validation.loss, 100 * validation.accuracy))
            say("genotype = \(genotype.dartsText)")
            // The epoch's files first, its checkpoint last: a search killed in between resumes from
            // the previous checkpoint, redoes the epoch and rewrites the same files.
            try agree {
                guard let run else { return }
                try run.write("epoch_\(epoch).genotype.txt", text: genotype.dartsText)
                try run.writeJSON("epoch_\(epoch).genotype.json", genotype)
                try run.write("epoch_\(epoch).json", data: try genotype.nniJSON())   // NNI's exported architecture
                try run.writeJSON("epoch_\(epoch).alphas.json", AlphaRecord(epoch: epoch, network: network))
                try run.appendMetrics(EpochMetrics(epoch: epoch, learningRate: lr, trainLoss: sums[0] / sums[2],
                    trainAccuracy: sums[1] / sums[2], archLoss: sums[3] / sums[2], validationLoss: validation.loss,
                    validationAccuracy: validation.accuracy, seconds: epochSeconds, steps: stepsPerEpoch,
                    imagesPerSecond: Double(stepsPerEpoch * options.batchSize) / epochSeconds))
            }
            progress.epoch = epoch + 1
            progress.stepInEpoch = 0
            progress.epochSums = [0, 0, 0, 0]
            progress.epochSeconds = 0
            progress.validationLoss = validation.loss
            progress.validationAccuracy = validation.accuracy
            try writeCheckpoint(state, progress: progress, data: data, learningRate: lr, run: run, midEpoch: false)
        }

        let genotype = network.genotype()
        let rankChecksums = communicator.allgather(
            hexChecksum(state.weights.checksum()) + "/" + hexChecksum(state.alphas.checksum()))
        let result = SearchResult(genotype: genotype, genotypeText: genotype.dartsText,
            validationAccuracy: progress.validationAccuracy, validationLoss: progress.validationLoss, epochs: options.epochs,
            steps: progress.globalStep, worldSize: worldSize, seconds: Date().timeIntervalSince(started),
            stepSeconds: progress.stepSeconds,
            imagesPerSecond: Double(progress.globalStep * options.batchSize) / max(progress.stepSeconds, 1e-9),
            weightsChecksum: hexChecksum(state.weights.checksum()), alphasChecksum: hexChecksum(state.alphas.checksum()),
            rankChecksums: rankChecksums, rankHosts: hosts)
        try agree {
            guard let run else { return }
            try run.write("genotype.txt", text: genotype.dartsText)
            try run.writeJSON("genotype.json", genotype)
            try run.writeJSON("result.json", result)
        }
        InterruptNotice.remove()   // finished: nothing to resume (`darts-dist pictures` redraws the pictures)
        say(String(format: "search finished in %@: final validation accuracy %.2f%%", formatDuration(result.seconds),
                   100 * result.validationAccuracy))
        say("final genotype = \(genotype.dartsText)")
        let identical = Set(rankChecksums).count == 1
        say("weights/alphas checksums: " + (identical ? "\(rankChecksums[0]), identical on all \(worldSize) rank(s)"
                                            : "DIFFER across ranks: \(rankChecksums.joined(separator: ", "))"))
        RankSummary.gather(parallel: parallel, steps: stepsThisRun, stepSeconds: secondsThisRun).lines.forEach(say)
        if let run { say(RunPictures.draw(in: run)) }
        return result
    }

    /// Loss and top-1 accuracy on the val half in evaluation mode (running BN statistics, no
    /// graph), each rank taking every worldSize-th chunk; the sums are reduced over ranks.
    func validate(state: SearchState, data: SearchData) -> (loss: Double, accuracy: Double) {
        let network = state.network
        let dataset = data.dataset, indices = data.valIndices
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
            data.fill(part, images, &labels, .none, 0, stream: 3)
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

/// A checksum as 16 hex digits, zero-padded ("00c3f2...").
func hexChecksum(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}

/// "1 epoch", "2 epochs": `count` and `noun`, plural unless `count` is 1.
func counted(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}

/// "1h02m", "3m05s", "12s".
func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
}
