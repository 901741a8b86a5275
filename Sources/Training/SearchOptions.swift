import DARTS
import Datasets
import Distributed

/// Everything that defines a search, as written to the run folder's config.json. Defaults are the
/// DARTS paper's (DARTS.md §2) except where a field says otherwise.
public struct SearchOptions: Codable, Sendable, Equatable {
    public var dataset: String = DatasetKind.fashionMNIST.rawValue
    /// The data folder; nil means the dataset's default folder.
    public var data: String?
    public var layers: Int = 8
    public var channels: Int = 16
    /// The global batch size, split evenly over the ranks.
    public var batchSize: Int = 64
    public var epochs: Int = 50
    public var learningRate: Float = 0.025
    public var learningRateMin: Float = 0.001
    public var momentum: Float = 0.9
    public var weightDecay: Float = 3e-4
    public var archLearningRate: Float = 3e-4
    public var archWeightDecay: Float = 1e-3
    public var gradClip: Float = 5
    public var trainPortion: Double = 0.5
    /// Use only the first N training images (before the train/val split); nil for all.
    public var subset: Int?
    public var seed: UInt64 = 2
    /// The second-order (unrolled) architecture gradient instead of the first-order one.
    public var secondOrder: Bool = false
    /// Activation recomputation on every edge (``MixedOp/recomputesActivations``): a fraction of
    /// the memory for about one more forward pass of the edges per step.
    public var recompute: Bool = false
    /// The run folder.
    public var out: String = "runs/search"
    /// Progress line every N steps.
    public var printEvery: Int = 10
    /// Gradient accumulation: each rank splits its shard into K micro-batches, so that P ranks with
    /// K micro-batches each compute exactly what P * K ranks would.
    public var accumulate: Int = 1
    /// Compare the checksum of weights, alphas and optimizer states across ranks every N steps;
    /// nil: at the end of every epoch.
    public var checkEvery: Int?
    /// Write a checkpoint every N steps as well as at the end of every epoch; nil: epoch ends only.
    public var checkpointEvery: Int?
    /// The checkpoints kept in the run folder's checkpoints/ (the newest K).
    public var keepCheckpoints: Int = 3

    public init() {}

    /// The dataset kind, validated.
    public func datasetKind() throws -> DatasetKind {
        guard let kind = DatasetKind(rawValue: dataset) else {
            throw SearchError.invalidOption("--dataset \(dataset) is not known; use one of: "
                + DatasetKind.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return kind
    }

    /// Checks every value a user can get wrong, with a message naming the flag and the fix.
    /// - Throws: ``SearchError/invalidOption(_:)``.
    public func validate(worldSize: Int) throws {
        _ = try datasetKind()
        func require(_ ok: Bool, _ message: String) throws {
            if !ok { throw SearchError.invalidOption(message) }
        }
        try require(layers >= 3, "--layers \(layers): a search network needs at least 3 cells (two of them reduction cells)")
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
        if let checkEvery { try require(checkEvery > 0, "--check-every \(checkEvery) must be positive") }
        if let checkpointEvery { try require(checkpointEvery > 0, "--checkpoint-every \(checkpointEvery) must be positive") }
        try require(keepCheckpoints >= 1, "--keep-checkpoints \(keepCheckpoints) must be at least 1")
        try require(learningRate > 0 && learningRate.isFinite, "--lr \(learningRate) must be positive")
        try require(learningRateMin >= 0 && learningRateMin <= learningRate, "--lr-min \(learningRateMin) must be in [0, --lr]")
        try require(momentum >= 0 && momentum < 1, "--momentum \(momentum) must be in [0, 1)")
        try require(weightDecay >= 0, "--weight-decay \(weightDecay) must not be negative")
        try require(archLearningRate > 0 && archLearningRate.isFinite, "--arch-lr \(archLearningRate) must be positive")
        try require(archWeightDecay >= 0, "--arch-weight-decay \(archWeightDecay) must not be negative")
        try require(gradClip > 0, "--grad-clip \(gradClip) must be positive")
        try require(trainPortion > 0 && trainPortion < 1, "--train-portion \(trainPortion) must be between 0 and 1 (exclusive)")
        if let subset { try require(subset > 0, "--subset \(subset) must be positive") }
        try require(printEvery > 0, "--print-every \(printEvery) must be positive")
    }
}

extension SearchOptions {
    /// Every option as its command-line flag and its value as text, in `--help` order.
    public var flagValues: [(flag: String, value: String)] {
        [("--dataset", dataset), ("--data", data ?? "(the dataset's default)"), ("--layers", "\(layers)"),
         ("--channels", "\(channels)"), ("--batch-size", "\(batchSize)"), ("--epochs", "\(epochs)"),
         ("--lr", "\(learningRate)"), ("--lr-min", "\(learningRateMin)"), ("--momentum", "\(momentum)"),
         ("--weight-decay", "\(weightDecay)"), ("--arch-lr", "\(archLearningRate)"),
         ("--arch-weight-decay", "\(archWeightDecay)"), ("--grad-clip", "\(gradClip)"),
         ("--train-portion", "\(trainPortion)"), ("--subset", subset.map { "\($0)" } ?? "(all)"), ("--seed", "\(seed)"),
         ("--second-order", "\(secondOrder)"), ("--recompute", "\(recompute)"), ("--out", out), ("--print-every", "\(printEvery)"),
         ("--accumulate", "\(accumulate)"), ("--check-every", checkEvery.map { "\($0)" } ?? "(every epoch)"),
         ("--checkpoint-every", checkpointEvery.map { "\($0)" } ?? "(every epoch)"),
         ("--keep-checkpoints", "\(keepCheckpoints)")]
    }

    /// The flags a resumed search may set anew: where the data are, how each step's work is split
    /// into micro-batches (world size x --accumulate must stay the same), and how often it prints,
    /// checks and checkpoints. The others define the search and come from its checkpoint.
    public static let resumableFlags: Set<String> = [
        "--data", "--accumulate", "--print-every", "--check-every", "--checkpoint-every", "--keep-checkpoints",
    ]

    /// The options that decide the search's numbers, as text, with the resumable ones left out:
    /// two runs with the same text take the same steps.
    var definingValues: [(flag: String, value: String)] {
        flagValues.filter { !Self.resumableFlags.contains($0.flag) && $0.flag != "--out" }
    }
}

/// Errors a search reports to its user.
public enum SearchError: CollectiveError, CustomStringConvertible {
    case invalidOption(String)
    case runFolder(String)
    case diverged(String)
    /// A run folder or checkpoint that cannot be resumed, or flags at odds with it.
    case resume(String)

    public var description: String {
        switch self {
        case .invalidOption(let m): return m
        case .runFolder(let m): return m
        case .diverged(let m): return m
        case .resume(let m): return m
        }
    }
}
