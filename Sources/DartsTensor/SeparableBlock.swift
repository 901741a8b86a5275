/// ReLU, depthwise convolution, 1x1 convolution and batch normalization, as one operation: the
/// official DARTS `DilConv`, and each half of `SepConv`, in the search network (BN without affine
/// parameters) and in the retrained one (with them).
///
/// y = BN(conv1x1(depthwise(relu(x)))), the values of ``relu(_:)``, two
/// ``conv2d(_:_:bias:stride:padding:dilation:groups:)`` and ``batchNorm2d(_:weight:bias:runningMean:runningVar:training:momentum:eps:)``
/// in sequence, and the same gradients up to the order of sums. Only x and y (and x̂ with an
/// affine BN) are kept for backward, where the layers keep four (N, C, H, W) tensors:
/// - the ReLU is applied while each input plane is copied into the depthwise kernel's padded
///   plane, and its gradient mask is read from x;
/// - the batch-norm gradient is computed from the normalized output x̂: dz = gamma invStd (dy -
///   mean(dy) - x̂ mean(dy x̂)). Without an affine transform x̂ is y itself (the idea of in-place
///   activated batch norm, Rota Bulò et al., CVPR 2018); with one, x̂ is kept as a third tensor;
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
///   - bnWeight, bnBias: gamma and beta (Cout), or nil for affine = false (both or neither).
///   - runningMean, runningVar: (Cout) buffers, updated in training as batchNorm2d does.
///   - training: batch statistics (true) or running statistics (false).
/// - Returns: y (N, Cout, Hout, Wout), Hout = (H + 2 padding - dilation (k - 1) - 1) / stride + 1.
public func reluSeparableBatchNorm(_ x: Tensor, depthwise wd: Tensor, pointwise wp: Tensor,
                                   stride: Int, padding: Int, dilation: Int,
                                   bnWeight: Tensor? = nil, bnBias: Tensor? = nil,
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
    Profiler.countFlops(2 * n * plane * c * kh * kw)
    return fusedPointwiseBatchNorm(
        x, depthwise: wd, branches: [wp], outputShape: [n, cout, geo.outH, geo.outW],
        affine: affineParameters(bnWeight, bnBias, cout, "reluSeparableBatchNorm"),
        runningMean: runningMean, runningVar: runningVar, training: training, momentum: momentum, eps: eps
    ) {
        let planes = DepthwisePlanes(geo, reluInput: true)
        return BlockInput(
            forward: { img, _, t in
                let xi = x.data + img * c * inPlane
                for ch in 0..<c { planes.forward(xi + ch * inPlane, wd.data + ch * kh * kw, t + ch * plane) }
            },
            backward: { img, _, dt, dx, dWd in
                Profiler.countFlops(2 * plane * c * kh * kw * ((dx == nil ? 0 : 1) + (dWd == nil ? 0 : 1)))
                let xi = x.data + img * c * inPlane
                for ch in 0..<c {
                    planes.backward(xi + ch * inPlane, wd.data + ch * kh * kw, dt + ch * plane,
                                    dx.map { $0 + img * c * inPlane + ch * inPlane }, dWd.map { $0 + ch * kh * kw })
                }
            },
            release: { planes.deallocate() })
    }
}

