/// Max pooling (PyTorch `max_pool2d`): y[n, c, i, j] = max over the k x k window at (i*s - pad, j*s - pad),
/// padding never chosen. x (N, C, H, W) -> (N, C, Hout, Wout), Hout = (H + 2 pad - k) / s + 1.
/// The position of each maximum is kept for backward (the gradient goes to it alone).
public func maxPool2d(_ x: Tensor, kernelSize k: Int, stride s: Int, padding pad: Int) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let g = ConvGeometry(h: h, w: w, kh: k, kw: k, stride: s, padding: pad, dilation: 1)
    let outPlane = g.outH * g.outW
    if PaddedPooling.applies(g) {
        // Stride 1: backward finds each window's maximum again from x (no positions kept).
        let out = Tensor.result(shape: [n, c, g.outH, g.outW], inputs: [x]) { out in
            guard let dy = out.grad else { return }
            maxPool2dBackward(x, dy, into: x.ensureGrad(), kernelSize: k, stride: s, padding: pad)
        }
        let kernel = PaddedPooling(g, border: -.infinity)
        defer { kernel.deallocate() }
        for plane in 0..<(n * c) { kernel.maxValues(x.data + plane * h * w, out.data + plane * outPlane) }
        return out
    }
    if PhasedDepthwise.appliesToPooling(g) {
        // Stride 2 (reduction cells): the windows on the four phases of the padded plane, and
        // backward finds the maxima again (no positions kept).
        let out = Tensor.result(shape: [n, c, g.outH, g.outW], inputs: [x]) { out in
            guard let dy = out.grad else { return }
            maxPool2dBackward(x, dy, into: x.ensureGrad(), kernelSize: k, stride: s, padding: pad)
        }
        let kernel = PhasedDepthwise(g, reluInput: false, border: -.infinity)
        defer { kernel.deallocate() }
        for plane in 0..<(n * c) { kernel.maxValues(x.data + plane * h * w, out.data + plane * outPlane) }
        return out
    }
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
    maxPoolWindows(x.data, planes: n * c, g, out.data, argmax)
    if !out.requiresGrad { box.release() }
    return out
}

/// dx += the gradient of ``maxPool2d(_:kernelSize:stride:padding:)`` for the output gradient
/// dy (N, C, Hout, Wout): each output's gradient goes to the first maximum of its window, found
/// again from x (N, C, H, W).
public func maxPool2dBackward(_ x: Tensor, _ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>,
                              kernelSize k: Int, stride s: Int, padding pad: Int) {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let g = ConvGeometry(h: h, w: w, kh: k, kw: k, stride: s, padding: pad, dilation: 1)
    let outPlane = g.outH * g.outW
    if PaddedPooling.applies(g) {
        let kernel = PaddedPooling(g, border: -.infinity)
        defer { kernel.deallocate() }
        for plane in 0..<(n * c) {
            kernel.maxBackward(x.data + plane * h * w, dy + plane * outPlane, dx + plane * h * w)
        }
        return
    }
    if PhasedDepthwise.appliesToPooling(g) {
        let kernel = PhasedDepthwise(g, reluInput: false, border: -.infinity)
        defer { kernel.deallocate() }
        for plane in 0..<(n * c) {
            kernel.maxBackward(x.data + plane * h * w, dy + plane * outPlane, dx + plane * h * w)
        }
        return
    }
    let argmax = UnsafeMutablePointer<Int32>.allocate(capacity: outPlane)
    let values = UnsafeMutablePointer<Float>.allocate(capacity: outPlane)
    defer { argmax.deallocate(); values.deallocate() }
    for plane in 0..<(n * c) {
        maxPoolWindows(x.data + plane * h * w, planes: 1, g, values, argmax)
        let dxp = dx + plane * h * w, dyp = dy + plane * outPlane
        for i in 0..<outPlane { dxp[Int(argmax[i])] += dyp[i] }
    }
}

