/// Drop path's per-sample multiply (official `drop_path` in cnn/utils.py): every element of sample n
/// is scaled by the same factor, y[n, ...] = keepMask[n] * x[n, ...], and so is its gradient,
/// dx[n, ...] += keepMask[n] * dy[n, ...]. The mask is a constant (not differentiated).
///
/// With a keep probability q, a mask of 1 / q for kept samples and 0 for dropped ones keeps the
/// expected value of y equal to x.
///
/// - Parameters:
///   - x: any tensor whose first dimension is the batch, usually (N, C, H, W).
///   - keepMask: N factors, one per sample (0 or 1 / (1 - p) for drop probability p).
/// - Returns: a tensor of the shape of `x`.
public func dropPath(_ x: Tensor, keepMask: [Float]) -> Tensor {
    precondition(!x.shape.isEmpty && x.shape[0] == keepMask.count,
                 "dropPath: \(keepMask.count) mask factors for a batch of shape \(x.shape)")
    let n = keepMask.count
    let sampleSize = n == 0 ? 0 : x.count / n
    let out = Tensor.result(shape: x.shape, inputs: [x]) { out in
        guard let dy = out.grad else { return }
        let dx = x.ensureGrad()
        for sample in 0..<n where keepMask[sample] != 0 {
            let offset = sample * sampleSize
            saxpy(sampleSize, keepMask[sample], dy + offset, dx + offset)
        }
    }
    for sample in 0..<n {
        let m = keepMask[sample]
        let xp = x.data + sample * sampleSize
        let yp = out.data + sample * sampleSize
        for i in 0..<sampleSize { yp[i] = m * xp[i] }
    }
    return out
}
