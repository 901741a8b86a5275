#if canImport(Glibc)
import Glibc
#endif

/// The choices of `--arch-regularization`: a term added to the validation loss of the
/// architecture step (docs/algorithm.md §11.2).
public enum ArchRegularizationKind: String, CaseIterable, Codable, Sendable {
    /// No term: the DARTS architecture step (docs/algorithm.md §3).
    case none
    /// beta-DARTS (Ye et al., "beta-DARTS: Beta-Decay Regularization for Differentiable
    /// Architecture Search", CVPR 2022): the mean over the edges of logsumexp(alpha_edge).
    case beta
}

/// The regularization term of one architecture step, with its weight at the current epoch.
///
/// beta-DARTS (Ye et al., CVPR 2022; docs/algorithm.md §11.2) adds to the validation loss
///
///     lambda_e * R(alpha),   R(alpha) = (1 / E) * sum_edges logsumexp(alpha_edge)
///
/// over the E = 28 edges of both alpha matrices (14 normal, 14 reduce rows). Its gradient is the
/// softmax of each row, divided by the number of rows:
///
///     dR / dalpha_{e,k} = softmax(alpha_e)_k / E
///
/// R does not depend on the weights, so in the second-order step (docs/algorithm.md §3.2) the
/// term only adds lambda_e * dR/dalpha to dalpha: v = dL_val/dw' and the Hessian-vector product
/// are unchanged, and the gradient fed to Adam is
///
///     grad_alpha = dL_val(w', alpha)/dalpha + lambda_e * dR/dalpha - eta * (g+ - g-) / (2R).
///
/// The gradient pushes each alpha down in proportion to its softmax weight, so the strongest
/// operations of an edge shrink most: the rows stay flatter (the paper's "beta-decay") and no
/// operation, typically skip_connect, runs away with the search early.
public enum ArchRegularization: Equatable, Sendable {
    case none
    /// beta-DARTS' term with its weight lambda_e for this step.
    case beta(weight: Float)

    /// lambda_e = lambda * e / E for the 0-based epoch e of E: a linear ramp from 0, as the
    /// beta-DARTS code ramps its weight with the epoch.
    public static func rampedWeight(_ lambda: Float, epoch: Int, epochs: Int) -> Float {
        lambda * Float(epoch) / Float(epochs)
    }

    /// R(alpha): the mean over rows of logsumexp of `alphas`, read as rows of `rowLength` values
    /// (both alpha matrices back to back, as the alpha arena holds them). Each row's maximum is
    /// subtracted before the exponentials.
    public static func betaTerm(_ alphas: UnsafeBufferPointer<Float>, rowLength: Int) -> Float {
        precondition(rowLength > 0 && alphas.count % rowLength == 0)
        let rows = alphas.count / rowLength
        var total: Float = 0
        for r in 0..<rows {
            let row = UnsafeBufferPointer(rebasing: alphas[(r * rowLength)..<((r + 1) * rowLength)])
            let m = row.max()!
            var sum: Float = 0
            for v in row { sum += expf(v - m) }
            total += m + logf(sum)
        }
        return total / Float(rows)
    }

    /// Adds weight * dR/dalpha = weight * softmax(row) / rows to `gradient`, row by row.
    public static func addBetaGradient(_ alphas: UnsafeBufferPointer<Float>, rowLength: Int, weight: Float,
                                       to gradient: UnsafeMutableBufferPointer<Float>) {
        precondition(rowLength > 0 && alphas.count % rowLength == 0 && gradient.count == alphas.count)
        let rows = alphas.count / rowLength
        let scale = weight / Float(rows)
        var e = [Float](repeating: 0, count: rowLength)
        for r in 0..<rows {
            let base = r * rowLength
            var m = alphas[base]
            for k in 1..<rowLength { m = max(m, alphas[base + k]) }
            var sum: Float = 0
            for k in 0..<rowLength {
                e[k] = expf(alphas[base + k] - m)
                sum += e[k]
            }
            for k in 0..<rowLength { gradient[base + k] += scale * (e[k] / sum) }
        }
    }

    /// Adds this term's gradient at `alphas` to `gradient` (nothing for `.none`).
    /// `rowLength` is the number of operations per edge.
    public func addGradient(alphas: UnsafeMutableBufferPointer<Float>, gradient: UnsafeMutableBufferPointer<Float>,
                            rowLength: Int) {
        guard case .beta(let weight) = self else { return }
        Self.addBetaGradient(UnsafeBufferPointer(alphas), rowLength: rowLength, weight: weight, to: gradient)
    }
}
