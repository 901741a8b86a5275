/// Batch normalization over (N, H, W) per channel (Ioffe and Szegedy 2015; PyTorch `batch_norm`).
///
/// Training: y = (x - mean_B) / sqrt(var_B + eps) * gamma + beta with the batch mean and biased
/// variance; the running statistics become (1 - momentum) * running + momentum * batch, the variance
/// unbiased (times M / (M - 1), M = N H W), as PyTorch does. Evaluation: the running statistics are used.
///
/// - Parameters:
///   - x: (N, C, H, W).
///   - weight, bias: gamma and beta (C), or nil for affine = false.
///   - runningMean, runningVar: (C) buffers, updated in place in training.
///   - training: batch statistics (true) or running statistics (false).
///   - momentum, eps: PyTorch's defaults are 0.1 and 1e-5.
public func batchNorm2d(_ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor, runningVar: Tensor,
                        training: Bool, momentum: Float = 0.1, eps: Float = 1e-5) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let plane = h * w
    let m = n * plane
    let (mean, invStd) = batchStatistics(x.data, shape: x.shape, runningMean: runningMean, runningVar: runningVar,
                                         training: training, momentum: momentum, eps: eps)
    var inputs = [x]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    let out = Tensor.result(shape: x.shape, inputs: inputs) { out in
        guard let dy = out.grad else { return }
        let dx = x.requiresGrad ? x.ensureGrad() : nil
        let dgamma = (weight?.requiresGrad ?? false) ? weight!.ensureGrad() : nil
        let dbeta = (bias?.requiresGrad ?? false) ? bias!.ensureGrad() : nil
        for ch in 0..<c {
            let mu = mean[ch], inv = invStd[ch]
            let gamma = weight?.data[ch] ?? 1
            // sum(dy) and sum(dy * xhat) = (sum(dy * x) - mu sum(dy)) * inv
            var sumDy: Float = 0, sumDyX: Float = 0
            for img in 0..<n {
                let xp = x.data + (img * c + ch) * plane
                let dp = dy + (img * c + ch) * plane
                let (sum, dot) = vectorSumAndDot(dp, xp, plane)
                sumDy += sum
                sumDyX += dot
            }
            let sumDyXhat = (sumDyX - mu * sumDy) * inv
            dgamma?[ch] += sumDyXhat
            dbeta?[ch] += sumDy
            guard let dx else { continue }
            if training {
                // dx = gamma * inv / M * (M dy - sum(dy) - xhat * sum(dy xhat))
                // = a dy + b x + c0 with a = gamma inv, b = -gamma inv^2 sum(dy xhat) / M,
                //   c0 = gamma inv (mu inv sum(dy xhat) - sum(dy)) / M
                let fm = Float(m)
                let a = gamma * inv
                let b = -gamma * inv * inv * sumDyXhat / fm
                let c0 = gamma * inv * (mu * inv * sumDyXhat - sumDy) / fm
                for img in 0..<n {
                    let xp = x.data + (img * c + ch) * plane
                    let dp = dy + (img * c + ch) * plane
                    let dxp = dx + (img * c + ch) * plane
                    for i in 0..<plane { dxp[i] += a * dp[i] + b * xp[i] + c0 }
                }
            } else {
                let scale = gamma * inv
                for img in 0..<n {
                    let dp = dy + (img * c + ch) * plane
                    let dxp = dx + (img * c + ch) * plane
                    for i in 0..<plane { dxp[i] += scale * dp[i] }
                }
            }
        }
    }
    for ch in 0..<c {
        let inv = invStd[ch], mu = mean[ch]
        let gamma = weight?.data[ch] ?? 1, beta = bias?.data[ch] ?? 0
        let a = gamma * inv, b = beta - mu * gamma * inv
        for img in 0..<n {
            let xp = x.data + (img * c + ch) * plane
            let yp = out.data + (img * c + ch) * plane
            for i in 0..<plane { yp[i] = a * xp[i] + b }
        }
    }
    return out
}