/// The window maxima of `planes` planes (H, W) and, per output, the position of the first
/// maximum in its plane (window by window, for any stride).
private func maxPoolWindows(_ x: UnsafePointer<Float>, planes: Int, _ g: ConvGeometry,
                            _ out: UnsafeMutablePointer<Float>, _ argmax: UnsafeMutablePointer<Int32>) {
    let (h, w, k, s, pad) = (g.h, g.w, g.kh, g.stride, g.padding)
    let outPlane = g.outH * g.outW
    for plane in 0..<planes {
        let xp = x + plane * h * w
        let yp = out + plane * outPlane
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
}

/// Average pooling (PyTorch `avg_pool2d`): the mean over the k x k window at (i*s - pad, j*s - pad).
/// With `countIncludePad: false` (DARTS' avg_pool_3x3 and auxiliary head) the divisor is the number of
/// window cells inside the image; otherwise k * k.
public func avgPool2d(_ x: Tensor, kernelSize k: Int, stride s: Int, padding pad: Int, countIncludePad: Bool = false) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let g = ConvGeometry(h: h, w: w, kh: k, kw: k, stride: s, padding: pad, dilation: 1)
    let outPlane = g.outH * g.outW
    let inverse = averageDivisors(g, countIncludePad: countIncludePad)
    let out = Tensor.result(shape: [n, c, g.outH, g.outW], inputs: [x]) { out in
        guard let dy = out.grad else { return }
        avgPool2dBackward(x.shape, dy, into: x.ensureGrad(), kernelSize: k, stride: s, padding: pad,
                          countIncludePad: countIncludePad)
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
    if PhasedDepthwise.appliesToPooling(g) {
        // Stride 2: window sums as a depthwise convolution with unit weights on the phases.
        let kernel = PhasedDepthwise(g, reluInput: false)
        let ones = [Float](repeating: 1, count: k * k)
        defer { kernel.deallocate() }
        ones.withUnsafeBufferPointer { unit in
            for plane in 0..<(n * c) {
                let yp = out.data + plane * outPlane
                kernel.forward(x.data + plane * h * w, unit.baseAddress!, yp)
                for i in 0..<outPlane { yp[i] *= inverse[i] }
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

/// dx (`shape`: N, C, H, W) += the gradient of ``avgPool2d(_:kernelSize:stride:padding:countIncludePad:)``
/// for the output gradient dy (N, C, Hout, Wout).
public func avgPool2dBackward(_ shape: [Int], _ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>,
                              kernelSize k: Int, stride s: Int, padding pad: Int, countIncludePad: Bool = false) {
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
    let g = ConvGeometry(h: h, w: w, kh: k, kw: k, stride: s, padding: pad, dilation: 1)
    let outPlane = g.outH * g.outW
    let inverse = averageDivisors(g, countIncludePad: countIncludePad)
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
    if PhasedDepthwise.appliesToPooling(g) {
        // The adjoint of the unit-weight depthwise convolution, applied to dy / divisor.
        let kernel = PhasedDepthwise(g, reluInput: false)
        let ones = [Float](repeating: 1, count: k * k)
        var scaled = [Float](repeating: 0, count: outPlane)
        defer { kernel.deallocate() }
        ones.withUnsafeBufferPointer { unit in
            scaled.withUnsafeMutableBufferPointer { d in
                for plane in 0..<(n * c) {
                    let dyp = dy + plane * outPlane, dxp = dx + plane * h * w
                    for i in 0..<outPlane { d[i] = dyp[i] * inverse[i] }
                    // The input plane is read only for a ReLU mask (none here) or a weight gradient (not asked).
                    kernel.backward(UnsafePointer(dxp), unit.baseAddress!, UnsafePointer(d.baseAddress!), dxp, nil)
                }
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

/// 1 / divisor for every output position of an average pooling (the same for every plane).
private func averageDivisors(_ g: ConvGeometry, countIncludePad: Bool) -> [Float] {
    var inverse = [Float](repeating: 0, count: g.outH * g.outW)
    for i in 0..<g.outH {
        let r0 = max(i * g.stride - g.padding, 0), r1 = min(i * g.stride - g.padding + g.kh, g.h)
        for j in 0..<g.outW {
            let c0 = max(j * g.stride - g.padding, 0), c1 = min(j * g.stride - g.padding + g.kw, g.w)
            let cells = countIncludePad ? g.kh * g.kw : (r1 - r0) * (c1 - c0)
            inverse[i * g.outW + j] = 1 / Float(cells)
        }
    }
    return inverse
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
