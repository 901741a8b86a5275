import DARTS
import Datasets
import Distributed

/// Everything that defines a search, as written to the run folder's config.json. Defaults are the
/// DARTS paper's (docs/algorithm.md §3 and §4) except where a field says otherwise.
public struct SearchOptions: Codable, Sendable, Equatable {
    public var dataset: String = DatasetKind.fashionMNIST.rawValue
    /// The data folder; nil means the dataset's default folder.
    public var data: String?
    /// `--dataset folder` (and numpy): resize every image to S x S (bilinear); nil: the images'
    /// own size, which must be one and square.
    public var imageSize: Int?
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
    /// docs/algorithm.md §12): each edge's operations see 1 / K of its channels. 1: plain DARTS.
    public var partialChannels: Int = 1
    /// DARTS-' auxiliary skip connection on every edge, its weight decaying linearly from 1 to 0
    /// over the search's steps (Chu et al., ICLR 2021; docs/algorithm.md §12).
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
    /// Validate at the end of every N-th epoch and of the last one; nil: every epoch (DARTS).
    /// Validation only measures (evaluation mode, no gradients, no random draws), so skipping it
    /// leaves the search bit for bit the same; it costs one forward pass over the val half.
    public var validateEvery: Int?
    /// Write a checkpoint every N steps as well as at the end of every epoch; nil: epoch ends only.
    public var checkpointEvery: Int?
    /// The checkpoints kept in the run folder's checkpoints/ (the newest K).
    public var keepCheckpoints: Int = 3
    /// The first N epochs train the weights only; the alphas and their Adam state stay as they
    /// are (PC-DARTS, Xu et al., ICLR 2020, freezes 15 of 50 epochs; NNI's `warmup_epochs`;
    /// docs/algorithm.md §11.1). 0: the alphas move from the first step (DARTS).
    public var warmupEpochs: Int = 0
    /// A term added to the architecture step's validation loss (docs/algorithm.md §11.2):
    /// none (DARTS) or beta (beta-DARTS, Ye et al., CVPR 2022).
    public var archRegularization: ArchRegularizationKind = .none
    /// lambda of `archRegularization` beta, ramped linearly from 0: lambda * e / epochs in the
    /// 0-based epoch e. Given only with beta (which needs it).
    public var archRegularizationWeight: Float?
    /// At most M of the normal cell's 8 edges may be parameter-free in the derived genotype
    /// (P-DARTS, Chen et al., ICCV 2019, keeps M = 2 skip_connect; docs/algorithm.md §11.3);
    /// nil: no cap (DARTS' rule).
    public var maxParameterFree: Int?
    /// The same cap on the reduction cell's 8 edges; nil: no cap. Pools chosen on most reduction
    /// edges (as DARTS_V2's five max_pool_3x3) retrained worst in the study (README, "Is the found
    /// cell any good?").
    public var maxParameterFreeReduce: Int?
    /// The preset the values started from (``SearchPreset``); nil in a config.json written before
    /// presets existed, which means paper.
    public var preset: SearchPreset?

    public init() {}

    /// The options of a preset.
    public init(preset: SearchPreset) {
        self.init()
        self.preset = preset
        switch preset {
        case .paper:
            break
        case .small:
            // The best configuration of the study behind it (scripts/study.py; README, "Is the
            // found cell any good?"): plain first-order DARTS on a C = 8, 5-cell network, epochs
            // of 125 steps on 8,000 + 8,000 images. The study searched 7 epochs (16.9 minutes on
            // an idle 2-core machine); 6 took 14.7 to 15.7. A second study of exactly this preset
            // against new random cells found its cells no better than random (README). At the same search minutes,
            // partial channels (C = 16, K = 4, 3 warm-up epochs of 10, Adam 3e-3, at most 2
            // parameter-free operations) found cells about 0.4 points worse after the retrain.
            // Validating the 8,000 val images took about 20 s an epoch: only the last epoch is
            // validated, which changes no step of the search (12.5 minutes on the idle machine).
            subset = 16_000
            epochs = 6
            layers = 5
            channels = 8
            validateEvery = 6
        }
    }

    /// The dataset kind, validated.
    public func datasetKind() throws -> DatasetKind {
        try OptionCheck(SearchError.invalidOption).dataset(dataset)
    }

    /// Whether the end of the 0-based `epoch` validates: every `validateEvery`-th epoch, and the last.
    public func validates(epoch: Int) -> Bool {
        epoch + 1 >= epochs || (epoch + 1) % max(1, validateEvery ?? 1) == 0
    }