/// Per-channel mean and sum of squared deviations of a batch, gathered one plane at a time:
/// each plane's own mean and squared deviations (two passes over a plane that is in cache),
/// merged in Double by the pairwise update of Chan, Golub and LeVeque (1979): for parts A, B,
/// delta = mean_B - mean_A, mean = mean_A + delta n_B / n, M2 = M2_A + M2_B + delta^2 n_A n_B / n.
/// One pass over memory, where a mean over the batch followed by deviations from it takes two.
struct BatchMoments {
    private(set) var count: [Double]
    private(set) var mean: [Double]
    private(set) var m2: [Double]

    init(channels: Int) {
        count = [Double](repeating: 0, count: channels)
        mean = count
        m2 = count
    }

    /// Adds the `n` values at `p` to channel `channel`.
    mutating func add(_ p: UnsafePointer<Float>, _ n: Int, channel: Int) {
        let planeMean = vectorSum(p, n) / Float(n)
        let planeM2 = Double(vectorSquaredDeviations(p, n, mean: planeMean))
        let (na, nb) = (count[channel], Double(n))
        let total = na + nb
        let delta = Double(planeMean) - mean[channel]
        mean[channel] += delta * nb / total
        m2[channel] += planeM2 + delta * delta * na * nb / total
        count[channel] = total
    }

    /// The batch's mean and 1 / sqrt(var + eps) (biased variance), moving the running statistics
    /// (unbiased variance) unless in a recomputed forward pass, as PyTorch's `batch_norm` in training.
    func statistics(runningMean: Tensor, runningVar: Tensor, momentum: Float, eps: Float) -> (mean: [Float], invStd: [Float]) {
        let c = count.count
        var mean = [Float](repeating: 0, count: c)
        var invStd = [Float](repeating: 0, count: c)
        for ch in 0..<c {
            let m = count[ch]
            precondition(m > 1, "batch normalization in training needs more than one value per channel, got \(Int(m)) (batch x height x width)")
            let mu = Float(self.mean[ch])
            let variance = Float(m2[ch] / m)
            mean[ch] = mu
            invStd[ch] = 1 / (variance + eps).squareRoot()
            // A recomputed forward pass (activation recomputation) updated them the first time.
            if !Autograd.isRecomputing {
                runningMean.data[ch] = (1 - momentum) * runningMean.data[ch] + momentum * mu
                runningVar.data[ch] = (1 - momentum) * runningVar.data[ch] + momentum * Float(m2[ch] / (m - 1))
            }
        }
        return (mean, invStd)
    }
}

/// The per-channel mean and 1 / sqrt(var + eps) of batch normalization over (N, H, W) of `data`
/// (N, C, H, W): the batch's (biased variance) in training, which also moves the running
/// statistics (unbiased variance, times M / (M - 1)), except in a recomputed forward pass; the
/// running statistics otherwise. Moments in Double (``BatchMoments``). As PyTorch's `batch_norm`.
func batchStatistics(_ data: UnsafePointer<Float>, shape: [Int], runningMean: Tensor, runningVar: Tensor,
                     training: Bool, momentum: Float, eps: Float) -> (mean: [Float], invStd: [Float]) {
    let (n, c) = (shape[0], shape[1])
    let plane = shape[2] * shape[3]
    if training {
        var moments = BatchMoments(channels: c)
        for img in 0..<n {
            for ch in 0..<c { moments.add(data + (img * c + ch) * plane, plane, channel: ch) }
        }
        return moments.statistics(runningMean: runningMean, runningVar: runningVar, momentum: momentum, eps: eps)
    }
    return runningStatistics(runningMean: runningMean, runningVar: runningVar, eps: eps)
}

/// The running mean and 1 / sqrt(running var + eps), per channel (evaluation mode).
func runningStatistics(runningMean: Tensor, runningVar: Tensor, eps: Float) -> (mean: [Float], invStd: [Float]) {
    let c = runningMean.count
    var mean = [Float](repeating: 0, count: c)
    var invStd = [Float](repeating: 0, count: c)
    for ch in 0..<c {
        mean[ch] = runningMean.data[ch]
        invStd[ch] = 1 / (runningVar.data[ch] + eps).squareRoot()
    }
    return (mean, invStd)
}