/// ReLU, 1x1 convolution and batch normalization, as one operation: the official DARTS
/// `ReLUConvBN` with a 1x1 kernel, a cell's preprocessing of its inputs (BN without affine
/// parameters in the search network, with them in the retrained one). Keeps only x and y (and x̂
/// with an affine BN) for backward (see
/// ``reluSeparableBatchNorm(_:depthwise:pointwise:stride:padding:dilation:bnWeight:bnBias:runningMean:runningVar:training:momentum:eps:)``):
/// the relu(x) that the weight gradient needs is formed again, one image at a time.
///
/// - Parameters:
///   - x: (N, C, H, W).
///   - weight: (Cout, C, 1, 1).
///   - bnWeight, bnBias: gamma and beta (Cout), or nil for affine = false (both or neither).
///   - runningMean, runningVar: (Cout) buffers, updated in training as batchNorm2d does.
/// - Returns: (N, Cout, H, W).
public func reluPointwiseBatchNorm(_ x: Tensor, weight: Tensor, bnWeight: Tensor? = nil, bnBias: Tensor? = nil,
                                   runningMean: Tensor, runningVar: Tensor,
                                   training: Bool, momentum: Float = 0.1, eps: Float = 1e-5) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let cout = weight.shape[0]
    precondition(x.shape.count == 4 && weight.shape == [cout, c, 1, 1],
                 "reluPointwiseBatchNorm: input \(x.shape) and weight \(weight.shape) do not match")
    let plane = h * w
    return fusedPointwiseBatchNorm(
        x, depthwise: nil, branches: [weight], outputShape: [n, cout, h, w],
        affine: affineParameters(bnWeight, bnBias, cout, "reluPointwiseBatchNorm"),
        runningMean: runningMean, runningVar: runningVar, training: training, momentum: momentum, eps: eps
    ) {
        BlockInput(
            forward: { img, _, t in
                let xi = x.data + img * c * plane
                reluCopy(xi, t, c * plane)
            },
            backward: { img, _, dt, dx, _ in
                guard let dx else { return }
                maskedAdd(dt, where: x.data + img * c * plane, dx + img * c * plane, c * plane)
            },
            release: {})
    }
}

/// The official DARTS `FactorizedReduce` as one operation: ReLU, then concat(conv1x1 stride 2 on
/// x, conv1x1 stride 2 on x[:, :, 1:, 1:]) along channels, then batch normalization (without
/// affine parameters in the search network, with them in the retrained one). A skip_connect at
/// stride 2 and the preprocessing after a reduction cell. Keeps only x and y (and x̂ with an
/// affine BN) for backward (the strided relu(x) samples are gathered again in backward, one image
/// at a time).
///
/// - Parameters:
///   - x: (N, C, H, W), H and W even.
///   - weight1, weight2: (Cout / 2, C, 1, 1) each.
///   - bnWeight, bnBias: gamma and beta (Cout), or nil for affine = false (both or neither).
///   - runningMean, runningVar: (Cout) buffers, updated in training as batchNorm2d does.
/// - Returns: (N, Cout, H / 2, W / 2).
public func reluFactorizedReduceBatchNorm(_ x: Tensor, weight1: Tensor, weight2: Tensor,
                                          bnWeight: Tensor? = nil, bnBias: Tensor? = nil, runningMean: Tensor,
                                          runningVar: Tensor, training: Bool, momentum: Float = 0.1,
                                          eps: Float = 1e-5) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let half = weight1.shape[0]
    precondition(x.shape.count == 4 && h % 2 == 0 && w % 2 == 0 && weight1.shape == [half, c, 1, 1]
                    && weight2.shape == weight1.shape,
                 "reluFactorizedReduceBatchNorm: input \(x.shape) (even H and W), weights \(weight1.shape), \(weight2.shape)")
    let (oh, ow) = (h / 2, w / 2)
    let inPlane = h * w, plane = oh * ow
    return fusedPointwiseBatchNorm(
        x, depthwise: nil, branches: [weight1, weight2], outputShape: [n, 2 * half, oh, ow],
        affine: affineParameters(bnWeight, bnBias, 2 * half, "reluFactorizedReduceBatchNorm"),
        runningMean: runningMean, runningVar: runningVar, training: training, momentum: momentum, eps: eps
    ) {
        BlockInput(
            forward: { img, branch, t in
                // Branch 0 samples x[2i, 2j], branch 1 x[2i + 1, 2j + 1].
                for ch in 0..<c {
                    let xp = x.data + (img * c + ch) * inPlane + branch * (w + 1), tp = t + ch * plane
                    for i in 0..<oh {
                        let src = xp + 2 * i * w, dst = tp + i * ow
                        var j = 0
                        // Eight samples from the even lanes of 16 floats inside the row.
                        while j + 8 <= ow && 2 * j + 16 <= w - branch {
                            let v = UnsafeRawPointer(src + 2 * j).loadUnaligned(as: SIMD16<Float>.self).evenHalf
                            store(v.replacing(with: 0, where: v .< 0), dst + j)
                            j += 8
                        }
                        while j < ow { dst[j] = max(src[2 * j], 0); j += 1 }
                    }
                }
            },
            backward: { img, branch, dt, dx, _ in
                guard let dx else { return }
                for ch in 0..<c {
                    let offset = (img * c + ch) * inPlane + branch * (w + 1)
                    let xp = x.data + offset, dp = dx + offset, tp = dt + ch * plane
                    for i in 0..<oh {
                        let xr = xp + 2 * i * w, dr = dp + 2 * i * w, tr = tp + i * ow
                        var j = 0
                        // 16 floats of the row at a time: the gradient in the even lanes where
                        // x > 0, zero in the odd ones (stored back unchanged).
                        while j + 8 <= ow && 2 * j + 16 <= w - branch {
                            let g = Vector8(loading: tr + j)
                            let v = SIMD16<Float>(g[0], 0, g[1], 0, g[2], 0, g[3], 0, g[4], 0, g[5], 0, g[6], 0, g[7], 0)
                            let xv = UnsafeRawPointer(xr + 2 * j).loadUnaligned(as: SIMD16<Float>.self)
                            let kept = SIMD16<Float>().replacing(with: v, where: xv .> 0)
                            let target = UnsafeMutableRawPointer(dr + 2 * j)
                            target.storeBytes(of: target.loadUnaligned(as: SIMD16<Float>.self) + kept, as: SIMD16<Float>.self)
                            j += 8
                        }
                        while j < ow {
                            let keep: UInt32 = xr[2 * j] > 0 ? .max : 0
                            dr[2 * j] += Float(bitPattern: tr[j].bitPattern & keep)
                            j += 1
                        }
                    }
                }
            },
            release: {})
    }
}

