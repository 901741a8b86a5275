import DARTS
import Datasets
import Distributed
import Foundation

/// Everything that defines a retrain (the evaluation network trained from scratch on a genotype),
/// as written to the run folder's config.json and checkpoint. Defaults are the DARTS paper's
/// CIFAR-10 settings (docs/algorithm.md §6, the official cnn/train.py), the ``RetrainPreset/paper`` preset.
public struct RetrainOptions: Codable, Sendable, Equatable {
    /// The genotype as given: a file (DARTS text, JSON or NNI), a run folder (its genotype.json),
    /// DARTS_V1 or DARTS_V2.
    public var genotype: String = "DARTS_V2"
    public var dataset: String = DatasetKind.fashionMNIST.rawValue
    /// The data folder; nil means the dataset's default folder.
    public var data: String?
    /// `--dataset folder` (and numpy): resize every image to S x S (bilinear); nil: the images'
    /// own size, which must be one and square.
    public var imageSize: Int?
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
    /// Label smoothing ε of the training loss (PyTorch `CrossEntropyLoss(label_smoothing=)`; the
    /// official DARTS ImageNet retrain, train_imagenet.py, uses 0.1): each training image's target
    /// is (1 - ε) onehot + ε / classes, for the auxiliary head too. The test loss stays the plain
    /// cross-entropy. nil is 0 (none), as in every file written before the option existed.
    public var labelSmoothing: Float?
    /// The label smoothing in effect: ``labelSmoothing``, 0 when unset.
    public var labelSmoothingInEffect: Float { labelSmoothing ?? 0 }
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
    public var preset: RetrainPreset = .paper

    public init() {}

