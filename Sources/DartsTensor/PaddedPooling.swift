/// 3x3-style pooling at stride 1 on padded planes, the layout of ``PaddedDepthwise``: with the
/// plane padded to (H + 2 pad, W + 2 pad) and the output at the same row pitch, each window tap is
/// one fixed offset, and the kernels keep a block of outputs in registers while the taps run
/// innermost (as ``correlate(_:_:_:taps:_:_:)``, which the average pooling uses with unit weights).
struct PaddedPooling {
    let g: ConvGeometry
    let hp, wp, length: Int
    let padded: UnsafeMutablePointer<Float>
    let pitched: UnsafeMutablePointer<Float>
    /// The output gradient at pitch Wp after a zero margin (average pooling's backward), and the
    /// gradient of the padded plane (max pooling's backward).
    let gradient: UnsafeMutablePointer<Float>
    let accumulated: UnsafeMutablePointer<Float>
    let margin: Int
    /// Per tap (p, q): its offset p Wp + q, the negated offset, and a unit weight.
    let offsets: UnsafeMutablePointer<Int>
    let flipped: UnsafeMutablePointer<Int>
    let ones: UnsafeMutablePointer<Float>
    /// Per output element at pitch Wp: the offset p Wp + q of its window's first maximum.
    let winners: UnsafeMutablePointer<Int32>

    init(_ g: ConvGeometry, border: Float) {
        self.g = g
        hp = g.h + 2 * g.padding
        wp = g.w + 2 * g.padding
        length = (g.outH - 1) * wp + g.outW
        padded = .allocate(capacity: hp * wp)
        padded.initialize(repeating: border, count: hp * wp)
        pitched = .allocate(capacity: hp * wp)
        margin = (g.kh - 1) * wp + g.kw - 1
        gradient = .allocate(capacity: margin + hp * wp)
        gradient.initialize(repeating: 0, count: margin + hp * wp)
        accumulated = .allocate(capacity: hp * wp)
        let taps = g.kh * g.kw
        offsets = .allocate(capacity: taps)
        flipped = .allocate(capacity: taps)
        ones = .allocate(capacity: taps)
        ones.initialize(repeating: 1, count: taps)
        for p in 0..<g.kh {
            for q in 0..<g.kw {
                offsets[p * g.kw + q] = p * wp + q
                flipped[p * g.kw + q] = -(p * wp + q)
            }
        }
        winners = .allocate(capacity: length)
    }

    func deallocate() {
        for p in [padded, pitched, gradient, accumulated, ones] { p.deallocate() }
        offsets.deallocate()
        flipped.deallocate()
        winners.deallocate()
    }

    static func applies(_ g: ConvGeometry) -> Bool {
        g.stride == 1 && g.outH + g.kh - 1 == g.h + 2 * g.padding && g.outW + g.kw - 1 == g.w + 2 * g.padding
    }

    @inline(__always)
    func pad(_ x: UnsafePointer<Float>) {
        let p = g.padding
        for i in 0..<g.h { copyRow(x + i * g.w, padded + (i + p) * wp + p, g.w) }
    }

    /// Max over the window, without the positions (no backward to prepare).
    func maxValues(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        pad(x)
        windowMaxima(padded, offsets, taps: g.kh * g.kw, pitched, length)
        unpitch(pitched, pitch: wp, out, rows: g.outH, width: g.outW)
    }

    /// dx += the max-pooling gradient of dy for one plane: the window maxima are found again
    /// (the first maximum in window order, PyTorch's choice) and each output's gradient is added
    /// at its maximum, in the padded layout, then copied out of the border.
    func maxBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
        pad(x)
        let acc = accumulated
        routeToFirstMaxima(dy, rows: g.outH, width: g.outW, of: padded, offsets, taps: g.kh * g.kw, pitch: wp,
                           length, maxima: pitched, winners, into: acc, count: hp * wp)
        let pad = g.padding
        for i in 0..<g.h {
            addInto(acc + (i + pad) * wp + pad, dx + i * g.w, g.w)
        }
    }

    /// Window sums times `inverse` (1 / cells counted), per output element.
    func averageForward(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ inverse: UnsafePointer<Float>) {
        pad(x)
        correlate(padded, offsets, ones, taps: g.kh * g.kw, pitched, length)
        for i in 0..<g.outH {
            let row = out + i * g.outW, src = pitched + i * wp, inv = inverse + i * g.outW
            for j in 0..<g.outW { row[j] = src[j] * inv[j] }
        }
    }

    /// dx += the adjoint of averageForward applied to dy: the gradient of the padded plane at
    /// the interior is the sum over the flipped taps of dy inverse (at pitch Wp, after a zero
    /// margin), as the depthwise input gradient of ``PaddedDepthwise`` with unit weights.
    func averageBackward(_ dy: UnsafePointer<Float>, _ inverse: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
        let d = gradient + margin
        for i in 0..<g.outH {
            let row = d + i * wp, src = dy + i * g.outW, inv = inverse + i * g.outW
            for j in 0..<g.outW { row[j] = src[j] * inv[j] }
            if i < g.outH - 1 { for j in g.outW..<wp { row[j] = 0 } }
        }
        let first = g.padding * wp + g.padding
        let count = (g.h - 1) * wp + g.w
        correlate(d + first, flipped, ones, taps: g.kh * g.kw, pitched, count)
        for i in 0..<g.h {
            addInto(pitched + i * wp, dx + i * g.w, g.w)
        }
    }
}
