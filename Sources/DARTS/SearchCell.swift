import DartsTensor
import NN

/// A cell of the search network (official `Cell` in model_search.py).
///
/// ```
///  s0 (cell k-2) -- preprocess0 --\
///  s1 (cell k-1) -- preprocess1 --+-> node 0 -> node 1 -> node 2 -> node 3 -> concat -> (N, 4C, H', W')
/// ```
/// Node i is the sum of one MixedOp per earlier state (2 + i of them). preprocess0 is a
/// FactorizedReduce when the previous cell reduced, else ReLU-Conv1x1-BN; all BN affine = false.
/// In a reduction cell the edges leaving s0 and s1 have stride 2.
public final class SearchCell: Module {
    public let isReduction: Bool
    let preprocess0, preprocess1: Module
    let edges: ModuleList<MixedOp>

    public init(previousPreviousChannels cpp: Int, previousChannels cp: Int, channels c: Int,
                reduction: Bool, previousReduction: Bool, partialChannels: Int = 1, auxiliarySkip: Bool = false,
                rng: inout RandomGenerator) {
        isReduction = reduction
        preprocess0 = previousReduction
            ? FactorizedReduce(inputChannels: cpp, outputChannels: c, affine: false, rng: &rng)
            : ReLUConvBN(inputChannels: cpp, outputChannels: c, kernelSize: 1, stride: 1, padding: 0, affine: false, rng: &rng)
        preprocess1 = ReLUConvBN(inputChannels: cp, outputChannels: c, kernelSize: 1, stride: 1, padding: 0,
                                 affine: false, rng: &rng)
        var ops: [MixedOp] = []
        for node in 0..<CellLayout.steps {
            for input in 0..<(2 + node) {
                ops.append(MixedOp(channels: c, stride: reduction && input < 2 ? 2 : 1, partialChannels: partialChannels,
                                   auxiliarySkip: auxiliarySkip, rng: &rng))
            }
        }
        edges = ModuleList(ops)
        super.init()
        registerModule("preprocess0", preprocess0)
        registerModule("preprocess1", preprocess1)
        registerModule("_ops", edges)
    }

    /// - Parameters:
    ///   - s0, s1: the outputs of the two previous cells.
    ///   - weights: softmax of this cell type's alphas (14, 8); with the auxiliary skip and no
    ///     partial channels, followed by beta_skip (``MixedOp/auxiliarySkipIndex``).
    ///   - edgeWeights: with partial channels, the edge normalization's weights (14): node i sums
    ///     its edges weighted by the softmax of the betas of its incoming edges (PC-DARTS).
    ///   - skipWeight: beta_skip of the auxiliary skip (DARTS-), when the edges have one.
    /// - Returns: (N, 4C, H', W').
    public func callAsFunction(_ s0: Tensor, _ s1: Tensor, weights: Tensor, edgeWeights: Tensor? = nil,
                               skipWeight: Float? = nil) -> Tensor {
        var states = [preprocess0(s0), preprocess1(s1)]
        var edge = 0
        for _ in 0..<CellLayout.steps {
            if edges[edge].recomputesActivations || edgeWeights != nil {
                var terms: [Tensor] = [], indices: [Int] = []
                for h in states {
                    terms.append(edges[edge](h, weights: weights, edge: edge, skipWeight: skipWeight))
                    indices.append(edge)
                    edge += 1
                }
                if let edgeWeights {
                    states.append(weightedSum(terms, coefficients: edgeWeights, indices: indices))
                } else {
                    states.append(add(terms))
                }
            } else {
                // Every edge's terms in one weighted sum: no per-edge sum is kept for backward.
                var outputs: [Tensor] = [], indices: [Int] = []
                for h in states {
                    let t = edges[edge].terms(h, edge: edge)
                    outputs += t.outputs
                    indices += t.indices
                    if skipWeight != nil { edges[edge].appendAuxiliarySkip(h, to: &outputs, &indices) }
                    edge += 1
                }
                states.append(weightedSum(outputs, coefficients: weights, indices: indices))
            }
        }
        return concatChannels(Array(states[2...]))
    }
}