    /// The options of a preset.
    public init(preset: RetrainPreset) {
        self.init()
        self.preset = preset
        switch preset {
        case .paper:
            break
        case .fast:
            // Sized from measured throughput (README, "Retraining the found cell"): 10 epochs of the
            // 60,000 Fashion-MNIST images and the 10,000-image tests took 8 to 16 minutes on 2 ranks
            // x 1 core (26 with an earlier build). No random crop: with it, a 9-epoch run ended
            // with train accuracy at test accuracy (91.8%), underfitting.
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
        try OptionCheck(RetrainError.invalidOption).dataset(dataset)
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

    /// Checks every value a user can get wrong, with a message naming the flag and the fix. The
    /// retrain calls it once, on every rank, when its options are final (given, or resumed).
    /// - Throws: ``RetrainError/invalidOption(_:)``.
    public func validate(worldSize: Int) throws {
        _ = try datasetKind()
        let check = OptionCheck(RetrainError.invalidOption)
        try check.network(layers: layers, channels: channels, what: "the evaluation network")
        try check.imageSize(imageSize)
        try check.batch(batchSize: batchSize, accumulate: accumulate, worldSize: worldSize)
        try check.schedule(epochs: epochs, learningRate: learningRate, learningRateMin: learningRateMin, momentum: momentum,
                           weightDecay: weightDecay, gradClip: gradClip)
        try check.require(auxWeight >= 0 && auxWeight.isFinite, "--aux-weight \(auxWeight) must not be negative (0 builds no auxiliary head)")
        try check.require(dropPathProb >= 0 && dropPathProb < 1, "--drop-path-prob \(dropPathProb) must be in [0, 1)")
        try check.require(cutout >= 0, "--cutout \(cutout) must not be negative (0 switches cutout off)")
        if let labelSmoothing {
            try check.require(labelSmoothing >= 0 && labelSmoothing < 1,
                              "--label-smoothing \(labelSmoothing) must be in [0, 1) (0 for none; 0.1 is the usual value)")
        }
        if let cropPadding {
            try check.require(cropPadding >= 0, "--crop-padding \(cropPadding) must not be negative (0 switches the random crop off)")
            try check.require(cropPadding <= OptionCheck.largestImageSide,
                              "--crop-padding \(cropPadding) is more than \(OptionCheck.largestImageSide) pixels; use less than the images' side")
        }
        try check.positive(subset, "--subset")
        try check.positive(testSubset, "--test-subset")
        try check.positive(printEvery, "--print-every")
    }
}

extension RetrainOptions: CommandLineOptions {
    /// Every retrain flag, in `--help` order; `--preset` chooses the values the others start from
    /// (``init(preset:)``). `--resume` may set only `--print-every` anew (and `--accumulate` with
    /// another number of ranks); the others define the retrain and come from its checkpoint.
    public static let flags: [OptionFlag<RetrainOptions>] = [
        OptionFlag("--genotype", \.genotype),
        OptionFlag("--preset", \.preset),
        OptionFlag("--dataset", \.dataset),
        OptionFlag("--data", \.data, unset: "(the dataset's default)"),
        OptionFlag("--image-size", \.imageSize, unset: "(the images')"),
        OptionFlag("--layers", \.layers),
        OptionFlag("--channels", \.channels),
        OptionFlag("--batch-size", \.batchSize),
        OptionFlag("--epochs", \.epochs),
        OptionFlag("--lr", \.learningRate),
        OptionFlag("--lr-min", \.learningRateMin),
        OptionFlag("--momentum", \.momentum),
        OptionFlag("--weight-decay", \.weightDecay),
        OptionFlag("--aux-weight", \.auxWeight),
        OptionFlag("--drop-path-prob", \.dropPathProb),
        OptionFlag("--cutout", \.cutout),
        OptionFlag("--crop-padding", \.cropPadding, unset: "(the dataset's)"),
        OptionFlag("--grad-clip", \.gradClip),
        OptionFlag("--label-smoothing", \.labelSmoothing, unset: "0.0"),
        OptionFlag("--seed", \.seed),
        OptionFlag("--subset", \.subset, unset: "(all)"),
        OptionFlag("--test-subset", \.testSubset, unset: "(all)"),
        OptionFlag("--out", \.out),
        OptionFlag("--print-every", \.printEvery, resumable: true),
        OptionFlag("--accumulate", \.accumulate),
    ]

    /// The options of the command line: `--preset`'s values (when not given, the dataset's
    /// ``RetrainPreset/default(forDataset:)``) with every other given flag applied.
    /// - Parameter given: parsed values keyed by flag name.
    public static func fromCommandLine(_ given: [String: Any]) -> RetrainOptions {
        let dataset = given["--dataset"] as? String ?? RetrainOptions().dataset
        return RetrainOptions(preset: given["--preset"] as? RetrainPreset ?? .default(forDataset: dataset)).applying(given)
    }
}

/// Named starting points for ``RetrainOptions``; flags given on the command line override them.
public enum RetrainPreset: String, CaseIterable, Codable, Sendable {
    /// The paper's CIFAR-10 evaluation (docs/algorithm.md §6): C = 36, 20 cells, batch 96, 600 epochs,
    /// auxiliary 0.4, drop path 0.2, cutout 16. About 3.3 M parameters: a machine with many cores
    /// (or many nodes) and days.
    case paper
    /// A retrain of under 30 minutes on a 2-core machine (2 ranks x 1 OpenBLAS thread) on
    /// Fashion-MNIST: C = 8, 5 cells (about 60 k parameters), batch 64, 10 epochs, lr 0.05 cosine
    /// to 0, horizontal flip only (no random crop, cutout, auxiliary head or drop path).
    case fast

    /// The preset a retrain without `--preset` starts from: the paper's for CIFAR-10 (the setting it
    /// was made for), fast for the 28 x 28 datasets (the paper's 600 epochs and 3.3 M parameters
    /// are days on a few cores for a data set that a 60 k-parameter network fits in 10 epochs).
    public static func `default`(forDataset dataset: String) -> RetrainPreset {
        DatasetKind(rawValue: dataset) == .cifar10 ? .paper : .fast
    }
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
/// - Throws: `GenotypeError` naming the file and the problem; for the folder of a search that has
///   not finished (no genotype.json yet), whether it is still running or stopped, and what to do.
public func resolveGenotype(_ source: String) throws -> Genotype {
    if !FileManager.default.fileExists(atPath: source), let named = Genotype.named(source) { return named }
    let folder = URL(fileURLWithPath: source)
    if RunKind.of(folder: folder) == .search, !RunKind.isFinished(folder),
       !FileManager.default.fileExists(atPath: folder.appendingPathComponent(Genotype.fileName).path) {
        throw GenotypeError.unreadable(path: source, reason: "the search has not finished, so it has no \(Genotype.fileName) yet; "
            + (RunKind.search.stillRunning(source).map { "\($0): wait until it has ended" }
               ?? RunKind.search.whatToDo(with: source, finished: false))
            + (epochGenotypes(in: folder) ? ", or give one of its epoch_N.genotype.json files" : ""))
    }
    return try Genotype.load(path: source)
}

/// Whether a search run folder holds a genotype of a completed epoch (epoch_N.genotype.json).
private func epochGenotypes(in folder: URL) -> Bool {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
        .contains { $0.hasPrefix("epoch_") && $0.hasSuffix("." + Genotype.fileName) }
}
