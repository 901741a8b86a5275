/// ReLU, depthwise convolution, 1x1 convolution and batch normalization without affine parameters,
/// as one operation: the official DARTS `DilConv`, and each half of `SepConv`, as the search
/// network builds them (affine = False).
///
/// y = BN(conv1x1(depthwise(relu(x)))), the values of ``relu(_:)``, two
/// ``conv2d(_:_:bias:stride:padding:dilation:groups:)`` and ``batchNorm2d(_:weight:bias:runningMean:runningVar:training:momentum:eps:)``
/// in sequence, and the same gradients up to the order of sums. Only x and y are kept for
/// backward, where the layers keep four (N, C, H, W) tensors:
/// - the ReLU is applied while each input plane is copied into the depthwise kernel's padded
///   plane, and its gradient mask is read from x;
/// - the batch-norm gradient is computed from the output: with no affine transform the
///   normalized input is y itself, so dz = invStd (dy - mean(dy) - y mean(dy y)) (the idea of
///   in-place activated batch norm, Rota Bulò et al., CVPR 2018);
/// - the depthwise result, which the 1x1 weight gradient needs, is computed again in backward,
///   one image at a time (a k*k multiply-add per element, against C for the 1x1 convolution).
///
/// Every intermediate lives one image at a time, in cache.
///
/// - Parameters:
///   - x: (N, C, H, W).
///   - depthwise: (C, 1, k, k).
///   - pointwise: (Cout, C, 1, 1).
///   - stride, padding, dilation: the depthwise convolution's.
///   - runningMean, runningVar: (Cout) buffers, updated in training as batchNorm2d does.
///   - training: batch statistics (true) or running statistics (false).
/// - Returns: y (N, Cout, Hout, Wout), Hout = (H + 2 padding - dilation (k - 1) - 1) / stride + 1.
public func reluSeparableBatchNorm(_ x: Tensor, depthwise wd: Tensor, pointwise wp: Tensor,
                                   stride: Int, padding: Int, dilation: Int,
                                   runningMean: Tensor, runningVar: Tensor, training: Bool,
                                   momentum: Float = 0.1, eps: Float = 1e-5) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let cout = wp.shape[0]
    let (kh, kw) = (wd.shape[2], wd.shape[3])
    precondition(x.shape.count == 4 && wd.shape == [c, 1, kh, kw] && wp.shape == [cout, c, 1, 1],
                 "reluSeparableBatchNorm: input \(x.shape), depthwise \(wd.shape), pointwise \(wp.shape) do not match")
    let geo = ConvGeometry(h: h, w: w, kh: kh, kw: kw, stride: stride, padding: padding, dilation: dilation)
    precondition(geo.outH > 0 && geo.outW > 0, "reluSeparableBatchNorm: output would be empty for input \(x.shape)")
    let plane = geo.outH * geo.outW, inPlane = h * w
    let shape = [n, cout, geo.outH, geo.outW]
    Profiler.countFlops(2 * n * plane * (c * kh * kw + cout * c))

    var invStd: [Float] = []
    let out = Tensor.result(shape: shape, inputs: [x, wd, wp]) { out in
        guard let dy = out.grad else { return }
        let dx = x.requiresGrad ? x.ensureGrad() : nil
        let dWd = wd.requiresGrad ? wd.ensureGrad() : nil
        let dWp = wp.requiresGrad ? wp.ensureGrad() : nil
        Profiler.countFlops(2 * n * plane * (c * kh * kw * ((dx == nil ? 0 : 1) + (dWd == nil ? 0 : 1))
                                               + cout * c * ((dx == nil && dWd == nil ? 0 : 1) + (dWp == nil ? 0 : 1))))
        let y = out.data
        // dz = a dy + b y + c0 per channel (training), invStd dy (running statistics).
        var a = invStd, b = [Float](repeating: 0, count: cout), c0 = b
        if training {
            let fm = Float(n * plane)
            for o in 0..<cout {
                var sumDy: Float = 0, sumDyY: Float = 0
                for img in 0..<n {
                    let offset = (img * cout + o) * plane
                    sumDy += vectorSum(dy + offset, plane)
                    sumDyY += vectorDot(dy + offset, y + offset, plane)
                }
                b[o] = -invStd[o] * sumDyY / fm
                c0[o] = -invStd[o] * sumDy / fm
            }
        }
        let planes = DepthwisePlanes(geo, reluInput: true)
        let t = UnsafeMutablePointer<Float>.allocate(capacity: c * plane)
        let dt = UnsafeMutablePointer<Float>.allocate(capacity: c * plane)
        let dz = UnsafeMutablePointer<Float>.allocate(capacity: cout * plane)
        defer { planes.deallocate(); t.deallocate(); dt.deallocate(); dz.deallocate() }
        for img in 0..<n {
            for o in 0..<cout {
                let offset = (img * cout + o) * plane
                let dyp = dy + offset, yp = y + offset, dzp = dz + o * plane
                let (ao, bo, co) = (a[o], b[o], c0[o])
                for i in 0..<plane { dzp[i] = ao * dyp[i] + bo * yp[i] + co }
            }
            let xi = x.data + img * c * inPlane
            if let dWp {
                for ch in 0..<c { planes.forward(xi + ch * inPlane, wd.data + ch * kh * kw, t + ch * plane) }
                // dWp (Cout x C) += dz (Cout x HW) t^T (HW x C)
                sgemm(transA: false, transB: true, m: cout, n: c, k: plane, a: dz, lda: plane,
                      b: t, ldb: plane, beta: 1, c: dWp, ldc: c)
            }
            guard dx != nil || dWd != nil else { continue }
            // dt (C x HW) = Wp^T (C x Cout) dz (Cout x HW)
            sgemm(transA: true, transB: false, m: c, n: plane, k: cout, a: wp.data, lda: c,
                  b: dz, ldb: plane, beta: 0, c: dt, ldc: plane)
            for ch in 0..<c {
                planes.backward(xi + ch * inPlane, wd.data + ch * kh * kw, dt + ch * plane,
                                dx.map { $0 + img * c * inPlane + ch * inPlane }, dWd.map { $0 + ch * kh * kw })
            }
        }
    }

    let planes = DepthwisePlanes(geo, reluInput: true)
    let t = UnsafeMutablePointer<Float>.allocate(capacity: c * plane)
    defer { planes.deallocate(); t.deallocate() }
    for img in 0..<n {
        let xi = x.data + img * c * inPlane
        for ch in 0..<c { planes.forward(xi + ch * inPlane, wd.data + ch * kh * kw, t + ch * plane) }
        sgemm(transA: false, transB: false, m: cout, n: plane, k: c, a: wp.data, lda: c,
              b: t, ldb: plane, beta: 0, c: out.data + img * cout * plane, ldc: plane)
    }
    let stats = batchStatistics(out.data, shape: shape, runningMean: runningMean, runningVar: runningVar,
                                training: training, momentum: momentum, eps: eps)
    invStd = stats.invStd
    for o in 0..<cout {
        let inv = stats.invStd[o], shift = -stats.mean[o] * stats.invStd[o]
        for img in 0..<n {
            let p = out.data + (img * cout + o) * plane
            for i in 0..<plane { p[i] = inv * p[i] + shift }
        }
    }
    return out
}

