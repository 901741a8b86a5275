import DARTS
import DartsTensor
import Datasets
import Distributed
import Foundation
import NN

/// Trains the evaluation network of a genotype from scratch (DARTS.md §4, official cnn/train.py)
/// on every rank of `communicator`: the same network everywhere (broadcast from rank 0), each
/// global batch split into one shard per rank, the weight gradients averaged by the rank-ordered
/// allreduce before every SGD step. Augmentation and drop path masks are keyed by (seed, epoch,
/// image index), so P ranks train the same weights as one process accumulating P micro-batches.
/// After every epoch the batch-norm statistics are averaged over the ranks, the test set is
/// measured (top-1, top-5, loss) and rank 0 writes the metrics and a checkpoint; at the end it
/// writes the saved model (model.bin) and result.json.
public final class RetrainJob {
    public let options: RetrainOptions
    /// The run folder to continue, when resuming (its checkpoint's options replace `options`).
    public let resume: String?
    /// Stop (with a checkpoint, without the final model) once this many epochs are complete.
    public let stopAfterEpochs: Int?
    /// Overrides the saved --print-every when resuming.
    public let printEvery: Int?
    /// When resuming: the options as given on the command line, and the flags given, which must
    /// have the checkpoint's values.
    let given: RetrainOptions
    let givenFlags: Set<String>
    let communicator: Communicator
    let parallel: DataParallel
    /// Where rank 0's progress lines go (stdout by default).
    public var printLine: (String) -> Void = { print($0); fflush(stdout) }

    /// A new retrain with `options`.
    public init(options: RetrainOptions, communicator: Communicator, stopAfterEpochs: Int? = nil) {
        self.options = options
        self.communicator = communicator
        self.resume = nil
        self.stopAfterEpochs = stopAfterEpochs
        self.printEvery = nil
        self.given = options
        self.givenFlags = []
        parallel = DataParallel(communicator: communicator)
    }

    /// Continues the retrain in the run folder `path` from its checkpoint, with its options.
    /// - Parameters:
    ///   - given: the options as given on the command line.
    ///   - givenFlags: the flags given ("--lr", "--out", ...): each must have the checkpoint's value.
    public init(resuming path: String, communicator: Communicator, printEvery: Int? = nil, stopAfterEpochs: Int? = nil,
                given: RetrainOptions = RetrainOptions(), givenFlags: Set<String> = []) {
        self.options = RetrainOptions()
        self.given = given
        self.givenFlags = givenFlags
        self.communicator = communicator
        self.resume = path
        self.stopAfterEpochs = stopAfterEpochs
        self.printEvery = printEvery
        parallel = DataParallel(communicator: communicator)
    }

    var isRoot: Bool { communicator.rank == 0 }

    func say(_ line: String) { if isRoot { printLine(line) } }

    /// The interrupt line once a checkpoint exists (rank 0): the command that resumes from it.
    func noteCheckpoint(folder: String) {
        InterruptNotice.install(InterruptNotice.afterCheckpoint("retrain", folder: folder,
            keeps: "its checkpoint of the last finished epoch", worldSize: communicator.worldSize))
    }

    func agree(_ body: () throws -> Void) throws { try communicator.agree(body) }

