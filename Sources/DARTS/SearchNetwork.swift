import DartsTensor
import NN

/// The shape of a search network: input, width, depth, classes (docs/algorithm.md §2).
public struct SearchConfiguration: Sendable, Equatable, Codable {
    public var inputChannels: Int
    public var imageSize: Int
    public var channels: Int
    public var layers: Int
    public var classes: Int
    public var stemMultiplier: Int = 3
    /// PC-DARTS' K (docs/algorithm.md §12): each edge's operations see C / K of its channels, and
    /// the edges of a node are weighted by edge normalization (betas). 1: the plain DARTS network.
    public var partialChannels: Int = 1
    /// DARTS-' auxiliary skip connection on every edge (docs/algorithm.md §12).
    public var auxiliarySkip: Bool = false

    public init(inputChannels: Int, imageSize: Int, channels: Int = 16, layers: Int = 8, classes: Int = 10) {
        self.inputChannels = inputChannels
        self.imageSize = imageSize
        self.channels = channels
        self.layers = layers
        self.classes = classes
    }

    /// The indices of the reduction cells: layers / 3 and 2 layers / 3.
    public var reductionCells: [Int] { [layers / 3, 2 * layers / 3] }

    /// The channels C of each cell's edges, in cell order (doubled at each reduction cell).
    public var cellChannels: [Int] {
        var c = channels
        return (0..<layers).map { i in
            if reductionCells.contains(i) { c *= 2 }
            return c
        }
    }
}

/// The DARTS search network (official `Network` in model_search.py): a stem (conv 3x3 to
/// stemMultiplier * C channels, BN), `layers` search cells sharing two alpha matrices (normal and
/// reduce, 14 x 8 each), global average pooling and a linear classifier.
///
/// Weights are the module parameters (``namedParameters(prefix:)``); the alphas are kept apart in
/// ``alphaNormal`` and ``alphaReduce``, as in the official code, so optimizers and arenas treat
/// them separately.
public final class SearchNetwork: Module {
    public let configuration: SearchConfiguration
    let stem: Sequential
    let cells: ModuleList<SearchCell>
    let classifier: Linear
    /// Architecture parameters (14, 8), initialised to 1e-3 N(0, 1).
    public let alphaNormal, alphaReduce: Tensor
    /// With partial channels (K > 1), the edge normalization's parameters: one beta per edge (14),
    /// initialised to 1e-3 N(0, 1) after the alphas, as PC-DARTS' `betas_normal`, `betas_reduce`.
    /// They are architecture parameters: in ``namedAlphas``, moved by the alphas' Adam.
    public let betaNormal, betaReduce: Tensor?
    /// beta_skip of the auxiliary skip connection (DARTS-) for the coming forward passes; the
    /// search sets it before each step (``AuxiliarySkipSchedule``). Ignored without the auxiliary skip.
    public var auxiliarySkipWeight: Float = 1

    public init(_ config: SearchConfiguration, rng: inout RandomGenerator) {
        precondition(config.partialChannels >= 1 && config.cellChannels.allSatisfy { $0 % config.partialChannels == 0 },
                     "--partial-channels \(config.partialChannels) does not divide the channels of every cell \(config.cellChannels)")
        configuration = config
        let c = config.channels
        var cCurrent = config.stemMultiplier * c
        stem = Sequential([
            Conv2d(inputChannels: config.inputChannels, outputChannels: cCurrent, kernelSize: 3, padding: 1,
                   bias: false, rng: &rng),
            BatchNorm2d(featureCount: cCurrent),
        ])
        var (cpp, cp) = (cCurrent, cCurrent)
        cCurrent = c
        var list: [SearchCell] = []
        var previousReduction = false
        for i in 0..<config.layers {
            let reduction = config.reductionCells.contains(i)
            if reduction { cCurrent *= 2 }
            list.append(SearchCell(previousPreviousChannels: cpp, previousChannels: cp, channels: cCurrent,
                                   reduction: reduction, previousReduction: previousReduction,
                                   partialChannels: config.partialChannels, auxiliarySkip: config.auxiliarySkip, rng: &rng))
            previousReduction = reduction
            (cpp, cp) = (cp, CellLayout.steps * cCurrent)
        }
        cells = ModuleList(list)
        classifier = Linear(inputFeatures: cp, outputFeatures: config.classes, rng: &rng)
        alphaNormal = .randomNormal(shape: [CellLayout.edgeCount, Primitive.count], scale: 1e-3, using: &rng)
        alphaReduce = .randomNormal(shape: [CellLayout.edgeCount, Primitive.count], scale: 1e-3, using: &rng)
        alphaNormal.requiresGrad = true
        alphaReduce.requiresGrad = true
        if config.partialChannels > 1 {
            let betas = (0..<2).map { _ in Tensor.randomNormal(shape: [CellLayout.edgeCount], scale: 1e-3, using: &rng) }
            for b in betas { b.requiresGrad = true }
            (betaNormal, betaReduce) = (betas[0], betas[1])
        } else {
            (betaNormal, betaReduce) = (nil, nil)
        }
        super.init()
        registerModule("stem", stem)
        registerModule("cells", cells)
        registerModule("classifier", classifier)
    }

    /// Activation recomputation on every edge (``MixedOp/recomputesActivations``): a search step
    /// in a fraction of the memory for about one more forward pass of the edges.
    public var recomputesActivations: Bool {
        get { cells.modules.first?.edges.modules.first?.recomputesActivations ?? false }
        set {
            for cell in cells.modules {
                for edge in cell.edges.modules { edge.recomputesActivations = newValue }
            }
        }
    }

