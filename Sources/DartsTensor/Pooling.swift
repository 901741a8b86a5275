/// Max pooling (PyTorch `max_pool2d`): y[n, c, i, j] = max over the k x k window at (i*s - pad, j*s - pad),
/// padding never chosen. x (N, C, H, W) -> (N, C, Hout, Wout), Hout = (H + 2 pad - k) / s + 1.
/// The position of each maximum is kept for backward (the gradient goes to it alone).
public func maxPool2d(_ x: Tensor, kernelSize k: Int, stride s: Int, padding pad: Int) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let g = ConvGeometry(h: h, w: w, kh: k, kw: k, stride: s, padding: pad, dilation: 1)
    let outPlane = g.outH * g.outW
    let argmax = UnsafeMutablePointer<Int32>.allocate(capacity: n * c * outPlane)
    let box = PointerBox(argmax)
    let out = Tensor.result(shape: [n, c, g.outH, g.outW], inputs: [x]) { out in
        guard let dy = out.grad else { return }
        let dx = x.ensureGrad()
        let am = box.pointer
        for plane in 0..<(n * c) {
            let dxp = dx + plane * h * w
            let dyp = dy + plane * outPlane
            let ap = am + plane * outPlane
            for i in 0..<outPlane { dxp[Int(ap[i])] += dyp[i] }
        }
    }
    if PaddedPooling.applies(g) {
        let kernel = PaddedPooling(g, border: -.infinity)
        defer { kernel.deallocate() }
        if !out.requiresGrad {
            box.release()
            for plane in 0..<(n * c) { kernel.maxValues(x.data + plane * h * w, out.data + plane * outPlane) }
            return out
        }
        for plane in 0..<(n * c) {
            kernel.maxForward(x.data + plane * h * w, out.data + plane * outPlane, argmax + plane * outPlane)
        }
        return out
    }
    for plane in 0..<(n * c) {
        let xp = x.data + plane * h * w
        let yp = out.data + plane * outPlane
        let ap = argmax + plane * outPlane
        for i in 0..<g.outH {
            let r0 = max(i * s - pad, 0), r1 = min(i * s - pad + k, h)
            for j in 0..<g.outW {
                let c0 = max(j * s - pad, 0), c1 = min(j * s - pad + k, w)
                var best = -Float.infinity
                var bestIndex = r0 * w + c0
                for r in r0..<r1 {
                    for cc in c0..<c1 where xp[r * w + cc] > best {
                        best = xp[r * w + cc]; bestIndex = r * w + cc
                    }
                }
                yp[i * g.outW + j] = best
                ap[i * g.outW + j] = Int32(bestIndex)
            }
        }
    }
    if !out.requiresGrad { box.release() }
    return out
}

/// Average pooling (PyTorch `avg_pool2d`): the mean over the k x k window at (i*s - pad, j*s - pad).
/// With `countIncludePad: false` (DARTS' avg_pool_3x3 and auxiliary head) the divisor is the number of
/// window cells inside the image; otherwise k * k.
public func avgPool2d(_ x: Tensor, kernelSize k: Int, stride s: Int, padding pad: Int, countIncludePad: Bool = false) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let g = ConvGeometry(h: h, w: w, kh: k, kw: k, stride: s, padding: pad, dilation: 1)
    let outPlane = g.outH * g.outW
    // 1 / divisor for every output position (the same for every plane).
    var inverse = [Float](repeating: 0, count: outPlane)
    for i in 0..<g.outH {
        let r0 = max(i * s - pad, 0), r1 = min(i * s - pad + k, h)
        for j in 0..<g.outW {
            let c0 = max(j * s - pad, 0), c1 = min(j * s - pad + k, w)
            let cells = countIncludePad ? k * k : (r1 - r0) * (c1 - c0)
            inverse[i * g.outW + j] = 1 / Float(cells)
        }
    }
    let out = Tensor.result(shape: [n, c, g.outH, g.outW], inputs: [x]) { out in
        guard let dy = out.grad else { return }
        let dx = x.ensureGrad()
        if PaddedPooling.applies(g) {
            let kernel = PaddedPooling(g, border: 0)
            defer { kernel.deallocate() }
            inverse.withUnsafeBufferPointer { inv in
                for plane in 0..<(n * c) {
                    kernel.averageBackward(dy + plane * outPlane, inv.baseAddress!, dx + plane * h * w)
                }
            }
            return
        }
        for plane in 0..<(n * c) {
            let dxp = dx + plane * h * w
            let dyp = dy + plane * outPlane
            for i in 0..<g.outH {
                let r0 = max(i * s - pad, 0), r1 = min(i * s - pad + k, h)
                for j in 0..<g.outW {
                    let c0 = max(j * s - pad, 0), c1 = min(j * s - pad + k, w)
                    let v = dyp[i * g.outW + j] * inverse[i * g.outW + j]
                    for r in r0..<r1 { for cc in c0..<c1 { dxp[r * w + cc] += v } }
                }
            }
        }
    }
    if PaddedPooling.applies(g) {
        let kernel = PaddedPooling(g, border: 0)
        defer { kernel.deallocate() }
        inverse.withUnsafeBufferPointer { inv in
            for plane in 0..<(n * c) {
                kernel.averageForward(x.data + plane * h * w, out.data + plane * outPlane, inv.baseAddress!)
            }
        }
        return out
    }
    for plane in 0..<(n * c) {
        let xp = x.data + plane * h * w
        let yp = out.data + plane * outPlane
        for i in 0..<g.outH {
            let r0 = max(i * s - pad, 0), r1 = min(i * s - pad + k, h)
            for j in 0..<g.outW {
                let c0 = max(j * s - pad, 0), c1 = min(j * s - pad + k, w)
                var sum: Float = 0
                for r in r0..<r1 { for cc in c0..<c1 { sum += xp[r * w + cc] } }
                yp[i * g.outW + j] = sum * inverse[i * g.outW + j]
            }
        }
    }
    return out
}

/// Global average pooling: (N, C, H, W) -> (N, C), the mean of each plane.
public func globalAvgPool2d(_ x: Tensor) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let plane = h * w
    let inv = 1 / Float(plane)
    let out = Tensor.result(shape: [n, c], inputs: [x]) { out in
        guard let dy = out.grad else { return }
        let dx = x.ensureGrad()
        for p in 0..<(n * c) {
            let v = dy[p] * inv
            let d = dx + p * plane
            for i in 0..<plane { d[i] += v }
        }
    }
    for p in 0..<(n * c) {
        var s: Float = 0
        let xp = x.data + p * plane
        for i in 0..<plane { s += xp[i] }
        out.data[p] = s * inv
    }
    return out
}

/// Keeps an allocation alive exactly as long as a backward closure that needs it.
final class PointerBox<T> {
    private(set) var pointer: UnsafeMutablePointer<T>
    private var live = true
    init(_ p: UnsafeMutablePointer<T>) { pointer = p }
    func release() { if live { pointer.deallocate(); live = false } }
    deinit { release() }
}
