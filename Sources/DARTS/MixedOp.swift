import DartsTensor
import NN

/// One edge of the search cell (paper eq. 2): the sum over all candidate operations of
/// softmax(alpha_edge)[k] * op_k(x). The `none` term is exactly zero, so it is skipped; its weight
/// still takes part in the softmax, so the result and every gradient are those of the full sum.
public final class MixedOp: Module {
    let ops: [Module]

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
        var outputs: [Tensor] = []
        var indices: [Int] = []
        let activated = relu(x)   // one ReLU shared by the operations that begin with one
        for (k, primitive) in Primitive.allCases.enumerated() where primitive != .none {
            if let op = ops[k] as? ReLUFirst {
                outputs.append(op(activated: activated))
            } else {
                outputs.append(ops[k](x))
            }
            indices.append(edge * Primitive.count + k)
        }
        return weightedSum(outputs, coefficients: weights, indices: indices)
    }
}

