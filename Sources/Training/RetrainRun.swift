import DARTS
import DartsTensor
import Datasets
import Distributed
import Foundation
import NN

/// The data of a retrain on one rank: the training and test images (every rank reads the files
/// itself), the sampler of the training images and their augmentation.
struct RetrainData {
    let kind: DatasetKind
    /// The folder the files were read from.
    let folder: String
    let train: ImageDataset
    let test: ImageDataset
    let sampler: DistributedSampler
    let augmentation: Augmentation
    /// ``dataChecksum(_:)`` of `train` and of `test`, compared across ranks at start, and their
    /// combination (FNV-1a of the two), recorded in every checkpoint.
    let checksums: [UInt64]
    var checksum: UInt64 {
        var hash = FNV1a()
        for value in checksums { hash.combine(value) }
        return hash.value
    }

    var stepsPerEpoch: Int { sampler.batchCount }

    /// The name of each class, indexed by label.
    var classNames: [String] { train.classNames ?? kind.classNames }

    /// - Throws: `DatasetError` (missing or damaged files) or ``RetrainError/invalidOption(_:)``
    ///   (a subset or batch size the data cannot give), with a sentence naming the input.
    init(options: RetrainOptions, kind: DatasetKind, rank: Int, worldSize: Int) throws {
        self.kind = kind
        folder = options.data ?? kind.defaultFolder
        var train = try loadDataset(kind, folder: folder, split: .train, imageSize: options.imageSize)
        if let subset = options.subset {
            guard subset <= train.count else {
                throw RetrainError.invalidOption("--subset \(subset) is larger than the \(train.count) training images")
            }
            train = train.prefix(subset)
        }
        var test = try loadDataset(kind, folder: folder, split: .test, imageSize: options.imageSize,
                                   reference: kind.isOwnData ? DatasetReference(train) : nil)
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
        // A crop with as much padding as the image can be padding only, and a cutout as long as
        // the image can erase all of it: both train on blank images.
        let side = min(train.height, train.width)
        let augmentation = options.augmentation(kind)
        guard augmentation.randomCropPadding < side else {
            throw RetrainError.invalidOption("--crop-padding \(augmentation.randomCropPadding) is not smaller than the "
                + "images' side (\(side) pixels), so a crop can be all padding; use less than \(side) (4 is the usual value)")
        }
        // Cutout zeroes the square [centre - L/2, centre + L/2) (integer L/2), centred anywhere.
        guard 2 * (augmentation.cutoutLength / 2) < side else {
            throw RetrainError.invalidOption("--cutout \(augmentation.cutoutLength) can erase a whole image of the "
                + "images' side (\(side) pixels); use less than \(side) (half the side is usual)")
        }
        self.train = train
        self.test = test
        checksums = [dataChecksum(train), dataChecksum(test)]
        sampler = try DistributedSampler(count: train.count, globalBatchSize: options.batchSize, rank: rank,
                                         worldSize: worldSize, seed: options.seed)
        self.augmentation = augmentation
    }
}

/// Everything a retrain holds while it runs (made by ``RetrainJob/prepare()``): options, genotype,
/// network and its arenas, data, the run folder (rank 0), where it is and what it measured.
final class RetrainRun {
    let options: RetrainOptions
    let genotype: Genotype
    let configuration: AugmentConfiguration
    let network: AugmentNetwork
    let weights: ParameterArena
    let buffers: ParameterArena
    let optimizer: SGD
    let schedule: CosineAnnealingLR
    let data: RetrainData
    /// Every rank's host, indexed by rank.
    let hosts: [String]
    /// Parameters of the auxiliary head (0 without one).
    let auxiliaryParameters: Int
    /// This rank's micro-batch tensors (N, C, H, W), allocated once and refilled every step.
    let images: [Tensor]
    /// The run folder, on rank 0 only.
    var folder: RunFolder?
    /// Completed epochs and steps when this process started, and steps since the retrain began.
    private(set) var startEpoch = 0
    private(set) var stepsAtStart = 0
    var totalSteps = 0
    /// The metrics of the completed epochs.
    var history: [RetrainEpochMetrics] = []
    /// The training sums of the epoch just trained.
    var epochSums = TrainingSums()
    /// Seconds of the run before this process (a resumed retrain), of training steps in all, and
    /// of this process's steps.
    private(set) var priorSeconds = 0.0
    var stepSeconds = 0.0
    var processStepSeconds = 0.0

    init(options: RetrainOptions, genotype: Genotype, configuration: AugmentConfiguration, network: AugmentNetwork,
         data: RetrainData, hosts: [String], worldSize: Int) {
        self.options = options
        self.genotype = genotype
        self.configuration = configuration
        self.network = network
        self.data = data
        self.hosts = hosts
        weights = ParameterArena(network.namedParameters())
        buffers = ParameterArena(network.namedBuffers(), keepsGradients: false)
        optimizer = SGD(arena: weights, learningRate: options.learningRate, momentum: options.momentum,
                        weightDecay: options.weightDecay)
        schedule = CosineAnnealingLR(maxLearningRate: options.learningRate, minLearningRate: options.learningRateMin,
                                     epochs: options.epochs)
        let micro = options.batchSize / worldSize / options.accumulate
        images = (0..<options.accumulate).map { _ in
            Tensor(shape: [micro, data.train.channels, data.train.height, data.train.width])
        }
        auxiliaryParameters = network.namedParameters().filter { $0.name.hasPrefix("auxiliary_head.") }
            .map(\.tensor.count).reduce(0, +)
    }

    /// Where a checkpoint left the retrain (its arenas are restored separately).
    func restore(_ manifest: RetrainCheckpoint.Manifest) {
        startEpoch = manifest.epoch
        totalSteps = manifest.step
        stepsAtStart = manifest.step
        history = manifest.history
        priorSeconds = manifest.seconds
        stepSeconds = manifest.stepSeconds
    }
}
