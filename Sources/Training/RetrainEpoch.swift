import DARTS
import DartsTensor
import Datasets
import Distributed
import Foundation
import NN

extension RetrainJob {
    /// The steps of epoch `epoch`: per step, this rank's shard in micro-batches, the gradients
    /// averaged over the ranks, clipped and applied by SGD; a progress line every --print-every steps.
    /// - Returns: the epoch's seconds.
    /// - Throws: ``RetrainError/diverged(_:)`` when the training loss is not finite.
    func trainEpoch(_ epoch: Int, _ run: RetrainRun) throws -> Double {
        let options = run.options
        let learningRate = run.schedule.learningRate(epoch: epoch)
        run.optimizer.learningRate = learningRate
        run.network.dropPathProbability = options.dropPathProbability(epoch: epoch)
        let shards = run.data.sampler.indices(epoch: epoch)
        let local = options.batchSize / communicator.worldSize
        var sums = TrainingSums()
        let epochStart = Date()
        for step in 0..<run.data.stepsPerEpoch {
            let started = Date()
            var correct = 0
            let loss = accumulateGradients(run, images: run.images, shard: shards[step], epoch: epoch) { logits, labels in
                correct += topKCorrect(logits, labels: labels).top1
            }
            parallel.average(run.weights.grads!)
            clipGradientNorm(run.weights, maxNorm: options.gradClip)
            run.optimizer.step()

            let stepSums = TrainingSums(loss: Double(loss) * Double(local), correct: Double(correct), images: Double(local))
                .reduced(over: communicator)
            sums = sums + stepSums
            guard stepSums.loss.isFinite else {
                throw RetrainError.diverged("the training loss became \(stepSums.loss) at epoch \(epoch + 1), step \(step + 1); lower --lr")
            }
            let seconds = Date().timeIntervalSince(started)
            run.stepSeconds += seconds
            run.processStepSeconds += seconds
            run.totalSteps += 1
            if isRoot && ((step + 1) % options.printEvery == 0 || step + 1 == run.data.stepsPerEpoch) {
                say(progressLine(epoch: epoch, step: step, sums: sums, learningRate: learningRate, run))
            }
        }
        run.epochSums = sums
        return Date().timeIntervalSince(epochStart)
    }

    /// One rank's share of a step: the gradient of the mean training loss over its shard in
    /// micro-batches (``accumulateMicroBatches(_:arenas:microBatch:)``, bit-identical to as many
    /// ranks). Loss = CE(logits) + auxWeight * CE(auxiliary logits), each with the options' label smoothing.
    /// - Parameter observe: each micro-batch's logits (N, classes) and labels.
    /// - Returns: the mean of the micro-batch losses.
    func accumulateGradients(_ run: RetrainRun, images: [Tensor], shard: [Int], epoch: Int,
                             observe: (Tensor, [Int32]) -> Void) -> Float {
        let options = run.options, network = run.network, micro = images[0].shape[0]
        network.train()
        return accumulateMicroBatches(images.count, arenas: [run.weights]) { k in
            let part = Array(shard[(k * micro)..<((k + 1) * micro)])
            var labels = [Int32](repeating: 0, count: micro)
            KeyedRandomness.fill(run.data.train, indices: part, images: images[k], labels: &labels,
                                 augmentation: run.data.augmentation, seed: options.seed, epoch: epoch)
            network.dropPathSampleSeeds = network.dropPathProbability > 0
                ? KeyedRandomness.dropPathSeeds(part, seed: options.seed, epoch: epoch) : nil
            let (logits, auxiliaryLogits) = network(images[k])
            let loss = retrainLoss(logits: logits, auxiliaryLogits: auxiliaryLogits, labels: labels, options: options)
            loss.backward()
            observe(logits, labels)
            return loss.scalar
        }
    }

