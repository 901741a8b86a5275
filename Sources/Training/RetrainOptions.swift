import DARTS
import Datasets
import Distributed
import Foundation

/// Everything that defines a retrain (the evaluation network trained from scratch on a genotype),
/// as written to the run folder's config.json and checkpoint. Defaults are the DARTS paper's
/// CIFAR-10 settings (DARTS.md §4, the official cnn/train.py), the ``RetrainPreset/paper`` preset.
public struct RetrainOptions: Codable, Sendable, Equatable {
    /// The genotype as given: a file (DARTS text, JSON or NNI), a run folder (its genotype.json),
    /// DARTS_V1 or DARTS_V2.
    public var genotype: String = "DARTS_V2"
    public var dataset: String = DatasetKind.fashionMNIST.rawValue
    /// The data folder; nil means the dataset's default folder.
    public var data: String?
    /// Cells in the evaluation network.
    public var layers: Int = 20
    /// Initial channels C (official `init_channels`).
    public var channels: Int = 36
    /// The global batch size, split evenly over the ranks.
    public var batchSize: Int = 96
    public var epochs: Int = 600
    public var learningRate: Float = 0.025
    /// The learning rate cosine annealing reaches at the end (official train.py: 0).
    public var learningRateMin: Float = 0
    public var momentum: Float = 0.9
    public var weightDecay: Float = 3e-4
    /// Weight of the auxiliary head's loss; 0 builds no auxiliary head.
    public var auxWeight: Float = 0.4
    /// Drop path's final probability; epoch e (0-based) uses dropPathProb * e / epochs.
    public var dropPathProb: Float = 0.2
    /// Cutout side in pixels; 0 switches cutout off.
    public var cutout: Int = 16
    /// Padding of the random crop in pixels, 0 for no crop; nil: the dataset's standard (4, as
    /// the official train.py's RandomCrop(32, padding=4)).
    public var cropPadding: Int?
    public var gradClip: Float = 5
    public var seed: UInt64 = 0
    /// Use only the first N training images; nil for all.
    public var subset: Int?
    /// Evaluate on only the first N test images; nil for all.
    public var testSubset: Int?
    /// The run folder.
    public var out: String = "runs/retrain"
    /// Progress line every N steps.
    public var printEvery: Int = 50
    /// Gradient accumulation: each rank splits its shard into K micro-batches.
    public var accumulate: Int = 1
    /// The preset the values started from (see ``RetrainPreset``).
    public var preset: String = RetrainPreset.paper.rawValue

    public init() {}

    /// The options of a preset.
    public init(preset: RetrainPreset) {
        self.init()
        self.preset = preset.rawValue
        switch preset {
        case .paper:
            break
        case .fast:
            // Sized from measured throughput (README, "Retraining"): about 150 s per epoch of the
            // 60,000 Fashion-MNIST images plus the 10,000-image test on 2 ranks x 1 core, so 10
            // epochs fit in 30 minutes. No random crop: with it, a 9-epoch run ended with train
            // accuracy at test accuracy (91.8%), underfitting.
            layers = 5
            channels = 8
            batchSize = 64
            epochs = 10
            cropPadding = 0
            learningRate = 0.05
            auxWeight = 0
            dropPathProb = 0
            cutout = 0
            printEvery = 100
        }
    }