/// A pooling followed by batch normalization without affine parameters, as one operation: the
/// search network's `max_pool_3x3` and `avg_pool_3x3` (the official MixedOp appends
/// BN(affine = False) to each pool). Keeps only x and y for backward, where the two layers keep
/// the pooled tensor, the output and (max) the argmax positions: the batch-norm gradient comes
/// from its output (x̂ = y, as in ``reluSeparableBatchNorm(_:depthwise:pointwise:stride:padding:dilation:runningMean:runningVar:training:momentum:eps:)``),
/// and the pooling runs again in backward to route the gradient (a 3x3 window per element).
///
/// - Parameters:
///   - x: (N, C, H, W).
///   - runningMean, runningVar: (C) buffers, updated in training as batchNorm2d does.
///   - pool: the pooling, (N, C, H, W) -> (N, C, Hout, Wout); it must be deterministic.
/// - Returns: BN(pool(x)), (N, C, Hout, Wout).
public func pooledBatchNorm(_ x: Tensor, runningMean: Tensor, runningVar: Tensor, training: Bool,
                            momentum: Float = 0.1, eps: Float = 1e-5,
                            pool: @escaping (Tensor) -> Tensor) -> Tensor {
    let pooled = Autograd.withoutRecording { pool(x) }
    let (c, plane) = (pooled.shape[1], pooled.shape[2] * pooled.shape[3])
    let n = pooled.shape[0]
    let stats = batchStatistics(pooled.data, shape: pooled.shape, runningMean: runningMean, runningVar: runningVar,
                                training: training, momentum: momentum, eps: eps)
    for ch in 0..<c {
        let inv = stats.invStd[ch], shift = -stats.mean[ch] * inv
        for img in 0..<n {
            let p = pooled.data + (img * c + ch) * plane
            for i in 0..<plane { p[i] = inv * p[i] + shift }
        }
    }
    let invStd = stats.invStd
    return Tensor.result(sharing: pooled, inputs: [x]) { out in
        guard let dy = out.grad else { return }
        let y = out.data
        let dz = Tensor(uninitializedShape: out.shape)
        let fm = Float(n * plane)
        for ch in 0..<c {
            let a = invStd[ch]
            var b: Float = 0, c0: Float = 0
            if training {
                var sumDy: Float = 0, sumDyY: Float = 0
                for img in 0..<n {
                    let offset = (img * c + ch) * plane
                    sumDy += vectorSum(dy + offset, plane)
                    sumDyY += vectorDot(dy + offset, y + offset, plane)
                }
                b = -a * sumDyY / fm
                c0 = -a * sumDy / fm
            }
            for img in 0..<n {
                let offset = (img * c + ch) * plane
                let d = dz.data + offset, dyp = dy + offset, yp = y + offset
                for i in 0..<plane { d[i] = a * dyp[i] + b * yp[i] + c0 }
            }
        }
        let again = Autograd.recomputing { pool(x.detachedLeaf()) }
        again.backward(seed: UnsafeBufferPointer(start: dz.data, count: dz.count))
    }
}