/// How a fused block forms, per image, the input of each of its 1x1 convolutions: `forward`
/// writes t (C x Hout Wout) for (image, branch); `backward` takes dL/dt and adds the input
/// gradient (and the depthwise weight gradient) of that image, either pointer possibly nil.
struct BlockInput {
    let forward: (_ image: Int, _ branch: Int, _ t: UnsafeMutablePointer<Float>) -> Void
    let backward: (_ image: Int, _ branch: Int, _ dt: UnsafePointer<Float>,
                   _ dx: UnsafeMutablePointer<Float>?, _ dDepthwise: UnsafeMutablePointer<Float>?) -> Void
    let release: () -> Void
}

/// Batch norm's gamma and beta for a fused block, checked: both (Cout) or both nil.
private func affineParameters(_ weight: Tensor?, _ bias: Tensor?, _ channels: Int,
                              _ caller: String) -> (weight: Tensor, bias: Tensor)? {
    precondition((weight == nil) == (bias == nil), "\(caller): give both bnWeight and bnBias, or neither")
    guard let weight, let bias else { return nil }
    precondition(weight.shape == [channels] && bias.shape == [channels],
                 "\(caller): bnWeight \(weight.shape) and bnBias \(bias.shape) must both be [\(channels)]")
    return (weight, bias)
}