    /// "epoch 9/10 step 100/937  loss ...  lr ...  drop ...  img/s  s/step  ETA", the ETA including the test passes.
    func progressLine(epoch: Int, step: Int, sums: TrainingSums, learningRate: Float, _ run: RetrainRun) -> String {
        let options = run.options
        let perStep = run.processStepSeconds / Double(run.totalSteps - run.stepsAtStart)
        let imagesPerSecond = Double(options.batchSize) / perStep
        let evaluations = run.history.map(\.evaluationSeconds)
        let evaluation = evaluations.isEmpty
            ? Double(run.data.test.count) / (3 * imagesPerSecond)   // a forward pass costs about a third of a step
            : evaluations.reduce(0, +) / Double(evaluations.count)
        let eta = perStep * Double(run.data.stepsPerEpoch * options.epochs - run.totalSteps)
            + evaluation * Double(options.epochs - epoch)
        return String(format: "epoch %d/%d step %d/%d  loss %.4f  acc %.2f%%  lr %.5f  drop %.3f  %.1f img/s  %.3f s/step  ETA %@",
                      epoch + 1, options.epochs, step + 1, run.data.stepsPerEpoch, sums.meanLoss, 100 * sums.accuracy,
                      learningRate, run.network.dropPathProbability, imagesPerSecond, perStep, formatDuration(eta))
    }

    /// The end of epoch `epoch`: batch-norm statistics averaged over the ranks, the test set
    /// measured, the consistency check, the metrics line and the checkpoint.
    func finishEpoch(_ epoch: Int, epochSeconds: Double, started: Date, _ run: RetrainRun) throws {
        let options = run.options, sums = run.epochSums
        // Batch-norm statistics are per rank during training (DDP without SyncBN): average
        // them so that every rank tests, checkpoints and saves the same network.
        parallel.average(run.buffers.values)
        run.network.dropPathSampleSeeds = nil
        let evaluationStart = Date()
        let result = evaluate(run.network, weights: run.weights, on: run.data.test, classNames: run.data.classNames,
                              communicator: communicator)
        let seconds = Date().timeIntervalSince(evaluationStart)
        if let problem = result.nonFiniteOutputs {
            // Reduced sums, the same on every rank: every rank stops here together.
            throw RetrainError.diverged("\(problem) after epoch \(epoch + 1)/\(options.epochs): its weights or batch-norm "
                + "statistics hold NaN or infinity; the retrain stopped before writing the epoch's metrics and checkpoint. "
                + (epoch > 0
                   ? "The checkpoint of the last finished epoch is intact (darts-dist retrain --resume \(options.out)); "
                   : "") + "start a new retrain with a lower --lr")
        }
        try checkConsistency(run)

        let record = RetrainEpochMetrics(epoch: epoch, learningRate: run.schedule.learningRate(epoch: epoch),
            dropPathProbability: run.network.dropPathProbability, trainLoss: sums.meanLoss, trainAccuracy: sums.accuracy,
            testLoss: result.loss, testTop1: result.top1, testTop5: result.top5, seconds: epochSeconds, evaluationSeconds: seconds,
            steps: run.data.stepsPerEpoch, imagesPerSecond: Double(run.data.stepsPerEpoch * options.batchSize) / epochSeconds)
        run.history.append(record)
        say(String(format: "epoch %d/%d done in %.1f s: train loss %.4f acc %.2f%%; test loss %.4f top-1 %.2f%% top-5 %.2f%% (%.1f s)",
                   epoch + 1, options.epochs, epochSeconds, record.trainLoss, 100 * record.trainAccuracy,
                   result.loss, 100 * result.top1, 100 * result.top5, seconds))
        let elapsed = run.priorSeconds + Date().timeIntervalSince(started)
        try agree {
            guard let folder = run.folder else { return }
            try folder.appendMetrics(record)
            try RetrainCheckpoint(options: options, genotype: run.genotype, configuration: run.configuration,
                                  worldSize: communicator.worldSize, epoch: epoch + 1, step: run.totalSteps, seconds: elapsed,
                                  stepSeconds: run.stepSeconds, history: run.history, weights: run.weights,
                                  buffers: run.buffers, optimizer: run.optimizer, dataChecksum: run.data.checksum)
                .write(to: folder.url.appendingPathComponent(RetrainCheckpoint.fileName))
        }
        if isRoot { noteCheckpoint(folder: options.out) }
    }

