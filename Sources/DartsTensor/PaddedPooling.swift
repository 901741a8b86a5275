/// 3x3-style pooling at stride 1 on padded planes, the layout of ``PaddedDepthwise``: with the
/// plane padded to (H + 2 pad, W + 2 pad) and the output at the same row pitch, each window tap is
/// one contiguous loop over the whole plane.
struct PaddedPooling {
    let g: ConvGeometry
    let hp, wp, length: Int
    let padded: UnsafeMutablePointer<Float>
    let pitched: UnsafeMutablePointer<Float>

    init(_ g: ConvGeometry, border: Float) {
        self.g = g
        hp = g.h + 2 * g.padding
        wp = g.w + 2 * g.padding
        length = (g.outH - 1) * wp + g.outW
        padded = .allocate(capacity: hp * wp)
        padded.initialize(repeating: border, count: hp * wp)
        pitched = .allocate(capacity: g.outH * wp)
    }

    func deallocate() {
        padded.deallocate()
        pitched.deallocate()
    }

    static func applies(_ g: ConvGeometry) -> Bool {
        g.stride == 1 && g.outH + g.kh - 1 == g.h + 2 * g.padding && g.outW + g.kw - 1 == g.w + 2 * g.padding
    }

    @inline(__always)
    func pad(_ x: UnsafePointer<Float>) {
        let p = g.padding
        for i in 0..<g.h { (padded + (i + p) * wp + p).update(from: x + i * g.w, count: g.w) }
    }

    @inline(__always)
    func unpitch(_ out: UnsafeMutablePointer<Float>) {
        for i in 0..<g.outH { (out + i * g.outW).update(from: pitched + i * wp, count: g.outW) }
    }

    /// Max over the window; `argmax` receives, per output element, the input element's index in
    /// the unpadded plane (the first maximum in window order).
    func maxForward(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ argmax: UnsafeMutablePointer<Int32>) {
        // Per element, the winning tap as an offset in the unpadded plane, p W + q.
        let tap = firstMaxima(x, rowPitch: g.w)
        defer { tap.deallocate() }
        unpitch(out)
        // Output (i, j) reads the window whose top-left input is (i - pad, j - pad).
        for i in 0..<g.outH {
            let corner = Int32((i - g.padding) * g.w - g.padding)
            let row = argmax + i * g.outW, taps = tap + i * wp
            for j in 0..<g.outW { row[j] = corner + Int32(j) + taps[j] }
        }
    }

    /// The window maxima of a plane into `pitched`, and per element (at pitch Wp) the first
    /// winning tap (p, q) in window order as p rowPitch + q (a buffer of `length`, the caller's
    /// to deallocate).
    private func firstMaxima(_ x: UnsafePointer<Float>, rowPitch: Int) -> UnsafeMutablePointer<Int32> {
        pad(x)
        let n = length, o = pitched
        let tap = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        o.update(from: padded, count: n)
        tap.update(repeating: 0, count: n)
        for p in 0..<g.kh {
            for q in 0..<g.kw where p + q > 0 {
                let src = padded + p * wp + q
                let t = Int32(p * rowPitch + q)
                for k in 0..<n {
                    let v = src[k]
                    let better = v > o[k]
                    o[k] = better ? v : o[k]
                    tap[k] = better ? t : tap[k]
                }
            }
        }
        return tap
    }

    /// Max over the window, without the positions (no backward to prepare).
    func maxValues(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        pad(x)
        let n = length, o = pitched
        o.update(from: padded, count: n)
        for p in 0..<g.kh {
            for q in 0..<g.kw where p + q > 0 {
                let src = padded + p * wp + q
                for k in 0..<n { o[k] = max(o[k], src[k]) }
            }
        }
        unpitch(out)
    }

    /// dx += the max-pooling gradient of dy for one plane: the window maxima are found again
    /// (first maximum in window order, as ``maxForward(_:_:_:)``) and each output's gradient is
    /// added at its maximum, in the padded layout, then copied out of the border.
    func maxBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
        // The winning tap as an offset in the padded plane, p Wp + q.
        let tap = firstMaxima(x, rowPitch: wp)
        let acc = UnsafeMutablePointer<Float>.allocate(capacity: hp * wp)
        defer { tap.deallocate(); acc.deallocate() }
        acc.update(repeating: 0, count: hp * wp)
        for i in 0..<g.outH {
            let row = dy + i * g.outW, taps = tap + i * wp
            for j in 0..<g.outW { acc[i * wp + j + Int(taps[j])] += row[j] }
        }
        let pad = g.padding
        for i in 0..<g.h {
            let dst = dx + i * g.w, src = acc + (i + pad) * wp + pad
            for j in 0..<g.w { dst[j] += src[j] }
        }
    }

    /// Window sums times `inverse` (1 / cells counted), per output element.
    func averageForward(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ inverse: UnsafePointer<Float>) {
        pad(x)
        let n = length, o = pitched
        o.update(from: padded, count: n)
        for p in 0..<g.kh {
            for q in 0..<g.kw where p + q > 0 {
                let src = padded + p * wp + q
                for k in 0..<n { o[k] += src[k] }
            }
        }
        for i in 0..<g.outH {
            let row = out + i * g.outW, src = o + i * wp, inv = inverse + i * g.outW
            for j in 0..<g.outW { row[j] = src[j] * inv[j] }
        }
    }

    /// dx += the adjoint of averageForward applied to dy.
    func averageBackward(_ dy: UnsafePointer<Float>, _ inverse: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
        let n = length, d = pitched
        for i in 0..<g.outH {
            let row = d + i * wp, src = dy + i * g.outW, inv = inverse + i * g.outW
            for j in 0..<g.outW { row[j] = src[j] * inv[j] }
            if i < g.outH - 1 { (row + g.outW).update(repeating: 0, count: wp - g.outW) }
        }
        let acc = padded
        acc.update(repeating: 0, count: hp * wp)
        for p in 0..<g.kh {
            for q in 0..<g.kw {
                let dst = acc + p * wp + q
                for k in 0..<n { dst[k] += d[k] }
            }
        }
        let pad = g.padding
        for i in 0..<g.h {
            let row = dx + i * g.w, src = acc + (i + pad) * wp + pad
            for j in 0..<g.w { row[j] += src[j] }
        }
    }
}