    /// The architecture parameters with their names, in the official `arch_parameters()` order:
    /// the alphas, normal first, then (with partial channels) the betas.
    public var namedAlphas: [(name: String, tensor: Tensor)] {
        var named = [("alphas_normal", alphaNormal), ("alphas_reduce", alphaReduce)]
        if let betaNormal, let betaReduce { named += [("betas_normal", betaNormal), ("betas_reduce", betaReduce)] }
        return named
    }

    /// The number of incoming edges of each node (2, 3, 4, 5): the segments of edge normalization.
    public static let nodeInputs = (0..<CellLayout.steps).map { $0 + 2 }

    /// Logits (N, classes) for images (N, inputChannels, H, W).
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        let skipWeight: Float? = configuration.auxiliarySkip ? auxiliarySkipWeight : nil
        func weights(_ alpha: Tensor) -> Tensor {
            let w = softmax(alpha)
            guard let skipWeight, configuration.partialChannels == 1 else { return w }
            // beta_skip joins the node's weighted sum as one more, constant, coefficient.
            return concatChannels([reshaped(w, [1, w.count, 1, 1]), Tensor(shape: [1, 1, 1, 1], repeating: skipWeight)])
        }
        let edgeNormal = betaNormal.map { segmentSoftmax($0, segments: Self.nodeInputs) }
        let edgeReduce = betaReduce.map { segmentSoftmax($0, segments: Self.nodeInputs) }
        return forward(x, weightsNormal: weights(alphaNormal), weightsReduce: weights(alphaReduce),
                       edgeNormal: edgeNormal, edgeReduce: edgeReduce, skipWeight: skipWeight)
    }

    /// Logits (N, classes) for images (N, inputChannels, H, W) with the given operation weights in
    /// place of softmax(alpha): what perturbation-based selection measures (``PerturbationSelection``).
    /// Only for the plain network (no partial channels, no auxiliary skip).
    /// - Parameters:
    ///   - x: (N, inputChannels, H, W).
    ///   - normal: the normal cells' weights, (14, 8), any values (a masked operation has weight 0).
    ///   - reduce: the reduction cells' weights, (14, 8).
    public func logits(_ x: Tensor, operationWeightsNormal normal: Tensor, reduce: Tensor) -> Tensor {
        precondition(configuration.partialChannels == 1 && !configuration.auxiliarySkip,
                     "operation weights replace softmax(alpha) only in the plain network")
        precondition(normal.shape == alphaNormal.shape && reduce.shape == alphaReduce.shape)
        return forward(x, weightsNormal: normal, weightsReduce: reduce, edgeNormal: nil, edgeReduce: nil, skipWeight: nil)
    }

    /// The stem, the cells with the given weights of each cell type, pooling and the classifier.
    private func forward(_ x: Tensor, weightsNormal: Tensor, weightsReduce: Tensor, edgeNormal: Tensor?, edgeReduce: Tensor?,
                         skipWeight: Float?) -> Tensor {
        var s0 = stem(x)
        var s1 = s0
        for cell in cells.modules {
            let next = cell(s0, s1, weights: cell.isReduction ? weightsReduce : weightsNormal,
                            edgeWeights: cell.isReduction ? edgeReduce : edgeNormal, skipWeight: skipWeight)
            (s0, s1) = (s1, next)
        }
        return classifier(globalAvgPool2d(s1))
    }

    /// The mean cross-entropy of the network on a batch.
    public func loss(_ x: Tensor, labels: [Int32]) -> Tensor {
        crossEntropy(self(x), labels: labels)
    }

    /// The weight of every operation of every edge, 14 rows of 8 per cell type: softmax(alpha) of
    /// the edge, scaled with edge normalization by the edge's weight (docs/algorithm.md §5, §12).
    public func edgeOperationWeights() -> (normal: [[Float]], reduce: [[Float]]) {
        func rows(_ alpha: Tensor, _ beta: Tensor?) -> [[Float]] {
            let w = softmaxRows(alpha)
            guard let beta else { return w }
            let e = edgeWeights(beta)
            return w.enumerated().map { j, row in row.map { $0 * e[j] } }
        }
        return (rows(alphaNormal, betaNormal), rows(alphaReduce, betaReduce))
    }

    /// The discrete cell derived from the current alphas (docs/algorithm.md §5, §12; with edge
    /// normalization from ``edgeOperationWeights()``), with at most `maxParameterFree`
    /// parameter-free edges in the normal cell and `maxParameterFreeReduce` in the reduction cell
    /// when given (§11.3).
    public func genotype(maxParameterFree: Int? = nil, maxParameterFreeReduce: Int? = nil) -> Genotype {
        let w = edgeOperationWeights()
        return Genotype(weightsNormal: w.normal, weightsReduce: w.reduce, maxParameterFree: maxParameterFree,
                        maxParameterFreeReduce: maxParameterFreeReduce)
    }
}

/// Edge normalization's weights from the 14 betas of a cell type (no graph): the softmax of the
/// betas of each node's incoming edges, node by node (PC-DARTS; docs/algorithm.md §12).
public func edgeWeights(_ beta: Tensor) -> [Float] {
    let values = beta.values
    var start = 0
    return SearchNetwork.nodeInputs.flatMap { n -> [Float] in
        defer { start += n }
        return softmaxRows(Tensor(shape: [1, n], values: Array(values[start..<(start + n)])))[0]
    }
}

/// Row-wise softmax of a (rows, k) tensor as nested arrays (no graph).
public func softmaxRows(_ t: Tensor) -> [[Float]] {
    let k = t.shape.last!
    let values = t.values
    return (0..<(t.count / k)).map { r in
        let row = Array(values[(r * k)..<((r + 1) * k)])
        let m = row.max()!
        let e = row.map { expf($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }
}

#if canImport(Glibc)
import Glibc
#endif
