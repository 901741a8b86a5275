import DartsTensor
import NN

/// The shape of an evaluation (retrain) network: input, width, depth, classes, auxiliary head
/// (docs/algorithm.md §6; CIFAR-10 defaults C = 36, 20 layers, auxiliary on).
public struct AugmentConfiguration: Sendable, Equatable, Codable {
    public var inputChannels: Int
    public var imageSize: Int
    public var channels: Int
    public var layers: Int
    public var classes: Int
    /// Whether to build the auxiliary head after cell 2 * layers / 3.
    public var auxiliary: Bool
    public var stemMultiplier: Int = 3

    public init(inputChannels: Int, imageSize: Int, channels: Int = 36, layers: Int = 20, classes: Int = 10,
                auxiliary: Bool = true) {
        self.inputChannels = inputChannels
        self.imageSize = imageSize
        self.channels = channels
        self.layers = layers
        self.classes = classes
        self.auxiliary = auxiliary
    }

    /// The indices of the reduction cells: layers / 3 and 2 layers / 3.
    public var reductionCells: [Int] { [layers / 3, 2 * layers / 3] }

    /// The index of the cell whose output feeds the auxiliary head: 2 layers / 3.
    public var auxiliaryCell: Int { 2 * layers / 3 }
}

/// A genotype or configuration the evaluation network cannot be built from.
public enum AugmentNetworkError: Error, CustomStringConvertible, Equatable {
    case invalidGenotype(String)
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case .invalidGenotype(let s): return "invalid genotype: \(s)"
        case .invalidConfiguration(let s): return "invalid network configuration: \(s)"
        }
    }
}

/// The DARTS evaluation network (official `NetworkCIFAR` in cnn/model.py): a stem (conv 3x3 to
/// stemMultiplier * C channels, BN), `layers` cells built from one genotype (C doubles at the
/// reduction cells layers / 3 and 2 layers / 3), global average pooling and a linear classifier;
/// optionally an ``AuxiliaryHead`` on the output of cell 2 layers / 3.
///
/// Children are registered in the official order, so parameter names and order match PyTorch's:
/// `stem`, `cells`, `auxiliary_head` (when built), `global_pooling`, `classifier`.
/// DARTS_V2 at C = 36, 20 layers, 10 classes has 3,349,342 parameters, 476,426 more with the head.
public final class AugmentNetwork: Module {
    public let configuration: AugmentConfiguration
    public let genotype: Genotype
    let stem: Sequential
    let cells: ModuleList<AugmentCell>
    let auxiliaryHead: AuxiliaryHead?
    let globalPooling = GlobalAveragePooling()
    let classifier: Linear
    /// Drop path's p for every cell (official `drop_path_prob`); the trainer sets it each epoch
    /// to p_max * epoch / epochs. Used only in training mode.
    public var dropPathProbability: Float = 0
    /// The source of drop path's per-sample masks; seeded from the construction generator, and
    /// settable (e.g. to give each rank its own stream, or to restore a checkpoint).
    public var dropPathGenerator: RandomGenerator
    /// When set, one seed per sample of the next forward passes' batches: sample n's drop path
    /// masks then come from its own generator (``PerSampleDropPathMasks``) instead of
    /// `dropPathGenerator`, so they do not depend on how samples are split over batches or ranks.
    /// Its count must equal the batch size N of every training forward pass while set.
    public var dropPathSampleSeeds: [UInt64]?

    /// - Throws: ``AugmentNetworkError`` when a cell of `genotype` is malformed (odd number of
    ///   operations, an input that is not an earlier state, a bad concat list) or the image size
    ///   cannot be halved at each reduction.
    public init(_ config: AugmentConfiguration, genotype: Genotype, rng: inout RandomGenerator) throws {
        try AugmentNetwork.validate(config, genotype: genotype)
        configuration = config
        self.genotype = genotype
        var cCurrent = config.stemMultiplier * config.channels
        stem = Sequential([
            Conv2d(inputChannels: config.inputChannels, outputChannels: cCurrent, kernelSize: 3, padding: 1,
                   bias: false, rng: &rng),
            BatchNorm2d(featureCount: cCurrent),
        ])
        var (cpp, cp) = (cCurrent, cCurrent)
        cCurrent = config.channels
        var size = config.imageSize
        var (auxiliaryChannels, auxiliarySize) = (cp, size)
        var list: [AugmentCell] = []
        var previousReduction = false
        for i in 0..<config.layers {
            let reduction = config.reductionCells.contains(i)
            if reduction { cCurrent *= 2; size /= 2 }
            let cell = AugmentCell(genotype: genotype, previousPreviousChannels: cpp, previousChannels: cp,
                                   channels: cCurrent, reduction: reduction, previousReduction: previousReduction,
                                   rng: &rng)
            list.append(cell)
            previousReduction = reduction
            (cpp, cp) = (cp, cell.multiplier * cCurrent)
            if i == config.auxiliaryCell { (auxiliaryChannels, auxiliarySize) = (cp, size) }
        }
        cells = ModuleList(list)
        auxiliaryHead = config.auxiliary
            ? AuxiliaryHead(channels: auxiliaryChannels, inputSize: auxiliarySize, classes: config.classes, rng: &rng)
            : nil
        classifier = Linear(inputFeatures: cp, outputFeatures: config.classes, rng: &rng)
        dropPathGenerator = RandomGenerator(seed: rng.next())
        super.init()
        registerModule("stem", stem)
        registerModule("cells", cells)
        if let auxiliaryHead { registerModule("auxiliary_head", auxiliaryHead) }
        registerModule("global_pooling", globalPooling)
        registerModule("classifier", classifier)
    }

