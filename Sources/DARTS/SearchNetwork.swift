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

    public init(inputChannels: Int, imageSize: Int, channels: Int = 16, layers: Int = 8, classes: Int = 10) {
        self.inputChannels = inputChannels
        self.imageSize = imageSize
        self.channels = channels
        self.layers = layers
        self.classes = classes
    }

    /// The indices of the reduction cells: layers / 3 and 2 layers / 3.
    public var reductionCells: [Int] { [layers / 3, 2 * layers / 3] }
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

    public init(_ config: SearchConfiguration, rng: inout RandomGenerator) {
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
                                   reduction: reduction, previousReduction: previousReduction, rng: &rng))
            previousReduction = reduction
            (cpp, cp) = (cp, CellLayout.steps * cCurrent)
        }
        cells = ModuleList(list)
        classifier = Linear(inputFeatures: cp, outputFeatures: config.classes, rng: &rng)
        alphaNormal = .randomNormal(shape: [CellLayout.edgeCount, Primitive.count], scale: 1e-3, using: &rng)
        alphaReduce = .randomNormal(shape: [CellLayout.edgeCount, Primitive.count], scale: 1e-3, using: &rng)
        alphaNormal.requiresGrad = true
        alphaReduce.requiresGrad = true
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

    /// The alphas with their names, normal first.
    public var namedAlphas: [(name: String, tensor: Tensor)] {
        [("alphas_normal", alphaNormal), ("alphas_reduce", alphaReduce)]
    }

    /// Logits (N, classes) for images (N, inputChannels, H, W).
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        let weightsNormal = softmax(alphaNormal)
        let weightsReduce = softmax(alphaReduce)
        var s0 = stem(x)
        var s1 = s0
        for cell in cells.modules {
            let next = cell(s0, s1, weights: cell.isReduction ? weightsReduce : weightsNormal)
            (s0, s1) = (s1, next)
        }
        return classifier(globalAvgPool2d(s1))
    }

    /// The mean cross-entropy of the network on a batch.
    public func loss(_ x: Tensor, labels: [Int32]) -> Tensor {
        crossEntropy(self(x), labels: labels)
    }

    /// The discrete cell derived from the current alphas (docs/algorithm.md §5), with at most
    /// `maxParameterFree` parameter-free edges in the normal cell when given (§11.3).
    public func genotype(maxParameterFree: Int? = nil) -> Genotype {
        Genotype(weightsNormal: softmaxRows(alphaNormal), weightsReduce: softmaxRows(alphaReduce),
                 maxParameterFree: maxParameterFree)
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
