import DartsTensor
import NN

/// A cell of the evaluation (retrain) network, built from a genotype (official `Cell` in
/// cnn/model.py).
///
/// ```
///  s0 (cell k-2) -- preprocess0 --\          node i = op[2i](h[idx[2i]]) + op[2i+1](h[idx[2i+1]])
///  s1 (cell k-1) -- preprocess1 --+-> h = [s0', s1', node 0, node 1, ...] -> concat(h[c] for c in concat)
/// ```
/// preprocess0 is FactorizedReduce(C_pp, C) when the previous cell reduced, else
/// ReLU-Conv1x1-BN(C_pp, C); preprocess1 is ReLU-Conv1x1-BN(C_p, C). `_ops` holds the genotype's
/// operations in genotype order, with affine BN and pools without BN; in a reduction cell the
/// edges leaving s0 and s1 (input index < 2) have stride 2. During training, with a drop
/// probability p > 0, every operation's output except the identity's goes through ``DropPath``.
///
/// Parameter names follow the official code: `preprocess0.op.1.weight`, `_ops.0.op.1.weight`.
public final class AugmentCell: Module {
    public let isReduction: Bool
    /// The input state of each operation (official `_indices`).
    public let indices: [Int]
    /// The states that form the output, in order (official `_concat`).
    public let concat: [Int]
    let preprocess0, preprocess1: Module
    let ops: ModuleList<Module>

    /// - Parameters:
    ///   - genotype: the cells; the normal or the reduce half is used.
    ///   - cpp, cp: channels of the outputs of cells k-2 and k-1.
    ///   - c: channels of every node of this cell.
    ///   - reduction: whether this cell halves the resolution.
    ///   - previousReduction: whether cell k-1 did (then s0 has twice the resolution of s1).
    public init(genotype: Genotype, previousPreviousChannels cpp: Int, previousChannels cp: Int, channels c: Int,
                reduction: Bool, previousReduction: Bool, rng: inout RandomGenerator) {
        let edges = reduction ? genotype.reduce : genotype.normal
        isReduction = reduction
        indices = edges.map(\.input)
        concat = reduction ? genotype.reduceConcat : genotype.normalConcat
        precondition(!edges.isEmpty && edges.count % 2 == 0, "a cell needs two operations per node, got \(edges.count)")
        preprocess0 = previousReduction
            ? FactorizedReduce(inputChannels: cpp, outputChannels: c, affine: true, rng: &rng)
            : ReLUConvBN(inputChannels: cpp, outputChannels: c, kernelSize: 1, stride: 1, padding: 0, affine: true, rng: &rng)
        preprocess1 = ReLUConvBN(inputChannels: cp, outputChannels: c, kernelSize: 1, stride: 1, padding: 0,
                                 affine: true, rng: &rng)
        var list: [Module] = []
        for edge in edges {
            list.append(makeOperation(edge.operation, channels: c, stride: reduction && edge.input < 2 ? 2 : 1,
                                      affine: true, poolBatchNorm: false, rng: &rng))
        }
        ops = ModuleList(list)
        super.init()
        registerModule("preprocess0", preprocess0)
        registerModule("preprocess1", preprocess1)
        registerModule("_ops", ops)
    }

    /// The number of intermediate nodes (official `_steps`): two operations each.
    public var steps: Int { indices.count / 2 }

    /// The output has `multiplier * C` channels (official `multiplier`, the length of `concat`).
    public var multiplier: Int { concat.count }

    /// - Parameters:
    ///   - s0, s1: the outputs of cells k-2 and k-1, (N, C_pp, H0, W0) and (N, C_p, H, W).
    ///   - dropProbability: drop path's p, used only in training mode and when > 0.
    ///   - rng: the source of drop path's masks (untouched when drop path is off).
    /// - Returns: (N, multiplier * C, H / 2, W / 2) in a reduction cell, else (N, multiplier * C, H, W).
    public func callAsFunction(_ s0: Tensor, _ s1: Tensor, dropProbability: Float,
                               rng: inout RandomGenerator) -> Tensor {
        self(s0, s1, dropProbability: dropProbability, masks: &rng)
    }

    /// The cell with drop path's factors drawn from `masks` (e.g. ``PerSampleDropPathMasks``), one
    /// call per dropped operation, in operation order; otherwise as ``callAsFunction(_:_:dropProbability:rng:)``.
    public func callAsFunction<Source: DropPathMaskSource>(_ s0: Tensor, _ s1: Tensor, dropProbability: Float,
                                                           masks: inout Source) -> Tensor {
        var states = [preprocess0(s0), preprocess1(s1)]
        let dropping = isTraining && dropProbability > 0
        for node in 0..<steps {
            var terms: [Tensor] = []
            for k in [2 * node, 2 * node + 1] {
                let op = ops[k]
                var h = op(states[indices[k]])
                if dropping && !(op is Identity) {
                    h = DropPath.apply(h, probability: dropProbability, training: true, masks: &masks)
                }
                terms.append(h)
            }
            states.append(add(terms))
        }
        return concatChannels(concat.map { states[$0] })
    }
}
