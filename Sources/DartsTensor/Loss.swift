/// Softmax over the last axis: y[r, k] = exp(x[r, k] - max_r) / sum_j exp(x[r, j] - max_r).
/// Backward: dx = y * (dy - sum_k dy_k y_k), row by row.
public func softmax(_ x: Tensor) -> Tensor {
    let k = x.shape.last!
    let rows = x.count / k
    let out = Tensor.result(shape: x.shape, inputs: [x]) { out in
        guard let dy = out.grad else { return }
        let dx = x.ensureGrad()
        for r in 0..<rows { softmaxBackward(out.data + r * k, dy + r * k, into: dx + r * k, count: k) }
    }
    for r in 0..<rows { softmaxForward(x.data + r * k, into: out.data + r * k, count: k) }
    return out
}

/// y = softmax(x) over `count` values, shifted by their maximum.
@inline(__always)
func softmaxForward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
    var m = -Float.infinity
    for j in 0..<count { m = max(m, x[j]) }
    var s: Float = 0
    for j in 0..<count { y[j] = expf(x[j] - m); s += y[j] }
    for j in 0..<count { y[j] /= s }
}

/// dx += y * (dy - sum_j dy_j y_j), the gradient through y = softmax(x) over `count` values.
@inline(__always)
func softmaxBackward(_ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count: Int) {
    var dot: Float = 0
    for j in 0..<count { dot += dy[j] * y[j] }
    for j in 0..<count { dx[j] += y[j] * (dy[j] - dot) }
}

/// Mean cross-entropy of logits against class labels (PyTorch `cross_entropy`, reduction mean,
/// `label_smoothing` ε): the target of row n is q_n = (1 - ε) onehot(y_n) + ε / K (Szegedy et al.,
/// "Rethinking the Inception Architecture", CVPR 2016, §7), and
/// L = -1/N sum_n sum_k q_nk log softmax(x_n)_k
///   = 1/N sum_n [(1 - ε) (lse_n - x_n,y_n) + ε (lse_n - mean_k x_nk)], lse_n = log sum_k exp(x_nk).
/// Backward: dx_n = (softmax(x_n) - q_n) / N. ε = 0 is the plain cross-entropy.
/// - Parameters: logits (N, K); labels N class indices in 0..<K; labelSmoothing ε in [0, 1].
///   Returns a one-element tensor.
public func crossEntropy(_ logits: Tensor, labels: [Int32], labelSmoothing: Float = 0) -> Tensor {
    let (n, k) = (logits.shape[0], logits.shape[1])
    precondition(labels.count == n, "crossEntropy: \(labels.count) labels for \(n) rows")
    precondition(labelSmoothing >= 0 && labelSmoothing <= 1, "crossEntropy: label smoothing \(labelSmoothing) outside [0, 1]")
    let epsilon = Double(labelSmoothing)
    var probabilities = [Float](repeating: 0, count: n * k)
    var total = 0.0
    for r in 0..<n {
        let xp = logits.data + r * k
        var m = -Float.infinity
        for j in 0..<k { m = max(m, xp[j]) }
        var s: Float = 0
        for j in 0..<k { let e = expf(xp[j] - m); probabilities[r * k + j] = e; s += e }
        for j in 0..<k { probabilities[r * k + j] /= s }
        let y = Int(labels[r])
        precondition(y >= 0 && y < k, "crossEntropy: label \(y) outside 0..<\(k)")
        let logSumExp = logf(s) + m
        var rowLoss = Double(logSumExp - xp[y])
        if epsilon > 0 {
            var sum = 0.0
            for j in 0..<k { sum += Double(xp[j]) }
            rowLoss = (1 - epsilon) * rowLoss + epsilon * (Double(logSumExp) - sum / Double(k))
        }
        total += rowLoss
    }
    let out = Tensor.result(shape: [1], inputs: [logits]) { out in
        guard let dy = out.grad else { return }
        let dx = logits.ensureGrad()
        let scale = dy[0] / Float(n)
        let offLabel = labelSmoothing / Float(k), onLabel = 1 - labelSmoothing + labelSmoothing / Float(k)
        for r in 0..<n {
            for j in 0..<k {
                let target = j == Int(labels[r]) ? onLabel : offLabel
                dx[r * k + j] += scale * (probabilities[r * k + j] - target)
            }
        }
    }
    out.data[0] = Float(total / Double(n))
    return out
}

/// For each row of logits (N, K), how many logits rank above the label's: 0 when the label's logit
/// is the largest (a top-1 hit), below 5 for a top-5 hit. Ties rank the lower class first. A row
/// with a NaN or infinite logit ranks its label at Int.max: a model with non-finite outputs is
/// never right.
public func labelRanks(_ logits: Tensor, labels: [Int32]) -> [Int] {
    let (n, k) = (logits.shape[0], logits.shape[1])
    return (0..<n).map { r in
        let xp = logits.data + r * k
        let label = Int(labels[r])
        let target = xp[label]
        var larger = 0
        for j in 0..<k {
            guard xp[j].isFinite else { return Int.max }
            if xp[j] > target || (xp[j] == target && j < label) { larger += 1 }
        }
        return larger
    }
}

/// The number of rows whose largest logit is at the label (top-1 hits), and likewise within the
/// five largest (top-5). logits (N, K).
public func topKCorrect(_ logits: Tensor, labels: [Int32]) -> (top1: Int, top5: Int) {
    let ranks = labelRanks(logits, labels: labels)
    return (ranks.count { $0 == 0 }, ranks.count { $0 < 5 })
}

#if canImport(Glibc)
import Glibc
#endif