    /// The final and best test figures and checksums, the saved model and result.json (rank 0),
    /// and the closing lines.
    func finish(_ run: RetrainRun, started: Date) throws -> RetrainResult {
        let options = run.options, worldSize = communicator.worldSize
        let last = run.history.last!
        let best = run.history.max { $0.testTop1 < $1.testTop1 }!
        let checksum = hexChecksum(run.weights.checksum() ^ (run.buffers.checksum() &* 31))
        let rankChecksums = communicator.allgather(checksum)
        let seconds = run.priorSeconds + Date().timeIntervalSince(started)
        let result = RetrainResult(genotypeText: run.genotype.dartsText, testTop1: last.testTop1, testTop5: last.testTop5,
            testLoss: last.testLoss, bestTestTop1: best.testTop1, bestEpoch: best.epoch + 1, epochs: options.epochs,
            steps: run.totalSteps, worldSize: worldSize, parameters: run.weights.count - run.auxiliaryParameters, seconds: seconds,
            stepSeconds: run.stepSeconds, imagesPerSecond: Double(run.totalSteps * options.batchSize) / max(run.stepSeconds, 1e-9),
            weightsChecksum: checksum, rankChecksums: rankChecksums, model: SavedModel.fileName, classNames: run.data.classNames)
        try agree {
            guard let folder = run.folder else { return }
            try SavedModel(network: run.network, weights: run.weights, buffers: run.buffers, dataset: run.data.kind.rawValue,
                           dataFolder: run.data.folder, options: options, epochs: options.epochs, testTop1: last.testTop1,
                           testTop5: last.testTop5, normalization: run.data.train.normalization, classNames: run.data.classNames)
                .write(to: folder.url.appendingPathComponent(SavedModel.fileName))
            try folder.writeJSON(RunFile.result, result)
        }
        InterruptNotice.remove()   // finished: nothing to resume
        say(String(format: "retrain finished in %@: test top-1 %.2f%%, top-5 %.2f%%, loss %.4f (best top-1 %.2f%% after epoch %d); model in %@",
                   formatDuration(seconds), 100 * last.testTop1, 100 * last.testTop5, last.testLoss, 100 * best.testTop1,
                   result.bestEpoch, URL(fileURLWithPath: options.out).appendingPathComponent(SavedModel.fileName).path))
        let identical = Set(rankChecksums).count == 1
        say("checksum of the weights and batch-norm statistics: " + (identical ? "\(checksum), identical on all \(worldSize) rank(s)"
                                    : "DIFFERS across ranks: \(rankChecksums.joined(separator: ", "))"))
        return result
    }
}

/// The training loss of a retrain step: CE(logits) + auxWeight * CE(auxiliary logits), both with
/// the options' label smoothing (``crossEntropy(_:labels:labelSmoothing:)``), as the official
/// train.py (auxiliary weight) and train_imagenet.py (smoothing of both heads) form it.
/// - Parameters: logits and auxiliaryLogits (N, classes); labels N class indices.
func retrainLoss(logits: Tensor, auxiliaryLogits: Tensor?, labels: [Int32], options: RetrainOptions) -> Tensor {
    let smoothing = options.labelSmoothingInEffect
    let loss = crossEntropy(logits, labels: labels, labelSmoothing: smoothing)
    guard let auxiliaryLogits else { return loss }
    return loss + scaled(crossEntropy(auxiliaryLogits, labels: labels, labelSmoothing: smoothing), by: options.auxWeight)
}
