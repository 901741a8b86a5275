import DARTS
import DartsTensor
import Distributed
import Foundation
import NN

extension SearchJob {
    /// The steps of epoch `epoch` from where the search stands (a resumed search starts mid-epoch):
    /// each an architecture step then a weight step, followed by the periodic consistency check,
    /// progress line and mid-epoch checkpoint.
    func trainEpoch(_ epoch: Int, _ run: SearchRun) throws {
        let learningRate = run.schedule.learningRate(epoch: epoch)
        run.state.weightOptimizer.learningRate = learningRate
        let trainShards = run.data.trainSampler.indices(epoch: epoch)
        let valShards = run.data.valSampler.indices(epoch: epoch)
        let epochStart = Date().addingTimeInterval(-run.progress.epochSeconds)
        for step in run.progress.stepInEpoch..<run.data.stepsPerEpoch {
            try trainStep(epoch: epoch, step: step, learningRate: learningRate, train: trainShards[step][...],
                          val: valShards[step][...], run)
            run.progress.epochSeconds = Date().timeIntervalSince(epochStart)
            let globalStep = run.progress.globalStep
            if let every = options.checkEvery, globalStep % every == 0 { try checkConsistency(run.state) }
            if isRoot && ((step + 1) % options.printEvery == 0 || step + 1 == run.data.stepsPerEpoch) {
                say(progressLine(epoch: epoch, step: step, learningRate: learningRate, run))
            }
            if let every = options.checkpointEvery, globalStep % every == 0, step + 1 < run.data.stepsPerEpoch {
                try writeCheckpoint(run, learningRate: learningRate, midEpoch: true)
            }
        }
    }

    /// One search step on this rank's shard. The step's sums over all ranks and the norm of the
    /// averaged gradient are the same numbers on every rank, so every rank stops together, before
    /// the update, when one of them is not finite.
    /// - Throws: ``SearchError/diverged(_:)`` for a loss, gradient or alpha that is not finite.
    func trainStep(epoch: Int, step: Int, learningRate: Float, train: ArraySlice<Int>, val: ArraySlice<Int>,
                   _ run: SearchRun) throws {
        let started = Date()
        let globalStep = run.progress.globalStep + 1, rank = communicator.rank
        try hooks?.beforeStep(globalStep, rank: rank)
        let batches = run.batches.fill(train: train, val: val, data: run.data, epoch: epoch)
        run.network.auxiliarySkipWeight = AuxiliarySkipSchedule.weight(step: globalStep - 1,
                                                                       steps: run.data.stepsPerEpoch * options.epochs)
        let local = Double(run.batches.size * run.batches.train.count)
        let state = run.state, hooks = self.hooks
        var sums = TrainingSums()
        _ = try run.step.run(train: batches.train, val: batches.val, learningRate: learningRate,
                             architecture: options.architectureUpdate(epoch: epoch), afterBackward: { loss in
            hooks?.afterBackward(loss: &loss, weightGradients: state.weights.grads!, step: globalStep, rank: rank)
        }, beforeUpdate: { outcome in
            sums = TrainingSums(loss: Double(outcome.loss) * local, correct: Double(outcome.correct), images: local,
                                archLoss: Double(outcome.archLoss ?? 0) * local).reduced(over: communicator)
            if let what = nonFinite(sums, gradientNorm: outcome.gradientNorm, alphas: state.alphas) {
                throw divergence(what, epoch: epoch, step: step, stepsPerEpoch: run.data.stepsPerEpoch, globalStep: globalStep)
            }
        })
        run.progress.sums = run.progress.sums + sums
        run.progress.globalStep = globalStep
        run.progress.stepInEpoch = step + 1
        let seconds = Date().timeIntervalSince(started)
        run.progress.stepSeconds += seconds
        run.stepsThisRun += 1
        run.secondsThisRun += seconds
    }

    /// "epoch 3/8 step 40/50  loss 1.2254  acc 55.43%  lr 0.02073  43.1 img/s  1.48 s/step  ETA 7m32s".
    func progressLine(epoch: Int, step: Int, learningRate: Float, _ run: SearchRun) -> String {
        let sums = run.progress.sums
        let perStep = run.secondsThisRun / Double(run.stepsThisRun)
        let eta = perStep * Double(run.data.stepsPerEpoch * options.epochs - run.progress.globalStep)
        return String(format: "epoch %d/%d step %d/%d  loss %.4f  acc %.2f%%  lr %.5f  %.1f img/s  %.2f s/step  ETA %@",
                      epoch + 1, options.epochs, step + 1, run.data.stepsPerEpoch, sums.meanLoss, 100 * sums.accuracy,
                      learningRate, Double(options.batchSize) / perStep, perStep, formatDuration(eta))
    }

