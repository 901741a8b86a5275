/// ReLU: y = max(x, 0); the gradient passes where y > 0.
public func relu(_ x: Tensor) -> Tensor {
    let out = Tensor.result(shape: x.shape, inputs: [x]) { out in
        guard let dy = out.grad else { return }
        let dx = x.ensureGrad()
        let y = out.data
        for i in 0..<x.count { dx[i] += y[i] > 0 ? dy[i] : 0 }
    }
    let xp = x.data, yp = out.data
    for i in 0..<x.count { yp[i] = xp[i] > 0 ? xp[i] : 0 }
    return out
}

/// Elementwise sum of tensors of one shape: y = x_1 + ... + x_k.
public func add(_ xs: [Tensor]) -> Tensor {
    precondition(!xs.isEmpty, "add of no tensors")
    let shape = xs[0].shape
    precondition(xs.allSatisfy { $0.shape == shape }, "add: shapes differ: \(xs.map(\.shape))")
    let count = xs[0].count
    let out = Tensor.result(shape: shape, inputs: xs) { out in
        guard let dy = out.grad else { return }
        for x in xs where x.requiresGrad { saxpy(count, 1, dy, x.ensureGrad()) }
    }
    out.data.update(from: xs[0].data, count: count)
    for x in xs.dropFirst() { saxpy(count, 1, x.data, out.data) }
    return out
}

/// a + b, elementwise.
public func + (a: Tensor, b: Tensor) -> Tensor { add([a, b]) }

/// y = s * x for a constant s (not differentiated).
public func scaled(_ x: Tensor, by s: Float) -> Tensor {
    let out = Tensor.result(shape: x.shape, inputs: [x]) { out in
        guard let dy = out.grad else { return }
        saxpy(x.count, s, dy, x.ensureGrad())
    }
    for i in 0..<x.count { out.data[i] = s * x.data[i] }
    return out
}

/// Elements per block of ``weightedSum(_:coefficients:indices:)`` (8 KB: the result's block and
/// one input's stay in L1).
let weightedSumBlock = 2048

/// The weighted sum at the heart of DARTS' MixedOp (paper eq. 1):
/// y = sum_k c[index_k] * x_k, with the coefficients read from a tensor (the softmax of alpha), so
/// that gradients reach both the inputs (dx_k = c * dy) and the coefficients (dc = <dy, x_k>).
///
/// - Parameters:
///   - xs: tensors of one shape.
///   - coefficients: any tensor; element `indices[k]` (flat) weighs `xs[k]`.
public func weightedSum(_ xs: [Tensor], coefficients: Tensor, indices: [Int]) -> Tensor {
    precondition(!xs.isEmpty && xs.count == indices.count, "weightedSum: \(xs.count) inputs, \(indices.count) indices")
    let shape = xs[0].shape
    precondition(xs.allSatisfy { $0.shape == shape }, "weightedSum: shapes differ: \(xs.map(\.shape))")
    let count = xs[0].count
    let out = Tensor.result(shape: shape, inputs: xs + [coefficients]) { out in
        guard let dy = out.grad else { return }
        let dc = coefficients.requiresGrad ? coefficients.ensureGrad() : nil
        // An input whose operation folds a scale into its own backward (the fused blocks and
        // pools) shares dy with the scale c_k; the others get c_k dy written out.
        let targets = xs.enumerated().map { k, x in
            x.requiresGrad && !out.gradientMemory.share(into: &x.gradientMemory, scale: coefficients.data[indices[k]])
                ? x.gradientForAccumulation() : nil
        }
        var dots = [Float](repeating: 0, count: xs.count)
        // Block by block, as forward: dy's block stays in L1 while every input's gradient
        // (c_k dy, written into a fresh buffer, added to one that holds a gradient) and dot
        // product <dy, x_k> take their share.
        var start = 0
        while start < count {
            let length = min(weightedSumBlock, count - start)
            let d = dy + start
            for k in 0..<xs.count {
                if let (g, fresh) = targets[k] {
                    let c = coefficients.data[indices[k]], gk = g + start
                    if fresh {
                        for i in 0..<length { gk[i] = c * d[i] }
                    } else {
                        for i in 0..<length { gk[i] += c * d[i] }
                    }
                }
                if dc != nil { dots[k] += vectorDot(d, xs[k].data + start, length) }
            }
            start += length
        }
        if let dc { for k in 0..<xs.count { dc[indices[k]] += dots[k] } }
    }
    // In blocks of 2048 elements, every input added while the block of the result stays in L1:
    // one pass over each input and one over the result, instead of one over the result per input.
    let block = weightedSumBlock
    let weights = indices.map { coefficients.data[$0] }
    var start = 0
    while start < count {
        let length = min(block, count - start)
        let o = out.data + start
        let w0 = weights[0], x0 = xs[0].data + start
        for i in 0..<length { o[i] = w0 * x0[i] }
        for k in 1..<xs.count {
            let wk = weights[k], xk = xs[k].data + start
            for i in 0..<length { o[i] += wk * xk[i] }
        }
        start += length
    }
    return out
}
