/// Concatenation along the channel axis: (N, C_i, H, W) for each input -> (N, sum C_i, H, W).
public func concatChannels(_ xs: [Tensor]) -> Tensor {
    precondition(!xs.isEmpty)
    let (n, h, w) = (xs[0].shape[0], xs[0].shape[2], xs[0].shape[3])
    precondition(xs.allSatisfy { $0.shape[0] == n && $0.shape[2] == h && $0.shape[3] == w },
                 "concatChannels: shapes differ: \(xs.map(\.shape))")
    let total = xs.reduce(0) { $0 + $1.shape[1] }
    let plane = h * w
    let out = Tensor.result(shape: [n, total, h, w], inputs: xs) { out in
        guard let dy = out.grad else { return }
        var offset = 0
        for x in xs {
            let c = x.shape[1]
            if x.requiresGrad {
                let dx = x.ensureGrad()
                for img in 0..<n {
                    saxpy(c * plane, 1, dy + (img * total + offset) * plane, dx + img * c * plane)
                }
            }
            offset += c
        }
    }
    var offset = 0
    for x in xs {
        let c = x.shape[1]
        for img in 0..<n {
            (out.data + (img * total + offset) * plane).update(from: x.data + img * c * plane, count: c * plane)
        }
        offset += c
    }
    return out
}

/// The spatial crop x[:, :, top:, left:] (FactorizedReduce's second path uses top = left = 1).
/// (N, C, H, W) -> (N, C, H - top, W - left).
public func cropTopLeft(_ x: Tensor, top: Int = 1, left: Int = 1) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (oh, ow) = (h - top, w - left)
    precondition(oh > 0 && ow > 0, "cropTopLeft: input \(x.shape) too small")
    let out = Tensor.result(shape: [n, c, oh, ow], inputs: [x]) { out in
        guard let dy = out.grad else { return }
        let dx = x.ensureGrad()
        for p in 0..<(n * c) {
            for i in 0..<oh {
                let d = dx + p * h * w + (i + top) * w + left
                let s = dy + p * oh * ow + i * ow
                for j in 0..<ow { d[j] += s[j] }
            }
        }
    }
    for p in 0..<(n * c) {
        for i in 0..<oh {
            (out.data + p * oh * ow + i * ow).update(from: x.data + p * h * w + (i + top) * w + left, count: ow)
        }
    }
    return out
}

/// DARTS' `none` operation: zeros shaped like x[:, :, ::s, ::s] (N, C, ceil(H/s), ceil(W/s)).
/// Its gradient with respect to x is zero, so it records nothing.
public func stridedZeros(like x: Tensor, stride s: Int) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    return Tensor(shape: [n, c, (h + s - 1) / s, (w + s - 1) / s])
}

/// Reshape without copying semantics visible to the caller (the values are copied once).
public func reshaped(_ x: Tensor, _ shape: [Int]) -> Tensor {
    precondition(shape.reduce(1, *) == x.count, "reshape \(x.shape) to \(shape)")
    let out = Tensor.result(shape: shape, inputs: [x]) { out in
        guard let dy = out.grad else { return }
        saxpy(x.count, 1, dy, x.ensureGrad())
    }
    out.data.update(from: x.data, count: x.count)
    return out
}