    /// Runs the retrain to the end, or to `stopAfterEpochs`.
    /// - Returns: the result, or nil when it stopped early at `stopAfterEpochs`.
    /// - Throws: `RankFailure` (bad options, genotype, data, checkpoint or output folder on any
    ///   rank) and ``RetrainError`` (diverging loss or ranks), on every rank at the same point.
    @discardableResult
    public func run() throws -> RetrainResult? {
        let started = Date()
        let rank = communicator.rank, worldSize = communicator.worldSize
        var options = self.options
        var checkpoint: RetrainCheckpoint?
        if let resume {
            checkpoint = try readCheckpoint(resume)
            options = checkpoint!.manifest.options
            let saved = options
            try agree { try checkResumeFlags(saved: saved, folder: resume) }
            options.out = resume
            if let printEvery { options.printEvery = printEvery }
        }
        var kind = DatasetKind.fashionMNIST
        try agree {
            try options.validate(worldSize: worldSize)
            kind = try options.datasetKind()
        }
        let folder = options.data ?? kind.defaultFolder

        var genotype = Genotype.dartsV2
        try agree { genotype = try checkpoint?.manifest.genotype ?? resolveGenotype(options.genotype) }

        // Data: every rank reads the files itself (they are on every host).
        var train: ImageDataset!, test: ImageDataset!
        try agree {
            train = try loadDataset(kind, folder: folder, split: .train)
            if let subset = options.subset {
                guard subset <= train.count else {
                    throw RetrainError.invalidOption("--subset \(subset) is larger than the \(train.count) training images")
                }
                train = train.prefix(subset)
            }
            test = try loadDataset(kind, folder: folder, split: .test)
            if let testSubset = options.testSubset {
                guard testSubset <= test.count else {
                    throw RetrainError.invalidOption("--test-subset \(testSubset) is larger than the \(test.count) test images")
                }
                test = test.prefix(testSubset)
            }
            guard options.batchSize <= train.count else {
                throw RetrainError.invalidOption("--batch-size \(options.batchSize) is larger than the \(train.count) training images; "
                    + "lower --batch-size or raise --subset")
            }
        }
        var sampler: DistributedSampler!
        try agree {
            sampler = try DistributedSampler(count: train.count, globalBatchSize: options.batchSize, rank: rank,
                                             worldSize: worldSize, seed: options.seed)
        }
        let stepsPerEpoch = sampler.batchCount
        let augmentation = options.augmentation(kind)

        // The network, identical on every rank: same seed, then rank 0's values broadcast.
        let configuration = AugmentConfiguration(inputChannels: train.channels, imageSize: train.height,
                                                 channels: options.channels, layers: options.layers,
                                                 classes: train.classCount, auxiliary: options.auxWeight > 0)
        var network: AugmentNetwork!
        try agree {
            var rng = RandomGenerator(seed: options.seed)
            network = try AugmentNetwork(configuration, genotype: genotype, rng: &rng)
        }
        let weights = ParameterArena(network.namedParameters())
        let buffers = ParameterArena(network.namedBuffers(), keepsGradients: false)
        let optimizer = SGD(arena: weights, learningRate: options.learningRate, momentum: options.momentum,
                            weightDecay: options.weightDecay)
        parallel.broadcastFromRoot(weights.values)
        parallel.broadcastFromRoot(buffers.values)
        let schedule = CosineAnnealingLR(maxLearningRate: options.learningRate, minLearningRate: options.learningRateMin,
                                         epochs: options.epochs)
        let auxiliaryParameters = network.namedParameters().filter { $0.name.hasPrefix("auxiliary_head.") }
            .map(\.tensor.count).reduce(0, +)

        var startEpoch = 0, totalSteps = 0
        var history: [RetrainEpochMetrics] = []
        var priorSeconds = 0.0, stepSeconds = 0.0
        if let checkpoint, let resume {
            try agree {
                try checkpoint.restore(weights: weights, buffers: buffers, optimizer: optimizer,
                                       path: URL(fileURLWithPath: resume).appendingPathComponent(RetrainCheckpoint.fileName).path)
            }
            startEpoch = checkpoint.manifest.epoch
            totalSteps = checkpoint.manifest.step
            history = checkpoint.manifest.history
            priorSeconds = checkpoint.manifest.seconds
            stepSeconds = checkpoint.manifest.stepSeconds
        }

        // Run folder (rank 0).
        var run: RunFolder?
        let hosts = communicator.allgather(communicator.hostName)
        try agree {
            guard isRoot else { return }
            if checkpoint != nil {
                run = try RunFolder(resuming: options.out, metricsLines: try Self.metricsLines(history))
            } else {
                run = try RunFolder(path: options.out)
                try run!.writeJSON("config.json", RetrainRunConfig(options: options, genotype: genotype,
                    genotypeText: genotype.dartsText, configuration: configuration, worldSize: worldSize, hosts: hosts,
                    dataFolder: folder, trainImages: train.count, testImages: test.count,
                    augmentation: augmentation.description, parameters: weights.count,
                    auxiliaryParameters: auxiliaryParameters, stepsPerEpoch: stepsPerEpoch))
                try run!.write("genotype.txt", text: genotype.dartsText)
                try run!.writeJSON("genotype.json", genotype)
            }
        }
        if isRoot {
            if checkpoint == nil {
                InterruptNotice.install(InterruptNotice.beforeFirstCheckpoint("retrain", folder: options.out))
            } else {
                noteCheckpoint(folder: options.out)
            }
        }
        defer { InterruptNotice.remove() }
        say("darts-dist retrain: \(kind.rawValue) \(train.channels)x\(train.height)x\(train.width), "
            + "\(train.count) train / \(test.count) test images, \(worldSize) rank(s) on \(Set(hosts).sorted().joined(separator: ", "))")
        say("genotype = \(genotype.dartsText)")
        say("network: C=\(options.channels), \(options.layers) cells, \(weights.count - auxiliaryParameters) parameters"
            + (auxiliaryParameters > 0 ? " (+\(auxiliaryParameters) auxiliary head, weight \(options.auxWeight))" : "")
            + "; global batch \(options.batchSize) (\(options.batchSize / worldSize) per rank"
            + (options.accumulate > 1 ? " in \(options.accumulate) micro-batches" : "") + "), \(counted(stepsPerEpoch, "step")) per epoch, "
            + "\(counted(options.epochs, "epoch")), lr \(options.learningRate) cosine to \(options.learningRateMin); "
            + "augmentation \(augmentation.description), drop path \(options.dropPathProb); output in \(options.out)")
        if let checkpoint {
            say("resuming \(options.out) after epoch \(checkpoint.manifest.epoch) of \(options.epochs) (step \(totalSteps))")
        }

        let local = options.batchSize / worldSize
        let micro = local / options.accumulate
        let shape = [micro, train.channels, train.height, train.width]
        let images = (0..<options.accumulate).map { _ in Tensor(shape: shape) }
        var labels = [[Int32]](repeating: [Int32](repeating: 0, count: micro), count: options.accumulate)
        let totalPlanned = stepsPerEpoch * options.epochs
        let classNames = kind.classNames
        var evaluationSeconds = history.map(\.evaluationSeconds)
        let processSteps = totalSteps
        var processStepSeconds = 0.0

        for epoch in startEpoch..<options.epochs {
            let lr = schedule.learningRate(epoch: epoch)
            optimizer.learningRate = lr
            let dropProbability = options.dropPathProbability(epoch: epoch)
            network.dropPathProbability = dropProbability
            let shards = sampler.indices(epoch: epoch)
            var sums = [0.0, 0.0, 0.0]   // loss * n, top-1 hits, n
            let epochStart = Date()
            for step in 0..<stepsPerEpoch {
                let t0 = Date()
                var correct = 0
                let loss = accumulateGradients(network: network, weights: weights, images: images, labels: &labels,
                                               shard: shards[step], micro: micro, dataset: train, augmentation: augmentation,
                                               options: options, epoch: epoch) { logits, batchLabels in
                    correct += topKCorrect(logits, labels: batchLabels).top1
                }
                parallel.average(weights.grads!)
                clipGradientNorm(weights, maxNorm: options.gradClip)
                optimizer.step()

                var stepSums = [Double(loss) * Double(local), Double(correct), Double(local)]
                communicator.allreduceSum(&stepSums)
                for i in 0..<3 { sums[i] += stepSums[i] }
                guard stepSums[0].isFinite else {
                    throw RetrainError.diverged("the training loss became \(stepSums[0]) at epoch \(epoch + 1), step \(step + 1); lower --lr")
                }
                let seconds = Date().timeIntervalSince(t0)
                stepSeconds += seconds
                processStepSeconds += seconds
                totalSteps += 1
                if isRoot && ((step + 1) % options.printEvery == 0 || step + 1 == stepsPerEpoch) {
                    let perStep = processStepSeconds / Double(totalSteps - processSteps)
                    let imagesPerSecond = Double(options.batchSize) / perStep
                    let evaluation = evaluationSeconds.isEmpty
                        ? Double(test.count) / (3 * imagesPerSecond)   // a forward pass costs about a third of a step
                        : evaluationSeconds.reduce(0, +) / Double(evaluationSeconds.count)
                    let eta = perStep * Double(totalPlanned - totalSteps) + evaluation * Double(options.epochs - epoch)
                    say(String(format: "epoch %d/%d step %d/%d  loss %.4f  acc %.2f%%  lr %.5f  drop %.3f  %.1f img/s  %.3f s/step  ETA %@",
                               epoch + 1, options.epochs, step + 1, stepsPerEpoch, sums[0] / sums[2], 100 * sums[1] / sums[2],
                               lr, dropProbability, imagesPerSecond, perStep, formatDuration(eta)))
                }
            }
            let epochSeconds = Date().timeIntervalSince(epochStart)

            // Batch-norm statistics are per rank during training (DDP without SyncBN): average
            // them so that every rank tests, checkpoints and saves the same network.
            parallel.average(buffers.values)
            network.dropPathSampleSeeds = nil
            let evaluationStart = Date()
            let result = evaluate(network, weights: weights, on: test, classNames: classNames, communicator: communicator)
            let seconds = Date().timeIntervalSince(evaluationStart)
            evaluationSeconds.append(seconds)
            try checkConsistency(weights: weights, buffers: buffers, optimizer: optimizer)

            let record = RetrainEpochMetrics(epoch: epoch, learningRate: lr, dropPathProbability: dropProbability,
                trainLoss: sums[0] / sums[2], trainAccuracy: sums[1] / sums[2], testLoss: result.loss,
                testTop1: result.top1, testTop5: result.top5, seconds: epochSeconds, evaluationSeconds: seconds,
                steps: stepsPerEpoch, imagesPerSecond: Double(stepsPerEpoch * options.batchSize) / epochSeconds)
            history.append(record)
            say(String(format: "epoch %d/%d done in %.1f s: train loss %.4f acc %.2f%%; test loss %.4f top-1 %.2f%% top-5 %.2f%% (%.1f s)",
                       epoch + 1, options.epochs, epochSeconds, record.trainLoss, 100 * record.trainAccuracy,
                       result.loss, 100 * result.top1, 100 * result.top5, seconds))
            let elapsed = priorSeconds + Date().timeIntervalSince(started)
            try agree {
                guard let run else { return }
                try run.appendMetrics(record)
                try RetrainCheckpoint(options: options, genotype: genotype, configuration: configuration, worldSize: worldSize,
                                      epoch: epoch + 1, step: totalSteps, seconds: elapsed, stepSeconds: stepSeconds,
                                      history: history, weights: weights, buffers: buffers, optimizer: optimizer)
                    .write(to: run.url.appendingPathComponent(RetrainCheckpoint.fileName))
            }
            if isRoot { noteCheckpoint(folder: options.out) }
            if let stop = stopAfterEpochs, epoch + 1 >= stop, epoch + 1 < options.epochs {
                say("stopped after epoch \(epoch + 1) of \(options.epochs); continue with: darts-dist retrain --resume \(options.out)")
                return nil
            }
        }

        let last = history.last!
        let best = history.max { $0.testTop1 < $1.testTop1 }!
        let checksum = hexChecksum(weights.checksum() ^ (buffers.checksum() &* 31))
        let rankChecksums = communicator.allgather(checksum)
        let seconds = priorSeconds + Date().timeIntervalSince(started)
        let result = RetrainResult(genotypeText: genotype.dartsText, testTop1: last.testTop1, testTop5: last.testTop5,
            testLoss: last.testLoss, bestTestTop1: best.testTop1, bestEpoch: best.epoch, epochs: options.epochs,
            steps: totalSteps, worldSize: worldSize, parameters: weights.count - auxiliaryParameters, seconds: seconds,
            stepSeconds: stepSeconds, imagesPerSecond: Double(totalSteps * options.batchSize) / max(stepSeconds, 1e-9),
            weightsChecksum: checksum, rankChecksums: rankChecksums, model: SavedModel.fileName)
        try agree {
            guard let run else { return }
            try SavedModel(network: network, weights: weights, buffers: buffers, dataset: kind.rawValue, dataFolder: folder,
                           options: options, epochs: options.epochs, testTop1: last.testTop1, testTop5: last.testTop5)
                .write(to: run.url.appendingPathComponent(SavedModel.fileName))
            try run.writeJSON("result.json", result)
        }
        InterruptNotice.remove()   // finished: nothing to resume
        say(String(format: "retrain finished in %@: test top-1 %.2f%%, top-5 %.2f%%, loss %.4f (best top-1 %.2f%% after epoch %d); model in %@",
                   formatDuration(seconds), 100 * last.testTop1, 100 * last.testTop5, last.testLoss, 100 * best.testTop1,
                   best.epoch + 1, URL(fileURLWithPath: options.out).appendingPathComponent(SavedModel.fileName).path))
        let identical = Set(rankChecksums).count == 1
        say("checksum of the weights and batch-norm statistics: " + (identical ? "\(checksum), identical on all \(worldSize) rank(s)"
                                    : "DIFFERS across ranks: \(rankChecksums.joined(separator: ", "))"))
        return result
    }