    /// Checks every value a user can get wrong, with a message naming the flag and the fix. The
    /// search calls it once, on every rank, when its options are final (given, or resumed).
    /// - Throws: ``SearchError/invalidOption(_:)``.
    public func validate(worldSize: Int) throws {
        _ = try datasetKind()
        let check = OptionCheck(SearchError.invalidOption)
        try check.network(layers: layers, channels: channels, what: "a search network")
        try check.imageSize(imageSize)
        try check.partialChannels(partialChannels, network: searchConfiguration(inputChannels: 1, imageSize: 4, classes: 1))
        try check.batch(batchSize: batchSize, accumulate: accumulate, worldSize: worldSize)
        try check.schedule(epochs: epochs, learningRate: learningRate, learningRateMin: learningRateMin, momentum: momentum,
                           weightDecay: weightDecay, gradClip: gradClip)
        try check.positive(checkEvery, "--check-every")
        try check.positive(validateEvery, "--validate-every")
        try check.positive(checkpointEvery, "--checkpoint-every")
        try check.require(keepCheckpoints >= 1, "--keep-checkpoints \(keepCheckpoints) must be at least 1")
        try check.require(archLearningRate > 0 && archLearningRate.isFinite, "--arch-lr \(archLearningRate) must be positive")
        try check.require(archWeightDecay >= 0 && archWeightDecay.isFinite,
                          "--arch-weight-decay \(archWeightDecay) must not be negative")
        try check.require(trainPortion > 0 && trainPortion < 1, "--train-portion \(trainPortion) must be between 0 and 1 (exclusive)")
        try check.positive(subset, "--subset")
        try check.positive(printEvery, "--print-every")
        try check.require(warmupEpochs >= 0 && warmupEpochs < epochs,
                          "--warmup-epochs \(warmupEpochs) must be at least 0 and less than --epochs (\(epochs)): "
                          + "at least one epoch must train the alphas")
        switch (archRegularization, archRegularizationWeight) {
        case (.none, let weight?):
            throw SearchError.invalidOption("--arch-regularization-weight \(weight) needs --arch-regularization beta "
                                            + "(with --arch-regularization none there is no term to weigh)")
        case (.beta, nil):
            throw SearchError.invalidOption("--arch-regularization beta needs --arch-regularization-weight LAMBDA "
                                            + "(the term's weight is LAMBDA x e / epochs in the 0-based epoch e)")
        case (.beta, let weight?):
            try check.require(weight >= 0 && weight.isFinite,
                              "--arch-regularization-weight \(weight) must be a number, not negative")
        case (.none, nil):
            break
        }
        if let maxParameterFree {
            try check.require((0...8).contains(maxParameterFree),
                              "--max-parameter-free \(maxParameterFree) must be in 0...8 (the normal cell has 8 edges)")
        }
        if let maxParameterFreeReduce {
            try check.require((0...8).contains(maxParameterFreeReduce),
                              "--max-parameter-free-reduce \(maxParameterFreeReduce) must be in 0...8 (the reduction cell has 8 edges)")
        }
    }

    /// What the architecture step does in the 0-based `epoch`: nothing during the warm-up epochs;
    /// afterwards an update whose loss carries the regularization at this epoch's weight.
    func architectureUpdate(epoch: Int) -> ArchitectureUpdate {
        guard epoch >= warmupEpochs else { return ArchitectureUpdate(updatesAlphas: false) }
        switch archRegularization {
        case .none:
            return ArchitectureUpdate()
        case .beta:
            let lambda = ArchRegularization.rampedWeight(archRegularizationWeight ?? 0, epoch: epoch, epochs: epochs)
            return ArchitectureUpdate(regularization: .beta(weight: lambda))
        }
    }

    /// Whether the alphas stay frozen in the 0-based `epoch` (a warm-up epoch).
    public func alphasFrozen(epoch: Int) -> Bool { epoch < warmupEpochs }
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
        OptionFlag("--preset", \.preset, unset: "paper"),
        OptionFlag("--dataset", \.dataset),
        OptionFlag("--data", \.data, resumable: true, unset: "(the dataset's default)"),
        OptionFlag("--image-size", \.imageSize, unset: "(the images')"),
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
        OptionFlag("--warmup-epochs", \.warmupEpochs),
        OptionFlag("--arch-regularization", \.archRegularization),
        OptionFlag("--arch-regularization-weight", \.archRegularizationWeight),
        OptionFlag("--max-parameter-free", \.maxParameterFree, unset: "(no cap)"),
        OptionFlag("--max-parameter-free-reduce", \.maxParameterFreeReduce, unset: "(no cap)"),
        OptionFlag("--partial-channels", \.partialChannels),
        OptionFlag("--auxiliary-skip", \.auxiliarySkip),
        OptionFlag("--out", \.out),
        OptionFlag("--print-every", \.printEvery, resumable: true),
        OptionFlag("--accumulate", \.accumulate, resumable: true),
        OptionFlag("--check-every", \.checkEvery, resumable: true, unset: "(every epoch)"),
        OptionFlag("--validate-every", \.validateEvery, resumable: true, unset: "(every epoch)"),
        OptionFlag("--checkpoint-every", \.checkpointEvery, resumable: true, unset: "(every epoch)"),
        OptionFlag("--keep-checkpoints", \.keepCheckpoints, resumable: true),
    ]

    /// The options of the command line: `--preset`'s values (paper when not given) with every
    /// other given flag applied.
    /// - Parameter given: parsed values keyed by flag name.
    public static func fromCommandLine(_ given: [String: Any]) -> SearchOptions {
        SearchOptions(preset: given["--preset"] as? SearchPreset ?? .paper).applying(given)
    }
}

/// Named starting points for ``SearchOptions``; flags given on the command line override them.
public enum SearchPreset: String, CaseIterable, Codable, Sendable {
    /// The DARTS paper's search (docs/algorithm.md §3 and §4): C = 16, 8 cells, batch 64, 50 epochs,
    /// every training image, Adam 3e-4 on the alphas from the first step.
    case paper
    /// A search of about 13 minutes on a 2-core machine (`mpirun -np 2`) on Fashion-MNIST: 16,000
    /// images (8,000 train the weights, 8,000 the alphas), C = 8, 5 cells, 6 epochs, validated at
    /// the end only; every other value the paper's (first order, batch 64, Adam 3e-4 on the alphas
    /// from the first step).
    case small
}

/// Errors a search reports to its user.
public enum SearchError: CollectiveError, CustomStringConvertible {
    case invalidOption(String)
    case diverged(String)
    /// A run folder or checkpoint that cannot be resumed, or flags at odds with it.
    case resume(String)

    public var description: String {
        switch self {
        case .invalidOption(let m): return m
        case .diverged(let m): return m
        case .resume(let m): return m
        }
    }
}
