/// Depthwise convolution at stride 1 on padded planes.
///
/// With the plane zero-padded to (Hp, Wp) = (H + 2 pad, W + 2 pad) and the output laid out with
/// the same row pitch Wp, every kernel tap (p, q) becomes ONE contiguous multiply-add over the
/// whole plane: out'[k] += w[p, q] * x'[k + (p Wp + q) d] for k in 0 ..< (Hout - 1) Wp + Wout
/// (the Wp - Wout extra columns per row are scratch). Long branch-free loops vectorize, where
/// row-by-row loops over 7- to 28-wide rows spend their time on loop overhead.
struct PaddedDepthwise {
    let g: ConvGeometry
    let hp, wp, length: Int
    /// Scratch: the padded input plane and a pitch-Wp output (or output-gradient) plane.
    let padded: UnsafeMutablePointer<Float>
    let pitched: UnsafeMutablePointer<Float>
    let gradPadded: UnsafeMutablePointer<Float>

    init(_ g: ConvGeometry) {
        self.g = g
        hp = g.h + 2 * g.padding
        wp = g.w + 2 * g.padding
        length = (g.outH - 1) * wp + g.outW
        padded = .allocate(capacity: hp * wp)
        padded.initialize(repeating: 0, count: hp * wp)
        pitched = .allocate(capacity: g.outH * wp)
        gradPadded = .allocate(capacity: hp * wp)
    }

    func deallocate() {
        padded.deallocate()
        pitched.deallocate()
        gradPadded.deallocate()
    }

    static func applies(_ g: ConvGeometry) -> Bool {
        g.stride == 1 && g.outH + g.dilation * (g.kh - 1) == g.h + 2 * g.padding
            && g.outW + g.dilation * (g.kw - 1) == g.w + 2 * g.padding
    }

    /// Copies a plane into the interior of `padded` (the border stays zero).
    @inline(__always)
    func pad(_ x: UnsafePointer<Float>) {
        let p = g.padding
        for i in 0..<g.h { (padded + (i + p) * wp + p).update(from: x + i * g.w, count: g.w) }
    }

    @inline(__always)
    func offset(_ p: Int, _ q: Int) -> Int { (p * wp + q) * g.dilation }

    /// out = depthwise(x) for one plane.
    func forward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        pad(x)
        let n = length
        let o = pitched
        o.update(repeating: 0, count: n)
        for p in 0..<g.kh {
            for q in 0..<g.kw {
                let wv = w[p * g.kw + q]
                let src = padded + offset(p, q)
                for k in 0..<n { o[k] += wv * src[k] }
            }
        }
        for i in 0..<g.outH { (out + i * g.outW).update(from: o + i * wp, count: g.outW) }
    }

    /// dx += depthwise^T(dy) and dw += correlation(dy, x) for one plane (either may be nil).
    func backward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                  _ dx: UnsafeMutablePointer<Float>?, _ dw: UnsafeMutablePointer<Float>?) {
        let n = length
        let d = pitched
        // dy with pitch Wp and zeros in the scratch columns, so they add nothing.
        for i in 0..<g.outH {
            (d + i * wp).update(from: dy + i * g.outW, count: g.outW)
            if i < g.outH - 1 { (d + i * wp + g.outW).update(repeating: 0, count: wp - g.outW) }
        }
        if let dw {
            pad(x)
            for p in 0..<g.kh {
                for q in 0..<g.kw {
                    dw[p * g.kw + q] += vectorDot(d, padded + offset(p, q), n)
                }
            }
        }
        if let dx {
            let gp = gradPadded
            gp.update(repeating: 0, count: hp * wp)
            for p in 0..<g.kh {
                for q in 0..<g.kw {
                    let wv = w[p * g.kw + q]
                    let dst = gp + offset(p, q)
                    for k in 0..<n { dst[k] += wv * d[k] }
                }
            }
            let pad = g.padding
            for i in 0..<g.h {
                let row = dx + i * g.w, src = gp + (i + pad) * wp + pad
                for j in 0..<g.w { row[j] += src[j] }
            }
        }
    }
}