    /// One rank's share of a step: the gradient of the mean training loss over its shard, as
    /// `micro`-image micro-batches whose gradients are computed one by one (each from zero) and
    /// added in order, then scaled by 1 / K: the operations K ranks and the rank-ordered
    /// allreduce perform, so the two are bit-identical. Loss = CE(logits) + auxWeight * CE(aux).
    /// - Returns: the mean of the micro-batch losses.
    func accumulateGradients(network: AugmentNetwork, weights: ParameterArena, images: [Tensor], labels: inout [[Int32]],
                             shard: [Int], micro: Int, dataset: ImageDataset, augmentation: Augmentation,
                             options: RetrainOptions, epoch: Int, observe: (Tensor, [Int32]) -> Void) -> Float {
        let count = images.count
        var sums: [Float] = []
        var total: Float = 0
        network.train()
        for k in 0..<count {
            let part = Array(shard[(k * micro)..<((k + 1) * micro)])
            KeyedRandomness.fill(dataset, indices: part, images: images[k], labels: &labels[k], augmentation: augmentation,
                                 seed: options.seed, epoch: epoch)
            network.dropPathSampleSeeds = network.dropPathProbability > 0
                ? KeyedRandomness.dropPathSeeds(part, seed: options.seed, epoch: epoch) : nil
            weights.zeroGrad()
            let (logits, auxiliaryLogits) = network(images[k])
            var loss = crossEntropy(logits, labels: labels[k])
            if let auxiliaryLogits {
                loss = loss + scaled(crossEntropy(auxiliaryLogits, labels: labels[k]), by: options.auxWeight)
            }
            loss.backward()
            total += loss.scalar
            observe(logits, labels[k])
            guard count > 1 else { continue }
            let g = weights.grads!
            if k == 0 { sums = Array(g) } else { for i in 0..<weights.count { sums[i] += g[i] } }
        }
        if count > 1 {
            let scale = 1 / Float(count)
            let g = weights.grads!
            for i in 0..<weights.count { g[i] = sums[i] * scale }
        }
        return total / Float(count)
    }