    /// Logits (N, classes) for images (N, inputChannels, H, W), and the auxiliary head's logits
    /// (N, classes) in training mode when the head is built (nil otherwise).
    public func callAsFunction(_ x: Tensor) -> (logits: Tensor, auxiliaryLogits: Tensor?) {
        if let seeds = dropPathSampleSeeds {
            var masks = PerSampleDropPathMasks(seeds: seeds)
            return forward(x, masks: &masks)
        }
        return forward(x, masks: &dropPathGenerator)
    }

    private func forward<Source: DropPathMaskSource>(_ x: Tensor, masks: inout Source) -> (logits: Tensor, auxiliaryLogits: Tensor?) {
        var s0 = stem(x)
        var s1 = s0
        var auxiliaryLogits: Tensor?
        for (i, cell) in cells.modules.enumerated() {
            (s0, s1) = (s1, cell(s0, s1, dropProbability: dropPathProbability, masks: &masks))
            if i == configuration.auxiliaryCell, isTraining, let auxiliaryHead {
                auxiliaryLogits = auxiliaryHead(s1)
            }
        }
        return (classifier(globalPooling(s1)), auxiliaryLogits)
    }

    /// The training loss of the official train.py: CE(logits) + auxiliaryWeight * CE(auxiliary
    /// logits), the second term only when auxiliary logits are produced. Mean over the batch.
    public func loss(_ x: Tensor, labels: [Int32], auxiliaryWeight: Float = 0.4) -> Tensor {
        let (logits, auxiliaryLogits) = self(x)
        let main = crossEntropy(logits, labels: labels)
        guard let auxiliaryLogits else { return main }
        return main + scaled(crossEntropy(auxiliaryLogits, labels: labels), by: auxiliaryWeight)
    }

    public static func validate(_ config: AugmentConfiguration, genotype: Genotype) throws {
        for (name, value) in [("inputChannels", config.inputChannels), ("channels", config.channels),
                              ("layers", config.layers), ("classes", config.classes),
                              ("stemMultiplier", config.stemMultiplier)] where value < 1 {
            throw AugmentNetworkError.invalidConfiguration("\(name) is \(value); it must be at least 1")
        }
        var size = config.imageSize
        for i in 0..<config.layers where config.reductionCells.contains(i) {
            guard size >= 2 && size % 2 == 0 else {
                throw AugmentNetworkError.invalidConfiguration(
                    "image size \(config.imageSize) reaches \(size) x \(size) at reduction cell \(i), which cannot be halved; use an image size divisible by 4")
            }
            size /= 2
        }
        for (name, edges, concat) in [("normal", genotype.normal, genotype.normalConcat),
                                      ("reduce", genotype.reduce, genotype.reduceConcat)] {
            guard !edges.isEmpty && edges.count % 2 == 0 else {
                throw AugmentNetworkError.invalidGenotype(
                    "the \(name) cell has \(edges.count) operations; it needs two per node (8 for 4 nodes)")
            }
            for (k, edge) in edges.enumerated() where !(0..<(2 + k / 2)).contains(edge.input) {
                throw AugmentNetworkError.invalidGenotype(
                    "\(name)[\(k)] ('\(edge.operation.rawValue)', \(edge.input)) feeds node \(k / 2 + 2) from state \(edge.input); a node's inputs are the states 0...\(k / 2 + 1) before it")
            }
            let states = 2 + edges.count / 2
            guard !concat.isEmpty, concat.allSatisfy({ (0..<states).contains($0) }) else {
                throw AugmentNetworkError.invalidGenotype(
                    "\(name)_concat \(concat) must list states among 0...\(states - 1)")
            }
        }
    }
}

/// Global average pooling, (N, C, H, W) -> (N, C) (official `global_pooling`,
/// `nn.AdaptiveAvgPool2d(1)` followed by the flattening `view`). No parameters.
final class GlobalAveragePooling: Module {
    override init() { super.init() }
    override func callAsFunction(_ x: Tensor) -> Tensor { globalAvgPool2d(x) }
}
