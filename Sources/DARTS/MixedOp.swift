import DartsTensor
import NN

/// One edge of the search cell (paper eq. 2): the sum over all candidate operations of
/// softmax(alpha_edge)[k] * op_k(x). The `none` term is exactly zero, so it is skipped; its weight
/// still takes part in the softmax, so the result and every gradient are those of the full sum.
///
/// Two options change the edge (docs/algorithm.md §12):
/// - partial channels K > 1 (PC-DARTS, Xu et al., ICLR 2020): the operations have C / K channels
///   and see only the first C / K channels of x; the other channels bypass them (max-pooled 2x2
///   at stride 2), and the two parts are concatenated and channel-shuffled with K groups
///   (``partialChannelMerge(_:bypassFrom:groups:pooled:)``).
/// - the auxiliary skip (DARTS-, Chu et al., ICLR 2021): beta_skip * skip(x) is added to the edge,
///   skip the identity at stride 1 and a FactorizedReduce with its own weights at stride 2, on the
///   whole input x. It is no candidate: it has no alpha.
public final class MixedOp: Module {
    let ops: [Module]
    /// K: the operations work on the first C / K channels (1: all of them, plain DARTS).
    public let partialChannels: Int
    let stride: Int
    /// skip(x) of the auxiliary skip connection, when the edge has one.
    let auxiliarySkip: Module?
    /// Keep only this edge's input and output between forward and backward, and run the edge again
    /// during backward (``recomputed(_:_:)``): the intermediate tensors of the seven operations,
    /// most of a search step's memory, then live one edge at a time, for about one more forward
    /// pass of the edges. The gradients are those of the plain edge up to the order of sums.
    public var recomputesActivations = false

    /// The flat index, in the coefficients of a plain (K = 1) network with the auxiliary skip, of
    /// beta_skip: after the 14 x 8 softmax weights.
    public static let auxiliarySkipIndex = CellLayout.edgeCount * Primitive.count

    public init(channels: Int, stride: Int, partialChannels k: Int = 1, auxiliarySkip: Bool = false,
                rng: inout RandomGenerator) {
        precondition(k >= 1 && channels % k == 0, "MixedOp: \(channels) channels are not divisible by --partial-channels \(k)")
        partialChannels = k
        self.stride = stride
        ops = Primitive.allCases.map {
            makeOperation($0, channels: channels / k, stride: stride, affine: false, poolBatchNorm: true, rng: &rng)
        }
        self.auxiliarySkip = auxiliarySkip
            ? (stride == 1 ? Identity() : FactorizedReduce(inputChannels: channels, outputChannels: channels, affine: false, rng: &rng))
            : nil
        super.init()
        registerModule("_ops", ModuleList(ops))   // official name: cells.0._ops.4._ops.4.op.1.weight
        if let skip = self.auxiliarySkip { registerModule("auxiliary_skip", skip) }
    }

    /// - Parameters:
    ///   - x: (N, C, H, W).
    ///   - weights: the softmax of the cell type's alphas, (14, 8); in a plain network with the
    ///     auxiliary skip, followed by beta_skip at ``auxiliarySkipIndex``.
    ///   - edge: this edge's row in `weights`.
    ///   - skipWeight: beta_skip, when the edge has an auxiliary skip.
    /// - Returns: (N, C, H / stride, W / stride).
    public func callAsFunction(_ x: Tensor, weights: Tensor, edge: Int, skipWeight: Float? = nil) -> Tensor {
        guard recomputesActivations else {
            return weightedOperations(x, weights: weights, edge: edge, skipWeight: skipWeight)
        }
        return recomputed([x, weights]) { inputs in
            self.weightedOperations(inputs[0], weights: inputs[1], edge: edge, skipWeight: skipWeight)
        }
    }

    /// The edge's output, recorded as it is computed.
    func weightedOperations(_ x: Tensor, weights: Tensor, edge: Int, skipWeight: Float?) -> Tensor {
        if partialChannels == 1 {
            var (outputs, indices) = terms(x, edge: edge)
            if auxiliarySkip != nil, skipWeight != nil { appendAuxiliarySkip(x, to: &outputs, &indices) }
            return weightedSum(outputs, coefficients: weights, indices: indices)
        }
        let part = channelSlice(x, channels: 0..<(x.shape[1] / partialChannels))
        let (outputs, indices) = terms(part, edge: edge)
        let merged = partialChannelMerge(weightedSum(outputs, coefficients: weights, indices: indices), bypassFrom: x,
                                         groups: partialChannels, pooled: stride == 2)
        guard let auxiliarySkip, let skipWeight else { return merged }
        return add([merged, scaled(auxiliarySkip(x), by: skipWeight)])
    }

    /// Adds skip(x), weighted by the coefficient at ``auxiliarySkipIndex``, to a plain edge's terms.
    func appendAuxiliarySkip(_ x: Tensor, to outputs: inout [Tensor], _ indices: inout [Int]) {
        guard let auxiliarySkip else { return }
        outputs.append(auxiliarySkip(x))
        indices.append(Self.auxiliarySkipIndex)
    }

    /// The outputs op_k(x) of the operations other than `none`, and the flat index of each one's
    /// weight in the (14, 8) weights: the terms of paper eq. 2 for this edge.
    func terms(_ x: Tensor, edge: Int) -> (outputs: [Tensor], indices: [Int]) {
        var outputs: [Tensor] = []
        var indices: [Int] = []
        var shared: Tensor?   // one ReLU shared by the unfused operations that begin with one
        for (k, primitive) in Primitive.allCases.enumerated() where primitive != .none {
            if let op = ops[k] as? ReLUFirst, !op.fusesReLU {
                if shared == nil { shared = relu(x) }
                outputs.append(op(activated: shared!))
            } else {
                outputs.append(ops[k](x))
            }
            indices.append(edge * Primitive.count + k)
        }
        return (outputs, indices)
    }
}
