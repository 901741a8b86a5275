import DartsTensor
import NN

/// One edge of the search cell (paper eq. 2): the sum over all candidate operations of
/// softmax(alpha_edge)[k] * op_k(x). The `none` term is exactly zero, so it is skipped; its weight
/// still takes part in the softmax, so the result and every gradient are those of the full sum.
public final class MixedOp: Module {
    let ops: [Module]
    /// Keep only this edge's input and output between forward and backward, and run the edge again
    /// during backward (``recomputed(_:_:)``): the intermediate tensors of the seven operations,
    /// most of a search step's memory, then live one edge at a time, for about one more forward
    /// pass of the edges. The gradients are those of the plain edge up to the order of sums.
    public var recomputesActivations = false

    public init(channels: Int, stride: Int, rng: inout RandomGenerator) {
        ops = Primitive.allCases.map {
            makeOperation($0, channels: channels, stride: stride, affine: false, poolBatchNorm: true, rng: &rng)
        }
        super.init()
        registerModule("_ops", ModuleList(ops))   // official name: cells.0._ops.4._ops.4.op.1.weight
    }

    /// - Parameters:
    ///   - x: (N, C, H, W).
    ///   - weights: the softmax of the cell type's alphas, (14, 8).
    ///   - edge: this edge's row in `weights`.
    /// - Returns: (N, C, H / stride, W / stride).
    public func callAsFunction(_ x: Tensor, weights: Tensor, edge: Int) -> Tensor {
        guard recomputesActivations else { return weightedOperations(x, weights: weights, edge: edge) }
        return recomputed([x, weights]) { inputs in
            self.weightedOperations(inputs[0], weights: inputs[1], edge: edge)
        }
    }

    func weightedOperations(_ x: Tensor, weights: Tensor, edge: Int) -> Tensor {
        let (outputs, indices) = terms(x, edge: edge)
        return weightedSum(outputs, coefficients: weights, indices: indices)
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