    /// The end of epoch `epoch`: batch-norm statistics averaged over the ranks, validation (when
    /// ``SearchOptions/validates(epoch:)``), the consistency check, the epoch's files (genotype,
    /// alphas, metrics line), then its checkpoint.
    func finishEpoch(_ epoch: Int, _ run: SearchRun) throws {
        let learningRate = run.schedule.learningRate(epoch: epoch)
        let epochSeconds = run.progress.epochSeconds
        // Batch-norm statistics are per rank during training (DDP without SyncBN): average them
        // so that every rank validates, and later checkpoints, the same network.
        parallel.average(run.state.buffers.values)
        let validation = options.validates(epoch: epoch) ? validate(run) : nil
        if let problem = validation?.nonFiniteOutputs("the search network", images: "validation images") {
            // The same sums on every rank (reduced), so every rank stops here together.
            throw validationDivergence(problem, epoch: epoch, globalStep: run.progress.globalStep)
        }
        if options.checkEvery == nil { try checkConsistency(run.state) }

        let sums = run.progress.sums
        let genotype = run.network.genotype(maxParameterFree: options.maxParameterFree,
                                            maxParameterFreeReduce: options.maxParameterFreeReduce)
        let frozen = options.alphasFrozen(epoch: epoch)
        say(String(format: "epoch %d/%d done in %.1f s: train loss %.4f acc %.2f%%, ",
                   epoch + 1, options.epochs, epochSeconds, sums.meanLoss, 100 * sums.accuracy)
            + (validation.map { String(format: "val loss %.4f acc %.2f%%", $0.meanLoss, 100 * $0.top1Accuracy) }
               ?? "not validated (--validate-every \(options.validateEvery ?? 1))")
            + (frozen ? "; alphas frozen (warm-up)" : ""))
        say("genotype = \(genotype.dartsText)")
        // The epoch's files first, its checkpoint last: a search killed in between resumes from
        // the previous checkpoint, redoes the epoch and rewrites the same files.
        try agree {
            guard let folder = run.folder else { return }
            try folder.write("epoch_\(epoch).genotype.txt", text: genotype.dartsText)
            try folder.writeJSON("epoch_\(epoch).genotype.json", genotype)
            try folder.write("epoch_\(epoch).json", data: try genotype.nniJSON())   // NNI's exported architecture
            try folder.writeJSON("epoch_\(epoch).alphas.json", AlphaRecord(epoch: epoch, network: run.network, frozen: frozen))
            try folder.appendMetrics(EpochMetrics(epoch: epoch, learningRate: learningRate, trainLoss: sums.meanLoss,
                trainAccuracy: sums.accuracy, archLoss: frozen ? nil : sums.meanArchLoss, validationLoss: validation?.meanLoss,
                validationAccuracy: validation?.top1Accuracy, seconds: epochSeconds, steps: run.data.stepsPerEpoch,
                imagesPerSecond: Double(run.data.stepsPerEpoch * options.batchSize) / epochSeconds))
        }
        run.progress.epoch = epoch + 1
        run.progress.stepInEpoch = 0
        run.progress.sums = TrainingSums()
        run.progress.epochSeconds = 0
        if let validation {   // the last validation's, for result.json (the last epoch always validates)
            run.progress.validationLoss = validation.meanLoss
            run.progress.validationAccuracy = validation.top1Accuracy
        }
        try writeCheckpoint(run, learningRate: learningRate, midEpoch: false)
    }

    /// Loss and top-1 accuracy on the val half in evaluation mode (running BN statistics, no
    /// graph), sharded over the ranks in chunks of 256 images and reduced.
    func validate(_ run: SearchRun) -> EvaluationSums {
        let state = run.state, data = run.data, dataset = data.dataset
        state.network.eval()
        state.weights.requiresGrad = false
        state.alphas.requiresGrad = false
        defer {
            state.network.train()
            state.weights.requiresGrad = true
            state.alphas.requiresGrad = true
        }
        return evaluateSharded(count: data.valIndices.count, chunk: 256, classes: dataset.classCount,
                               communicator: communicator) { range in
            let part = Array(data.valIndices[range])
            let images = Tensor(shape: [part.count, dataset.channels, dataset.height, dataset.width])
            var labels = [Int32](repeating: 0, count: part.count)
            data.fill(part, images, &labels, .none, 0, stream: 3)
            let logits = state.network(images)
            return (logits, labels, crossEntropy(logits, labels: labels).scalar)
        }
    }

    /// Compares a hash of the weights, alphas and optimizer states across ranks.
    /// - Throws: ``SearchError/diverged(_:)`` naming the ranks that differ.
    func checkConsistency(_ state: SearchState) throws {
        try checkRanksAgree(parallel, arenas: [state.weights, state.alphas],
                            optimizerState: [state.weightOptimizer.momentumBuffer, state.alphaOptimizer.firstMoment,
                                             state.alphaOptimizer.secondMoment],
                            what: "weights, alphas and optimizer states", error: SearchError.diverged)
    }
}