    /// Rank 0 reads `folder`'s checkpoint and every rank decodes the same bytes.
    func readCheckpoint(_ folder: String) throws -> RetrainCheckpoint {
        let url = URL(fileURLWithPath: folder).appendingPathComponent(RetrainCheckpoint.fileName)
        var bytes: [UInt8] = []
        try agree {
            guard isRoot else { return }
            let folderURL = URL(fileURLWithPath: folder)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) else {
                throw RetrainError.resume("--resume \(folder): no such folder; give the --out folder of the retrain to continue")
            }
            guard isDirectory.boolValue else {
                var parent = folderURL.deletingLastPathComponent()
                if parent.lastPathComponent == "checkpoints" { parent = parent.deletingLastPathComponent() }
                if RunKind.of(file: folderURL) == .search || RunKind.of(folder: parent) == .search {
                    throw RetrainError.resume("--resume \(folder) belongs to the search run folder \(parent.path), not to a "
                        + "retrain; " + RunKind.search.whatToDo(with: parent.path, finished: RunKind.isFinished(parent)))
                }
                throw RetrainError.resume("--resume \(folder) is a file; give the retrain's run folder (its --out"
                    + (RunKind.of(folder: parent) == .retrain ? ", here --resume \(parent.path))" : ")"))
            }
            if RunKind.of(folder: folderURL) == .search {
                throw RetrainError.resume("--resume \(folder) is a search run folder, not a retrain's; "
                    + RunKind.search.whatToDo(with: folder, finished: RunKind.isFinished(folderURL)))
            }
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw RetrainError.resume("--resume \(folder) holds no \(RetrainCheckpoint.fileName): it is not a retrain run folder, "
                    + "or it stopped before its first epoch ended (start it again without --resume, with a new --out)")
            }
            if RunKind.isFinished(folderURL) {
                throw RetrainError.resume("--resume \(folder): that retrain already finished (result.json); its model is "
                    + folderURL.appendingPathComponent(SavedModel.fileName).path)
            }
            do {
                bytes = [UInt8](try Data(contentsOf: url))
            } catch {
                throw SectionFileError.unreadable(RetrainCheckpoint.what, url.path, error.localizedDescription)
            }
        }
        communicator.broadcast(bytes: &bytes, root: 0)
        var checkpoint: RetrainCheckpoint!
        try agree { checkpoint = try RetrainCheckpoint(data: Data(bytes), path: url.path) }
        return checkpoint
    }

    /// Refuses the flags given with --resume that would change the retrain its checkpoint defines;
    /// a flag given with the checkpoint's value is accepted, as on a resumed search.
    /// - Throws: ``RetrainError/resume(_:)`` naming each flag, both values and the fix.
    func checkResumeFlags(saved: RetrainOptions, folder: String) throws {
        let savedValues = Dictionary(saved.definingValues.map { ($0.flag, $0.value) }, uniquingKeysWith: { a, _ in a })
        let changed = given.definingValues.filter { givenFlags.contains($0.flag) && savedValues[$0.flag] != $0.value }
        guard changed.isEmpty else {
            throw RetrainError.resume("--resume continues the retrain its checkpoint defines, but "
                + changed.map { "\($0.flag) \($0.value) differs from its \(savedValues[$0.flag] ?? "(none)")" }.joined(separator: ", ")
                + "; drop these flags to resume, or start a new retrain with another --out")
        }
        if givenFlags.contains("--out") && URL(fileURLWithPath: given.out).standardized != URL(fileURLWithPath: folder).standardized {
            throw RetrainError.resume("--out \(given.out) and --resume \(folder) name different run folders; "
                + "a resumed retrain writes to the folder it resumes: drop --out")
        }
    }

    /// The metrics.jsonl lines of `history`, as ``RunFolder/appendMetrics(_:)`` writes them.
    static func metricsLines(_ history: [RetrainEpochMetrics]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var data = Data()
        for record in history { data += try encoder.encode(record) + Data("\n".utf8) }
        return data
    }

    /// Compares a hash of the weights, batch-norm statistics and momentum buffer across ranks.
    func checkConsistency(weights: ParameterArena, buffers: ParameterArena, optimizer: SGD) throws {
        var h = weights.checksum() ^ (buffers.checksum() &* 31)
        for v in optimizer.momentumBuffer { h = (h ^ UInt64(v.bitPattern)) &* 0x0000_0100_0000_01b3 }
        do {
            try parallel.checkConsistency(h, what: "weights, batch-norm statistics and momentum buffers")
        } catch {
            throw RetrainError.diverged("\(error)")
        }
    }
}
