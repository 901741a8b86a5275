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
    /// PC-DARTS' partial channel connections with edge normalization (Xu et al., ICLR 2020;
    /// docs/algorithm.md §11): each edge's operations see 1 / K of its channels. 1: plain DARTS.
    public var partialChannels: Int = 1
    /// DARTS-' auxiliary skip connection on every edge, its weight decaying linearly from 1 to 0
    /// over the search's steps (Chu et al., ICLR 2021; docs/algorithm.md §11).
    public var auxiliarySkip: Bool = false
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
        try OptionCheck(SearchError.invalidOption).dataset(dataset)
    }

    /// Checks every value a user can get wrong, with a message naming the flag and the fix. The
    /// search calls it once, on every rank, when its options are final (given, or resumed).
    /// - Throws: ``SearchError/invalidOption(_:)``.
    public func validate(worldSize: Int) throws {
        _ = try datasetKind()
        let check = OptionCheck(SearchError.invalidOption)
        try check.network(layers: layers, channels: channels, what: "a search network")
        try check.partialChannels(partialChannels, network: searchConfiguration(inputChannels: 1, imageSize: 4, classes: 1))
        try check.batch(batchSize: batchSize, accumulate: accumulate, worldSize: worldSize)
        try check.schedule(epochs: epochs, learningRate: learningRate, learningRateMin: learningRateMin, momentum: momentum,
                           weightDecay: weightDecay, gradClip: gradClip)
        try check.positive(checkEvery, "--check-every")
        try check.positive(checkpointEvery, "--checkpoint-every")
        try check.require(keepCheckpoints >= 1, "--keep-checkpoints \(keepCheckpoints) must be at least 1")
        try check.require(archLearningRate > 0 && archLearningRate.isFinite, "--arch-lr \(archLearningRate) must be a positive number")
        try check.require(archWeightDecay >= 0 && archWeightDecay.isFinite,
                          "--arch-weight-decay \(archWeightDecay) must be a number, not negative")
        try check.require(trainPortion > 0 && trainPortion < 1, "--train-portion \(trainPortion) must be between 0 and 1 (exclusive)")
        try check.positive(subset, "--subset")
        try check.positive(printEvery, "--print-every")
    }
}

extension SearchOptions {
    /// The search network these options define, for data of the given shape.
    public func searchConfiguration(inputChannels: Int, imageSize: Int, classes: Int) -> SearchConfiguration {
        var config = SearchConfiguration(inputChannels: inputChannels, imageSize: imageSize, channels: channels,
                                         layers: layers, classes: classes)
        config.partialChannels = partialChannels
        config.auxiliarySkip = auxiliarySkip
        return config
    }
}

extension SearchOptions: CommandLineOptions {
    /// Every search flag, in `--help` order. `--resume` may set the resumable ones anew: where the
    /// data are, how each step's work is split into micro-batches (world size x --accumulate must
    /// stay the same), and how often it prints, checks and checkpoints; the others define the
    /// search and come from its checkpoint.
    public static let flags: [OptionFlag<SearchOptions>] = [
        OptionFlag("--dataset", \.dataset),
        OptionFlag("--data", \.data, resumable: true, unset: "(the dataset's default)"),
        OptionFlag("--layers", \.layers),
        OptionFlag("--channels", \.channels),
        OptionFlag("--batch-size", \.batchSize),
        OptionFlag("--epochs", \.epochs),
        OptionFlag("--lr", \.learningRate),
        OptionFlag("--lr-min", \.learningRateMin),
        OptionFlag("--momentum", \.momentum),
        OptionFlag("--weight-decay", \.weightDecay),
        OptionFlag("--arch-lr", \.archLearningRate),
        OptionFlag("--arch-weight-decay", \.archWeightDecay),
        OptionFlag("--grad-clip", \.gradClip),
        OptionFlag("--train-portion", \.trainPortion),
        OptionFlag("--subset", \.subset, unset: "(all)"),
        OptionFlag("--seed", \.seed),
        OptionFlag("--second-order", \.secondOrder),
        OptionFlag("--recompute", \.recompute),
        OptionFlag("--partial-channels", \.partialChannels),
        OptionFlag("--auxiliary-skip", \.auxiliarySkip),
        OptionFlag("--out", \.out),
        OptionFlag("--print-every", \.printEvery, resumable: true),
        OptionFlag("--accumulate", \.accumulate, resumable: true),
        OptionFlag("--check-every", \.checkEvery, resumable: true, unset: "(every epoch)"),
        OptionFlag("--checkpoint-every", \.checkpointEvery, resumable: true, unset: "(every epoch)"),
        OptionFlag("--keep-checkpoints", \.keepCheckpoints, resumable: true),
    ]
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