/// y = BN(concat_b(W_b t_b(x))): the body shared by the fused blocks. Branch b's 1x1 weight W_b
/// (Cb, C, 1, 1) fills output channels after those of the branches before it; `input` (called once
/// for forward and once for backward) forms each t_b. Keeps x and y, and with an affine BN
/// (y = gamma x̂ + beta) the normalized x̂ too; without one, x̂ = y. The gradient of the
/// normalization comes from x̂ (Ioffe and Szegedy 2015, section 3):
/// dz = gamma invStd (dy - mean(dy) - x̂ mean(dy x̂)) in training, gamma invStd dy with running
/// statistics; dgamma = sum(dy x̂), dbeta = sum(dy).
private func fusedPointwiseBatchNorm(_ x: Tensor, depthwise: Tensor?, branches: [Tensor], outputShape shape: [Int],
                                     affine: (weight: Tensor, bias: Tensor)?,
                                     runningMean: Tensor, runningVar: Tensor, training: Bool,
                                     momentum: Float, eps: Float, input: @escaping () -> BlockInput) -> Tensor {
    let (n, c) = (x.shape[0], x.shape[1])
    let cout = shape[1], plane = shape[2] * shape[3]
    let rows = branches.map { $0.shape[0] }
    precondition(rows.reduce(0, +) == cout)
    Profiler.countFlops(2 * n * plane * cout * c)
    var invStd: [Float] = []
    var inputs = [x] + (depthwise.map { [$0] } ?? []) + branches
    if let affine { inputs += [affine.weight, affine.bias] }
    // x̂ is kept exactly when this backward closure is recorded (out.requiresGrad, set below).
    var normalized: Tensor?
    let out = Tensor.result(shape: shape, inputs: inputs) { out in
        // dL/dy = scale dy: a weighted sum's coefficient, folded into a, b and c below.
        guard let (dy, scale) = out.gradientMemory.scaled else { return }
        precondition(affine == nil || normalized != nil, "fusedPointwiseBatchNorm: an affine backward pass without its x̂")
        let dx = x.requiresGrad ? x.ensureGrad() : nil
        let dDepthwise = (depthwise?.requiresGrad ?? false) ? depthwise!.ensureGrad() : nil
        let dW = branches.map { $0.requiresGrad ? $0.ensureGrad() : nil }
        let dGamma = (affine?.weight.requiresGrad ?? false) ? affine!.weight.ensureGrad() : nil
        let dBeta = (affine?.bias.requiresGrad ?? false) ? affine!.bias.ensureGrad() : nil
        let needsInput = dx != nil || dDepthwise != nil
        Profiler.countFlops(2 * n * plane * cout * c * ((needsInput ? 1 : 0) + (dW[0] == nil ? 0 : 1)))
        let xhat = normalized?.data ?? out.data
        // dz = a dy + b x̂ + c0 per channel.
        var a = invStd, b = [Float](repeating: 0, count: cout), c0 = b
        let fm = Float(n * plane)
        for o in 0..<cout {
            if training || dGamma != nil || dBeta != nil {
                var sumDy: Float = 0, sumDyXhat: Float = 0
                for img in 0..<n {
                    let offset = (img * cout + o) * plane
                    let (sum, dot) = vectorSumAndDot(dy + offset, xhat + offset, plane)
                    sumDy += sum
                    sumDyXhat += dot
                }
                if training {
                    b[o] = -invStd[o] * sumDyXhat / fm
                    c0[o] = -invStd[o] * sumDy / fm
                }
                dGamma?[o] += scale * sumDyXhat
                dBeta?[o] += scale * sumDy
            }
            let factor = scale * (affine?.weight.data[o] ?? 1)
            if factor != 1 { a[o] *= factor; b[o] *= factor; c0[o] *= factor }
        }
        let kernel = input()
        let t = UnsafeMutablePointer<Float>.allocate(capacity: c * plane)
        let dt = UnsafeMutablePointer<Float>.allocate(capacity: c * plane)
        let dz = UnsafeMutablePointer<Float>.allocate(capacity: cout * plane)
        defer { kernel.release(); t.deallocate(); dt.deallocate(); dz.deallocate() }
        for img in 0..<n {
            for o in 0..<cout {
                let offset = (img * cout + o) * plane
                let dyp = dy + offset, xp = xhat + offset, dzp = dz + o * plane
                let (ao, bo, co) = (a[o], b[o], c0[o])
                for i in 0..<plane { dzp[i] = ao * dyp[i] + bo * xp[i] + co }
            }
            var first = 0
            for (branch, weight) in branches.enumerated() {
                let m = rows[branch], dzb = dz + first * plane
                defer { first += m }
                if let dWb = dW[branch] {
                    kernel.forward(img, branch, t)
                    // dW (Cb x C) += dz_b (Cb x HW) t^T (HW x C)
                    pointwiseWeightGradient(m: m, k: c, p: plane, d: dzb, t: t, dW: dWb, ldw: c)
                }
                guard needsInput else { continue }
                // dt (C x HW) = W^T (C x Cb) dz_b (Cb x HW)
                pointwiseProduct(m: c, k: m, p: plane, a: weight.data, rowStride: 1, columnStride: c,
                                 b: dzb, ldb: plane, out: dt, ldo: plane)
                kernel.backward(img, branch, dt, dx, dDepthwise)
            }
        }
    }

    if affine != nil && out.requiresGrad { normalized = Tensor(uninitializedShape: shape) }
    let kernel = input()
    let t = UnsafeMutablePointer<Float>.allocate(capacity: c * plane)
    defer { kernel.release(); t.deallocate() }
    // The batch moments are gathered from each image's output while it is in cache.
    var moments = BatchMoments(channels: cout)
    for img in 0..<n {
        var first = 0
        for (branch, weight) in branches.enumerated() {
            kernel.forward(img, branch, t)
            // y_b (Cb x HW) = W_b (Cb x C) t (C x HW)
            pointwiseProduct(m: rows[branch], k: c, p: plane, a: weight.data, rowStride: c, columnStride: 1,
                             b: t, ldb: plane, out: out.data + (img * cout + first) * plane, ldo: plane)
            first += rows[branch]
        }
        if training {
            for o in 0..<cout { moments.add(out.data + (img * cout + o) * plane, plane, channel: o) }
        }
    }
    let stats = training
        ? moments.statistics(runningMean: runningMean, runningVar: runningVar, momentum: momentum, eps: eps)
        : runningStatistics(runningMean: runningMean, runningVar: runningVar, eps: eps)
    invStd = stats.invStd
    out.gradientMemory.acceptsSharing = true
    for o in 0..<cout {
        let inv = stats.invStd[o], shift = -stats.mean[o] * stats.invStd[o]
        if let affine {
            // x̂ = inv z + shift (kept when backward will run), y = gamma x̂ + beta, as batchNorm2d.
            let gamma = affine.weight.data[o], beta = affine.bias.data[o]
            let scaleY = gamma * inv, shiftY = beta - stats.mean[o] * gamma * inv
            for img in 0..<n {
                let p = out.data + (img * cout + o) * plane
                if let normalized {
                    let q = normalized.data + (img * cout + o) * plane
                    for i in 0..<plane { q[i] = inv * p[i] + shift }
                }
                for i in 0..<plane { p[i] = scaleY * p[i] + shiftY }
            }
        } else {
            for img in 0..<n {
                let p = out.data + (img * cout + o) * plane
                for i in 0..<plane { p[i] = inv * p[i] + shift }
            }
        }
    }
    return out
}