    /// The dataset kind, validated.
    public func datasetKind() throws -> DatasetKind {
        guard let kind = DatasetKind(rawValue: dataset) else {
            throw RetrainError.invalidOption("--dataset \(dataset) is not known; use one of: "
                + DatasetKind.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return kind
    }

    /// The augmentation of training images: the dataset's standard one (random crop with padding
    /// 4, or `cropPadding`; horizontal flip except on MNIST) plus cutout when `cutout` > 0.
    public func augmentation(_ kind: DatasetKind) -> Augmentation {
        var augmentation = Augmentation.standard(kind)
        if let cropPadding { augmentation.randomCropPadding = cropPadding }
        augmentation.cutoutLength = cutout
        return augmentation
    }

    /// Drop path's probability in epoch `epoch` (0-based): p * epoch / epochs (official train.py).
    public func dropPathProbability(epoch: Int) -> Float {
        dropPathProb * Float(epoch) / Float(epochs)
    }

    /// Checks every value a user can get wrong, with a message naming the flag and the fix.
    /// - Throws: ``RetrainError/invalidOption(_:)``.
    public func validate(worldSize: Int) throws {
        _ = try datasetKind()
        func require(_ ok: Bool, _ message: String) throws {
            if !ok { throw RetrainError.invalidOption(message) }
        }
        try require(layers >= 3, "--layers \(layers): the evaluation network needs at least 3 cells (two of them reduction cells)")
        try require(channels > 0 && channels % 2 == 0, "--channels \(channels) must be a positive even number (FactorizedReduce halves it)")
        try require(epochs > 0, "--epochs \(epochs) must be positive")
        try require(batchSize > 0, "--batch-size \(batchSize) must be positive")
        try require(accumulate >= 1, "--accumulate \(accumulate) must be at least 1")
        try require(batchSize % worldSize == 0,
                    "--batch-size \(batchSize) (global) is not divisible by the world size \(worldSize); use a multiple of \(worldSize)")
        try require(batchSize % (worldSize * accumulate) == 0,
                    "--batch-size \(batchSize) is not divisible by world size x --accumulate = \(worldSize * accumulate); "
                    + "use a multiple of \(worldSize * accumulate)")
        try require(batchSize / (worldSize * accumulate) >= 2,
                    "--batch-size \(batchSize) gives \(batchSize / (worldSize * accumulate)) image(s) per micro-batch; "
                    + "batch norm needs at least 2 (raise --batch-size or lower --accumulate)")
        try require(learningRate > 0 && learningRate.isFinite, "--lr \(learningRate) must be positive")
        try require(learningRateMin >= 0 && learningRateMin <= learningRate, "--lr-min \(learningRateMin) must be in [0, --lr]")
        try require(momentum >= 0 && momentum < 1, "--momentum \(momentum) must be in [0, 1)")
        try require(weightDecay >= 0, "--weight-decay \(weightDecay) must not be negative")
        try require(auxWeight >= 0 && auxWeight.isFinite, "--aux-weight \(auxWeight) must not be negative (0 builds no auxiliary head)")
        try require(dropPathProb >= 0 && dropPathProb < 1, "--drop-path-prob \(dropPathProb) must be in [0, 1)")
        try require(cutout >= 0, "--cutout \(cutout) must not be negative (0 switches cutout off)")
        if let cropPadding {
            try require(cropPadding >= 0, "--crop-padding \(cropPadding) must not be negative (0 switches the random crop off)")
        }
        try require(gradClip > 0, "--grad-clip \(gradClip) must be positive")
        if let subset { try require(subset > 0, "--subset \(subset) must be positive") }
        if let testSubset { try require(testSubset > 0, "--test-subset \(testSubset) must be positive") }
        try require(printEvery > 0, "--print-every \(printEvery) must be positive")
    }
}

extension RetrainOptions {
    /// The options that define a retrain, as their command-line flags and values as text, in
    /// `--help` order: every option but --out and --print-every.
    public var definingValues: [(flag: String, value: String)] {
        [("--genotype", genotype), ("--preset", preset), ("--dataset", dataset), ("--data", data ?? "(the dataset's default)"),
         ("--layers", "\(layers)"), ("--channels", "\(channels)"), ("--batch-size", "\(batchSize)"), ("--epochs", "\(epochs)"),
         ("--lr", "\(learningRate)"), ("--lr-min", "\(learningRateMin)"), ("--momentum", "\(momentum)"),
         ("--weight-decay", "\(weightDecay)"), ("--aux-weight", "\(auxWeight)"), ("--drop-path-prob", "\(dropPathProb)"),
         ("--cutout", "\(cutout)"), ("--crop-padding", cropPadding.map { "\($0)" } ?? "(the dataset's)"),
         ("--grad-clip", "\(gradClip)"), ("--seed", "\(seed)"), ("--subset", subset.map { "\($0)" } ?? "(all)"),
         ("--test-subset", testSubset.map { "\($0)" } ?? "(all)"), ("--accumulate", "\(accumulate)")]
    }
}

/// Named starting points for ``RetrainOptions``; flags given on the command line override them.
public enum RetrainPreset: String, CaseIterable, Codable, Sendable {
    /// The paper's CIFAR-10 evaluation (DARTS.md §4): C = 36, 20 cells, batch 96, 600 epochs,
    /// auxiliary 0.4, drop path 0.2, cutout 16. About 3.3 M parameters: a machine with many cores
    /// (or many nodes) and days.
    case paper
    /// A retrain of under 30 minutes on a 2-core machine (2 ranks x 1 OpenBLAS thread) on
    /// Fashion-MNIST: C = 8, 5 cells (about 60 k parameters), batch 64, 10 epochs, lr 0.05 cosine
    /// to 0, horizontal flip only (no random crop, cutout, auxiliary head or drop path).
    case fast
}

/// Errors a retrain or an evaluation reports to its user.
public enum RetrainError: CollectiveError, CustomStringConvertible {
    case invalidOption(String)
    case resume(String)
    case diverged(String)
    case model(String)

    public var description: String {
        switch self {
        case .invalidOption(let m), .resume(let m), .diverged(let m), .model(let m): return m
        }
    }
}

/// The genotype `source` names: an existing file or folder first (any format
/// `Genotype.load(path:)` reads; a run folder means its genotype.json), then DARTS_V1 / DARTS_V2.
/// - Throws: `GenotypeError` naming the file and the problem.
public func resolveGenotype(_ source: String) throws -> Genotype {
    if !FileManager.default.fileExists(atPath: source), let named = Genotype.named(source) { return named }
    return try Genotype.load(path: source)
}
