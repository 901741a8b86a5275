import DARTS
import DartsTensor
import Distributed
import Foundation
import NN

/// Everything a search holds while it runs (made by ``SearchJob/prepare()``): its data, state and
/// step, the run folder (rank 0), where it is, and the batch tensors it refills every step.
final class SearchRun {
    let data: SearchData
    let state: SearchState
    let step: SearchStep
    let schedule: CosineAnnealingLR
    /// The run folder, on rank 0 only.
    let folder: RunFolder?
    /// Every rank's host, indexed by rank.
    let hosts: [String]
    let batches: MicroBatchBuffers
    /// Where the search is; checkpoints save it.
    var progress: SearchProgress
    /// Steps and step seconds of this process (a resumed search's ETA counts from its start).
    var stepsThisRun = 0
    var secondsThisRun = 0.0

    var network: SearchNetwork { state.network }

    init(data: SearchData, state: SearchState, step: SearchStep, folder: RunFolder?, hosts: [String],
         progress: SearchProgress, options: SearchOptions, worldSize: Int) {
        self.data = data
        self.state = state
        self.step = step
        self.folder = folder
        self.hosts = hosts
        self.progress = progress
        schedule = CosineAnnealingLR(maxLearningRate: options.learningRate, minLearningRate: options.learningRateMin,
                                     epochs: options.epochs)
        let dataset = data.dataset
        batches = MicroBatchBuffers(count: options.accumulate, images: options.batchSize / worldSize / options.accumulate,
                                    shape: [dataset.channels, dataset.height, dataset.width])
    }
}

/// One rank's train and val micro-batch tensors, allocated once and refilled every step.
struct MicroBatchBuffers {
    let train: [Tensor]
    let val: [Tensor]
    /// Images per micro-batch.
    let size: Int

    /// `count` micro-batches of `images` images of `shape` (C, H, W) for each half.
    init(count: Int, images: Int, shape: [Int]) {
        size = images
        train = (0..<count).map { _ in Tensor(shape: [images] + shape) }
        val = (0..<count).map { _ in Tensor(shape: [images] + shape) }
    }

    /// This rank's shard of a step, as consecutive micro-batches: the train half's images (stream
    /// 1) and the val half's (stream 2), augmented as `data` says for `epoch`.
    func fill(train trainShard: ArraySlice<Int>, val valShard: ArraySlice<Int>, data: SearchData,
              epoch: Int) -> (train: [LabeledBatch], val: [LabeledBatch]) {
        var trainBatches: [LabeledBatch] = [], valBatches: [LabeledBatch] = []
        for k in train.indices {
            let part = (trainShard.startIndex + k * size)..<(trainShard.startIndex + (k + 1) * size)
            let valPart = (valShard.startIndex + k * size)..<(valShard.startIndex + (k + 1) * size)
            var labels = [Int32](repeating: 0, count: size), valLabels = labels
            data.fill(trainShard[part].map { data.trainIndices[$0] }, train[k], &labels, data.augmentation, epoch, stream: 1)
            data.fill(valShard[valPart].map { data.valIndices[$0] }, val[k], &valLabels, data.augmentation, epoch, stream: 2)
            trainBatches.append(LabeledBatch(images: train[k], labels: labels))
            valBatches.append(LabeledBatch(images: val[k], labels: valLabels))
        }
        return (trainBatches, valBatches)
    }
}

/// The sums of a search's steps over all ranks: training loss x images, correct predictions,
/// images, and the architect's validation loss x images.
struct TrainingSums: Equatable {
    var loss = 0.0, correct = 0.0, images = 0.0, archLoss = 0.0

    var meanLoss: Double { loss / images }
    var accuracy: Double { correct / images }
    var meanArchLoss: Double { archLoss / images }

    static func + (a: TrainingSums, b: TrainingSums) -> TrainingSums {
        TrainingSums(loss: a.loss + b.loss, correct: a.correct + b.correct, images: a.images + b.images,
                     archLoss: a.archLoss + b.archLoss)
    }

    /// The sums over all ranks (every rank must call it).
    func reduced(over communicator: Communicator) -> TrainingSums {
        var flat = [loss, correct, images, archLoss]
        communicator.allreduceSum(&flat)
        return TrainingSums(loss: flat[0], correct: flat[1], images: flat[2], archLoss: flat[3])
    }
}

extension SearchProgress {
    /// The epoch's sums so far (stored as `epochSums`, in the checkpoint's order).
    var sums: TrainingSums {
        get { TrainingSums(loss: epochSums[0], correct: epochSums[1], images: epochSums[2], archLoss: epochSums[3]) }
        set { epochSums = [newValue.loss, newValue.correct, newValue.images, newValue.archLoss] }
    }
}
