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
        for (k, x) in xs.enumerated() {
            if x.requiresGrad { saxpy(count, coefficients.data[indices[k]], dy, x.ensureGrad()) }
            if let dc { dc[indices[k]] += sdot(count, dy, x.data) }
        }
    }
    out.data.update(repeating: 0, count: count)
    for (k, x) in xs.enumerated() { saxpy(count, coefficients.data[indices[k]], x.data, out.data) }
    return out
}
