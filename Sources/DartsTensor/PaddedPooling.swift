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

/// out[m] = max_t src[m + offsets[t]] for m in 0 ..< count, 32 outputs at a time in registers.
@inline(__always)
func windowMaxima(_ src: UnsafePointer<Float>, _ offsets: UnsafePointer<Int>, taps: Int,
                  _ out: UnsafeMutablePointer<Float>, _ count: Int) {
    var m = 0
    while m + 32 <= count {
        var a0 = load8(src + m + offsets[0]), a1 = load8(src + m + offsets[0] + 8)
        var a2 = load8(src + m + offsets[0] + 16), a3 = load8(src + m + offsets[0] + 24)
        for t in 1..<taps {
            let s = src + m + offsets[t]
            a0 = larger(a0, load8(s)); a1 = larger(a1, load8(s + 8))
            a2 = larger(a2, load8(s + 16)); a3 = larger(a3, load8(s + 24))
        }
        store8(a0, out + m); store8(a1, out + m + 8); store8(a2, out + m + 16); store8(a3, out + m + 24)
        m += 32
    }
    while m + 8 <= count {
        var a0 = load8(src + m + offsets[0])
        for t in 1..<taps { a0 = larger(a0, load8(src + m + offsets[t])) }
        store8(a0, out + m)
        m += 8
    }
    while m < count {
        var a = src[m + offsets[0]]
        for t in 1..<taps { a = max(a, src[m + offsets[t]]) }
        out[m] = a
        m += 1
    }
}

/// out[m] = max_t src[m + offsets[t]] and winners[m] = the offset of the first tap (in tap order)
/// that reaches it, for m in 0 ..< count; 16 outputs at a time in registers.
@inline(__always)
func windowFirstMaxima(_ src: UnsafePointer<Float>, _ offsets: UnsafePointer<Int>, taps: Int,
                       _ out: UnsafeMutablePointer<Float>, _ winners: UnsafeMutablePointer<Int32>, _ count: Int) {
    var m = 0
    while m + 16 <= count {
        var a0 = load8(src + m + offsets[0]), a1 = load8(src + m + offsets[0] + 8)
        var w0 = SIMD8<Int32>(repeating: Int32(offsets[0])), w1 = w0
        for t in 1..<taps {
            let s = src + m + offsets[t]
            let v0 = load8(s), v1 = load8(s + 8)
            let code = SIMD8<Int32>(repeating: Int32(offsets[t]))
            let b0 = v0 .> a0, b1 = v1 .> a1
            a0.replace(with: v0, where: b0); w0.replace(with: code, where: b0)
            a1.replace(with: v1, where: b1); w1.replace(with: code, where: b1)
        }
        store8(a0, out + m); store8(a1, out + m + 8)
        UnsafeMutableRawPointer(winners + m).storeBytes(of: w0, as: SIMD8<Int32>.self)
        UnsafeMutableRawPointer(winners + m + 8).storeBytes(of: w1, as: SIMD8<Int32>.self)
        m += 16
    }
    while m < count {
        var a = src[m + offsets[0]], w = Int32(offsets[0])
        for t in 1..<taps where src[m + offsets[t]] > a { a = src[m + offsets[t]]; w = Int32(offsets[t]) }
        out[m] = a
        winners[m] = w
        m += 1
    }
}

/// acc (count floats, the layout of src) = the max-pooling gradient of dy (rows x width): each
/// output's gradient added at its window's first maximum in src, the windows as in
/// ``windowFirstMaxima(_:_:taps:_:_:_:)`` with the outputs at row pitch `pitch` (`maxima` and
/// `winners` are its scratch, `length` outputs).
@inline(__always)
func routeToFirstMaxima(_ dy: UnsafePointer<Float>, rows: Int, width: Int, of src: UnsafePointer<Float>,
                        _ offsets: UnsafePointer<Int>, taps: Int, pitch: Int, _ length: Int,
                        maxima: UnsafeMutablePointer<Float>, _ winners: UnsafeMutablePointer<Int32>,
                        into acc: UnsafeMutablePointer<Float>, count: Int) {
    windowFirstMaxima(src, offsets, taps: taps, maxima, winners, length)
    acc.update(repeating: 0, count: count)
    for i in 0..<rows {
        let row = dy + i * width, codes = winners + i * pitch
        for j in 0..<width { acc[i * pitch + j + Int(codes[j])] += row[j] }
    }
}

/// The lane-wise maximum (b where b > a), inlined.
@inline(__always)
private func larger(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    a.replacing(with: b, where: b .> a)
}