/// A pooling followed by batch normalization without affine parameters, as one operation: the
/// search network's `max_pool_3x3` and `avg_pool_3x3` (the official MixedOp appends
/// BN(affine = False) to each pool). Keeps only x and y for backward, where the two layers keep
/// the pooled tensor, the output and (max) the argmax positions: the batch-norm gradient comes
/// from its output (x̂ = y, as in ``reluSeparableBatchNorm(_:depthwise:pointwise:stride:padding:dilation:bnWeight:bnBias:runningMean:runningVar:training:momentum:eps:)``),
/// and `poolBackward` routes the gradient (max pooling finds its maxima again from x).
///
/// - Parameters:
///   - x: (N, C, H, W).
///   - runningMean, runningVar: (C) buffers, updated in training as batchNorm2d does.
///   - pool: the pooling, (N, C, H, W) -> (N, C, Hout, Wout).
///   - poolBackward: adds the pooling's input gradient for an output gradient dy into dx (such
///     as ``maxPool2dBackward(_:_:into:kernelSize:stride:padding:)``).
/// - Returns: BN(pool(x)), (N, C, Hout, Wout).
public func pooledBatchNorm(_ x: Tensor, runningMean: Tensor, runningVar: Tensor, training: Bool,
                            momentum: Float = 0.1, eps: Float = 1e-5,
                            pool: (Tensor) -> Tensor,
                            poolBackward: @escaping (_ x: Tensor, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) -> Void) -> Tensor {
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
    let out = Tensor.result(sharing: pooled, inputs: [x]) { out in
        // dL/dy = scale dy (a weighted sum's coefficient), folded into a, b and c0.
        guard let (dy, scale) = out.gradientMemory.scaled else { return }
        let y = out.data
        let dz = Tensor(uninitializedShape: out.shape)
        let fm = Float(n * plane)
        for ch in 0..<c {
            let a = scale * invStd[ch]
            var b: Float = 0, c0: Float = 0
            if training {
                var sumDy: Float = 0, sumDyY: Float = 0
                for img in 0..<n {
                    let offset = (img * c + ch) * plane
                    let (sum, dot) = vectorSumAndDot(dy + offset, y + offset, plane)
                    sumDy += sum
                    sumDyY += dot
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
        guard x.requiresGrad else { return }
        poolBackward(x, dz.data, x.ensureGrad())
    }
    out.gradientMemory.acceptsSharing = true
    return out
}
