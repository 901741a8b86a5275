/// Depthwise convolution at stride 1 on padded planes.
///
/// With the plane zero-padded to (Hp, Wp) = (H + 2 pad, W + 2 pad) and the output laid out with
/// the same row pitch Wp, the kernel tap (p, q) reads the padded plane at the fixed offset
/// (p Wp + q) d: out'[m] = sum_{p,q} w[p, q] x'[m + (p Wp + q) d] for m in 0 ..< (Hout - 1) Wp + Wout
/// (the Wp - Wout extra columns per row are scratch). ``correlate(_:_:_:taps:_:_:)`` runs that sum
/// with 32 outputs in registers and the taps innermost (one load per multiply-add, no stores
/// until the end), where row-by-row loops over 7- to 28-wide rows spend their time on loop
/// overhead. The input gradient is the same sum over the flipped taps of the output gradient,
/// placed in a zero margin; the weight gradient, one dot product per tap (``tapDots``).
struct PaddedDepthwise {
    let g: ConvGeometry
    let hp, wp, length: Int
    /// The largest tap offset, (kH - 1) d Wp + (kW - 1) d.
    let margin: Int
    /// Scratch: the padded input plane, a pitch-Wp output plane, and the pitch-Wp output gradient
    /// after a zero margin (for the input gradient).
    let padded: UnsafeMutablePointer<Float>
    let pitched: UnsafeMutablePointer<Float>
    let gradient: UnsafeMutablePointer<Float>
    /// Tap offsets (p Wp + q) d, and their negatives for the input gradient.
    let offsets: UnsafeMutablePointer<Int>
    let flipped: UnsafeMutablePointer<Int>
    /// Convolve relu(x) instead of x (and pass the input gradient only where x > 0).
    let reluInput: Bool

    init(_ g: ConvGeometry, reluInput: Bool = false) {
        self.g = g
        self.reluInput = reluInput
        hp = g.h + 2 * g.padding
        wp = g.w + 2 * g.padding
        length = (g.outH - 1) * wp + g.outW
        margin = ((g.kh - 1) * wp + g.kw - 1) * g.dilation
        padded = .allocate(capacity: hp * wp)
        padded.initialize(repeating: 0, count: hp * wp)
        pitched = .allocate(capacity: hp * wp)
        gradient = .allocate(capacity: margin + hp * wp)
        gradient.initialize(repeating: 0, count: margin + hp * wp)
        offsets = .allocate(capacity: g.kh * g.kw)
        flipped = .allocate(capacity: g.kh * g.kw)
        for p in 0..<g.kh {
            for q in 0..<g.kw {
                offsets[p * g.kw + q] = (p * wp + q) * g.dilation
                flipped[p * g.kw + q] = -offsets[p * g.kw + q]
            }
        }
    }

    func deallocate() {
        padded.deallocate()
        pitched.deallocate()
        gradient.deallocate()
        offsets.deallocate()
        flipped.deallocate()
    }

    static func applies(_ g: ConvGeometry) -> Bool {
        g.stride == 1 && g.outH + g.dilation * (g.kh - 1) == g.h + 2 * g.padding
            && g.outW + g.dilation * (g.kw - 1) == g.w + 2 * g.padding
    }

    /// Copies a plane (or its ReLU) into the interior of `padded` (the border stays zero).
    @inline(__always)
    func pad(_ x: UnsafePointer<Float>) {
        let p = g.padding
        if reluInput {
            for i in 0..<g.h { reluCopy(x + i * g.w, padded + (i + p) * wp + p, g.w) }
        } else {
            for i in 0..<g.h { copyRow(x + i * g.w, padded + (i + p) * wp + p, g.w) }
        }
    }

    /// out = depthwise(x) for one plane.
    func forward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        pad(x)
        correlate(padded, offsets, w, taps: g.kh * g.kw, pitched, length)
        unpitch(pitched, pitch: wp, out, rows: g.outH, width: g.outW)
    }

    /// dx += depthwise^T(dy) and dw += correlation(dy, x) for one plane (either may be nil).
    func backward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                  _ dx: UnsafeMutablePointer<Float>?, _ dw: UnsafeMutablePointer<Float>?) {
        // dy with pitch Wp after the zero margin, zeros in the scratch columns (they add nothing).
        let d = gradient + margin
        pitch(dy, rows: g.outH, width: g.outW, into: d, pitch: wp)
        if let dw {
            pad(x)
            tapDots(d, padded, offsets, taps: g.kh * g.kw, length, dw)
        }
        if let dx {
            // The gradient of the padded plane at the interior rows: dx'[m] = sum_t w[t] d[m - off_t],
            // m from pad Wp + pad over (H - 1) Wp + W positions; d is zero outside 0 ..< length.
            let first = g.padding * wp + g.padding
            let count = (g.h - 1) * wp + g.w
            correlate(d + first, flipped, w, taps: g.kh * g.kw, pitched, count)
            for i in 0..<g.h {
                if reluInput {
                    // Through the ReLU: only where x > 0.
                    maskedAdd(pitched + i * wp, where: x + i * g.w, dx + i * g.w, g.w)
                } else {
                    addInto(pitched + i * wp, dx + i * g.w, g.w)
                }
            }
        }
    }
}
