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

/// Copies a (rows, width) plane to row pitch `pitch`, zeroing the pitch - width scratch columns
/// between rows (those after the last row are left as they are).
@inline(__always)
func pitch(_ src: UnsafePointer<Float>, rows: Int, width: Int, into dst: UnsafeMutablePointer<Float>, pitch: Int) {
    // Up to 8 scratch columns are zeroed by one vector store, whose overflow into the next row
    // that row's copy overwrites.
    let vectorZero = pitch - width <= 8 && pitch >= 8
    for i in 0..<rows {
        copyRow(src + i * width, dst + i * pitch, width)
        guard i < rows - 1 else { continue }
        if vectorZero {
            store8(SIMD8<Float>(), dst + i * pitch + width)
        } else {
            for j in width..<pitch { dst[i * pitch + j] = 0 }
        }
    }
}

/// Copies the first `width` columns of `rows` rows at row pitch `pitch` into a dense plane.
@inline(__always)
func unpitch(_ src: UnsafePointer<Float>, pitch: Int, _ dst: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
    for i in 0..<rows { copyRow(src + i * pitch, dst + i * width, width) }
}

/// dst[j] = src[j] for j in 0 ..< count: rows of 7 to 36 floats, copied inline (a call to
/// memmove per row costs as much as the copy). The last partial block is copied as the full
/// vector that ends at `count`, overlapping the one before (src and dst must not overlap).
@inline(__always)
func copyRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
    if count >= 8 {
        var j = 0
        while j + 8 <= count {
            store8(load8(src + j), dst + j)
            j += 8
        }
        if j < count { store8(load8(src + count - 8), dst + count - 8) }
    } else if count >= 4 {
        store4(load4(src), dst)
        store4(load4(src + count - 4), dst + count - 4)
    } else {
        for j in 0..<count { dst[j] = src[j] }
    }
}

/// dst[j] = max(src[j], 0) for j in 0 ..< count (the tail as in ``copyRow(_:_:_:)``).
@inline(__always)
func reluCopy(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
    if count >= 8 {
        var j = 0
        while j + 8 <= count {
            let v = load8(src + j)
            store8(v.replacing(with: 0, where: v .< 0), dst + j)
            j += 8
        }
        if j < count {
            let v = load8(src + count - 8)
            store8(v.replacing(with: 0, where: v .< 0), dst + count - 8)
        }
    } else if count >= 4 {
        let a = load4(src), b = load4(src + count - 4)
        store4(a.replacing(with: 0, where: a .< 0), dst)
        store4(b.replacing(with: 0, where: b .< 0), dst + count - 4)
    } else {
        for j in 0..<count { dst[j] = max(src[j], 0) }
    }
}

/// dst[j] += src[j] for j in 0 ..< count. The last two vectors, the full one and the one that
/// ends at `count` (its lanes that overlap the full one added as zero), are both loaded before
/// either is stored, the one at the end first: a load that overlaps a store just made stalls
/// store-to-load forwarding.
@inline(__always)
func addInto(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
    if count >= 8 {
        var j = 0
        while j + 16 <= count {
            store8(load8(dst + j) + load8(src + j), dst + j)
            j += 8
        }
        let end = count - 8
        let head = load8(dst + j) + load8(src + j)
        let tail = load8(dst + end) + lanes(load8(src + end), from: j + 8 - end)
        store8(tail, dst + end)
        store8(head, dst + j)
    } else if count >= 4 {
        let end = count - 4
        let head = load4(dst) + load4(src)
        let tail = load4(dst + end) + lanes(load4(src + end), from: 4 - end)
        store4(tail, dst + end)
        store4(head, dst)
    } else {
        for j in 0..<count { dst[j] += src[j] }
    }
}

/// dst[j] += src[j] where x[j] > 0 (the gradient through a ReLU of x), for j in 0 ..< count,
/// without branches on the data; the tail as in ``addInto(_:_:_:)``.
@inline(__always)
func maskedAdd(_ src: UnsafePointer<Float>, where x: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
    @inline(__always) func kept8(_ j: Int) -> SIMD8<Float> {
        SIMD8<Float>().replacing(with: load8(src + j), where: load8(x + j) .> SIMD8<Float>())
    }
    @inline(__always) func kept4(_ j: Int) -> SIMD4<Float> {
        SIMD4<Float>().replacing(with: load4(src + j), where: load4(x + j) .> SIMD4<Float>())
    }
    if count >= 8 {
        var j = 0
        while j + 16 <= count {
            store8(load8(dst + j) + kept8(j), dst + j)
            j += 8
        }
        let end = count - 8
        let head = load8(dst + j) + kept8(j)
        let tail = load8(dst + end) + lanes(kept8(end), from: j + 8 - end)
        store8(tail, dst + end)
        store8(head, dst + j)
    } else if count >= 4 {
        let end = count - 4
        let head = load4(dst) + kept4(0)
        let tail = load4(dst + end) + lanes(kept4(end), from: 4 - end)
        store4(tail, dst + end)
        store4(head, dst)
    } else {
        for j in 0..<count {
            let keep: UInt32 = x[j] > 0 ? .max : 0
            dst[j] += Float(bitPattern: src[j].bitPattern & keep)
        }
    }
}

/// v with lanes 0 ..< first set to zero. The mask is integer arithmetic, (lane - first) >> 31
/// inverted, and an AND of the bits: a SIMDMask built by comparing lane numbers compiles to a
/// loop over the lanes here.
@inline(__always)
func lanes(_ v: SIMD8<Float>, from first: Int) -> SIMD8<Float> {
    let keep = ~((SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) &- SIMD8(repeating: Int32(first))) &>> 31)
    return unsafeBitCast(unsafeBitCast(v, to: SIMD8<Int32>.self) & keep, to: SIMD8<Float>.self)
}

@inline(__always)
func lanes(_ v: SIMD4<Float>, from first: Int) -> SIMD4<Float> {
    let keep = ~((SIMD4<Int32>(0, 1, 2, 3) &- SIMD4(repeating: Int32(first))) &>> 31)
    return unsafeBitCast(unsafeBitCast(v, to: SIMD4<Int32>.self) & keep, to: SIMD4<Float>.self)
}

@inline(__always)
func load4(_ p: UnsafePointer<Float>) -> SIMD4<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
}

@inline(__always)
func store4(_ v: SIMD4<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD4<Float>.self)
}

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// out[m] = sum_t w[t] * src[m + offsets[t]] for m in 0 ..< count (a correlation with taps at
/// arbitrary offsets). 64 outputs at a time stay in eight SIMD8 registers while the taps run
/// innermost, with fused multiply-adds: one load per multiply-add and one store per output.
/// The outputs after the last full block are computed by a block that ends at `count`,
/// overlapping the one before (its outputs are written twice with the same values).
@inline(__always)
func correlate(_ src: UnsafePointer<Float>, _ offsets: UnsafePointer<Int>, _ w: UnsafePointer<Float>, taps: Int,
               _ out: UnsafeMutablePointer<Float>, _ count: Int) {
    var m = 0
    // Eight independent accumulators cover the multiply-add latency (4 cycles, 2 per cycle).
    while m + 64 <= count {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
        for t in 0..<taps {
            let wv = SIMD8<Float>(repeating: w[t])
            let s = src + m + offsets[t]
            a0 = a0.addingProduct(load8(s), wv)
            a1 = a1.addingProduct(load8(s + 8), wv)
            a2 = a2.addingProduct(load8(s + 16), wv)
            a3 = a3.addingProduct(load8(s + 24), wv)
            a4 = a4.addingProduct(load8(s + 32), wv)
            a5 = a5.addingProduct(load8(s + 40), wv)
            a6 = a6.addingProduct(load8(s + 48), wv)
            a7 = a7.addingProduct(load8(s + 56), wv)
        }
        store8(a0, out + m); store8(a1, out + m + 8); store8(a2, out + m + 16); store8(a3, out + m + 24)
        store8(a4, out + m + 32); store8(a5, out + m + 40); store8(a6, out + m + 48); store8(a7, out + m + 56)
        m += 64
    }
    while m < count && count >= 32 {
        if m + 32 > count { m = count - 32 }
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        for t in 0..<taps {
            let wv = SIMD8<Float>(repeating: w[t])
            let s = src + m + offsets[t]
            a0 = a0.addingProduct(load8(s), wv)
            a1 = a1.addingProduct(load8(s + 8), wv)
            a2 = a2.addingProduct(load8(s + 16), wv)
            a3 = a3.addingProduct(load8(s + 24), wv)
        }
        store8(a0, out + m); store8(a1, out + m + 8); store8(a2, out + m + 16); store8(a3, out + m + 24)
        m += 32
    }
    while m + 8 <= count {
        var a0 = SIMD8<Float>()
        for t in 0..<taps { a0 = a0.addingProduct(load8(src + m + offsets[t]), SIMD8<Float>(repeating: w[t])) }
        store8(a0, out + m)
        m += 8
    }
    while m < count {
        var a: Float = 0
        for t in 0..<taps { a = a.addingProduct(w[t], src[m + offsets[t]]) }
        out[m] = a
        m += 1
    }
}

/// result[t] += sum_m d[m] * src[m + offsets[t]] for m in 0 ..< count, for every tap t: four taps
/// at a time share each load of `d` (two SIMD8 of d and eight of src per eight multiply-adds).
/// The last partial block of 16 is the one that ends at `count`, with the lanes of d already
/// summed set to zero (src must be finite there: 0 times infinity would add NaN).
@inline(__always)
func tapDots(_ d: UnsafePointer<Float>, _ src: UnsafePointer<Float>, _ offsets: UnsafePointer<Int>, taps: Int,
             _ count: Int, _ result: UnsafeMutablePointer<Float>) {
    var t = 0
    while t < taps {
        let group = min(4, taps - t)
        let o0 = offsets[t], o1 = offsets[t + min(1, group - 1)]
        let o2 = offsets[t + min(2, group - 1)], o3 = offsets[t + min(3, group - 1)]
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var b0 = SIMD8<Float>(), b1 = SIMD8<Float>(), b2 = SIMD8<Float>(), b3 = SIMD8<Float>()
        var m = 0
        while m + 16 <= count {
            let d0 = load8(d + m), d1 = load8(d + m + 8)
            let s = src + m
            a0 = a0.addingProduct(d0, load8(s + o0)); b0 = b0.addingProduct(d1, load8(s + o0 + 8))
            a1 = a1.addingProduct(d0, load8(s + o1)); b1 = b1.addingProduct(d1, load8(s + o1 + 8))
            a2 = a2.addingProduct(d0, load8(s + o2)); b2 = b2.addingProduct(d1, load8(s + o2 + 8))
            a3 = a3.addingProduct(d0, load8(s + o3)); b3 = b3.addingProduct(d1, load8(s + o3 + 8))
            m += 16
        }
        if m < count && count >= 16 {
            // The last 16 positions, with d's lanes before m (already summed) set to zero.
            let end = count - 16
            let d0 = lanes(load8(d + end), from: m - end), d1 = lanes(load8(d + end + 8), from: m - end - 8)
            let s = src + end
            a0 = a0.addingProduct(d0, load8(s + o0)); b0 = b0.addingProduct(d1, load8(s + o0 + 8))
            a1 = a1.addingProduct(d0, load8(s + o1)); b1 = b1.addingProduct(d1, load8(s + o1 + 8))
            a2 = a2.addingProduct(d0, load8(s + o2)); b2 = b2.addingProduct(d1, load8(s + o2 + 8))
            a3 = a3.addingProduct(d0, load8(s + o3)); b3 = b3.addingProduct(d1, load8(s + o3 + 8))
            m = count
        }
        var sums = SIMD4<Float>((a0 + b0).sum(), (a1 + b1).sum(), (a2 + b2).sum(), (a3 + b3).sum())
        while m < count {
            sums[0] += d[m] * src[m + o0]; sums[1] += d[m] * src[m + o1]
            sums[2] += d[m] * src[m + o2]; sums[3] += d[m] * src[m + o3]
            m += 1
        }
        for k in 0..<group { result[t + k] += sums[k] }
        t += group
    }
}

/// Depthwise convolution at stride 2 on the four phases of the padded plane.
///
/// The padded plane x' (Hp, Wp) is split into its phases P_ab[u, v] = x'[2u + a, 2v + b]
/// (a, b in {0, 1}), each (Hq, Wq) = (ceil(Hp / 2), ceil(Wp / 2)), stored one after another. The
/// tap (p, q) at dilation d reads phase ((p d) mod 2, (q d) mod 2) at (i + p d / 2, j + q d / 2)
/// for output (i, j), so with the output at row pitch Wq every tap is again one fixed offset and
/// the stride-1 kernels (``correlate(_:_:_:taps:_:_:)``, ``tapDots``) apply unchanged. The input
/// gradient is formed phase by phase, each from its own taps, and scattered back.
struct PhasedDepthwise {
    let g: ConvGeometry
    let hq, wq, length: Int
    let reluInput: Bool
    /// The four phases, 4 Hq Wq floats (the positions outside the image stay zero).
    let phases: UnsafeMutablePointer<Float>
    /// Pitch-Wq output plane; the output gradient after a zero margin; the four phases'
    /// gradients (a phase without taps keeps its zeros).
    let pitched: UnsafeMutablePointer<Float>
    let gradient: UnsafeMutablePointer<Float>
    let phaseGradients: UnsafeMutablePointer<Float>
    /// One input row of the gradient, interleaved from its two phase rows (W + 16 floats).
    let mergedRow: UnsafeMutablePointer<Float>
    /// Max pooling: per output at pitch Wq, the offset in `phases` of its window's first maximum.
    let winners: UnsafeMutablePointer<Int32>
    let margin: Int
    /// Per tap: its offset in `phases`. Per phase: its taps' indices and (negated) offsets within
    /// the phase, and scratch for their weights.
    let offsets: UnsafeMutablePointer<Int>
    let phaseTaps: [[Int]]
    let phaseOffsets: UnsafeMutablePointer<Int>
    let phaseWeights: UnsafeMutablePointer<Float>

    /// Whether a pooling window geometry runs on the phases: stride 2, no dilation, and every
    /// window inside the padded plane (a window larger than the padded plane, which PyTorch
    /// rejects, would read taps that wrap into the next phase).
    static func appliesToPooling(_ g: ConvGeometry) -> Bool {
        g.stride == 2 && g.dilation == 1 && g.h + 2 * g.padding >= g.kh && g.w + 2 * g.padding >= g.kw
    }

    /// - Parameter border: the value of the padding (0 for convolutions and average pooling,
    ///   -infinity for max pooling).
    init(_ g: ConvGeometry, reluInput: Bool, border: Float = 0) {
        self.g = g
        self.reluInput = reluInput
        let hp = g.h + 2 * g.padding, wp = g.w + 2 * g.padding
        hq = (hp + 1) / 2
        wq = (wp + 1) / 2
        length = (g.outH - 1) * wq + g.outW
        let taps = g.kh * g.kw
        phases = .allocate(capacity: 4 * hq * wq)
        phases.initialize(repeating: border, count: 4 * hq * wq)
        pitched = .allocate(capacity: hq * wq)
        offsets = .allocate(capacity: taps)
        phaseOffsets = .allocate(capacity: taps)
        phaseWeights = .allocate(capacity: taps)
        var byPhase: [[Int]] = [[], [], [], []]
        var maxLocal = 0
        for p in 0..<g.kh {
            for q in 0..<g.kw {
                let (rowShift, colShift) = (p * g.dilation, q * g.dilation)
                let phase = (rowShift % 2) * 2 + colShift % 2
                let local = (rowShift / 2) * wq + colShift / 2
                offsets[p * g.kw + q] = phase * hq * wq + local
                byPhase[phase].append(p * g.kw + q)
                maxLocal = max(maxLocal, local)
            }
        }
        phaseTaps = byPhase
        var k = 0
        for phase in 0..<4 {
            for t in byPhase[phase] { phaseOffsets[k] = -(offsets[t] - phase * hq * wq); k += 1 }
        }
        margin = maxLocal
        gradient = .allocate(capacity: margin + hq * wq)
        gradient.initialize(repeating: 0, count: margin + hq * wq)
        phaseGradients = .allocate(capacity: 4 * hq * wq + 16)
        phaseGradients.initialize(repeating: 0, count: 4 * hq * wq + 16)
        mergedRow = .allocate(capacity: g.w + 16)
        winners = .allocate(capacity: length)
    }

    func deallocate() {
        for p in [phases, pitched, gradient, phaseGradients, phaseWeights, mergedRow] { p.deallocate() }
        offsets.deallocate()
        phaseOffsets.deallocate()
        winners.deallocate()
    }

    /// Writes x (or relu(x)) into the phases: x[y, c] is x'[y + pad, c + pad]. Even columns c go
    /// to phase column b = pad mod 2 at (c + pad) / 2 = c / 2 + pad / 2, odd ones to the other
    /// at c / 2 + (pad + 1) / 2; 16, 8 and 4 columns at a time are split by lane shuffles.
    private func split(_ x: UnsafePointer<Float>) {
        let pad = g.padding
        let plane = hq * wq
        for y in 0..<g.h {
            let py = y + pad
            let rowBase = phases + (py % 2) * 2 * plane + (py / 2) * wq
            let evens = rowBase + (pad % 2) * plane + pad / 2
            let odds = rowBase + (1 - pad % 2) * plane + (pad + 1) / 2
            let src = x + y * g.w
            var c = 0
            while c + 16 <= g.w {
                var v = UnsafeRawPointer(src + c).loadUnaligned(as: SIMD16<Float>.self)
                if reluInput { v.replace(with: 0, where: v .< 0) }
                UnsafeMutableRawPointer(evens + c / 2).storeBytes(of: v.evenHalf, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(odds + c / 2).storeBytes(of: v.oddHalf, as: SIMD8<Float>.self)
                c += 16
            }
            while c + 8 <= g.w {
                var v = load8(src + c)
                if reluInput { v.replace(with: 0, where: v .< 0) }
                UnsafeMutableRawPointer(evens + c / 2).storeBytes(of: v.evenHalf, as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(odds + c / 2).storeBytes(of: v.oddHalf, as: SIMD4<Float>.self)
                c += 8
            }
            while c + 4 <= g.w {
                var v = load4(src + c)
                if reluInput { v.replace(with: 0, where: v .< 0) }
                UnsafeMutableRawPointer(evens + c / 2).storeBytes(of: v.evenHalf, as: SIMD2<Float>.self)
                UnsafeMutableRawPointer(odds + c / 2).storeBytes(of: v.oddHalf, as: SIMD2<Float>.self)
                c += 4
            }
            while c < g.w {
                let v = reluInput ? max(src[c], 0) : src[c]
                if c % 2 == 0 { evens[c / 2] = v } else { odds[c / 2] = v }
                c += 1
            }
        }
    }

    func forward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        split(x)
        correlate(phases, offsets, w, taps: g.kh * g.kw, pitched, length)
        unpitch(pitched, pitch: wq, out, rows: g.outH, width: g.outW)
    }

    func backward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                  _ dx: UnsafeMutablePointer<Float>?, _ dw: UnsafeMutablePointer<Float>?) {
        let d = gradient + margin
        pitch(dy, rows: g.outH, width: g.outW, into: d, pitch: wq)
        if let dw {
            split(x)
            tapDots(d, phases, offsets, taps: g.kh * g.kw, length, dw)
        }
        guard let dx else { return }
        let plane = hq * wq
        var first = 0
        for phase in 0..<4 {
            let taps = phaseTaps[phase]
            defer { first += taps.count }
            if taps.isEmpty { continue }
            for (k, t) in taps.enumerated() { phaseWeights[first + k] = w[t] }
            // dP[n] = sum over this phase's taps of w[t] d[n - local_t], n over the phase plane.
            correlate(d, phaseOffsets + first, phaseWeights + first, taps: taps.count, phaseGradients + phase * plane, plane)
        }
        merge(phaseGradients, x, into: dx)
    }

    /// Max pooling's window maxima for one plane (made with `border: -.infinity`).
    func maxValues(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        split(x)
        windowMaxima(phases, offsets, taps: g.kh * g.kw, pitched, length)
        unpitch(pitched, pitch: wq, out, rows: g.outH, width: g.outW)
    }

    /// dx += max pooling's input gradient of dy for one plane (made with `border: -.infinity`):
    /// each output's gradient goes to its window's first maximum in window order (PyTorch's
    /// choice), found again from x, through the phases' gradients.
    func maxBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
        split(x)
        routeToFirstMaxima(dy, rows: g.outH, width: g.outW, of: phases, offsets, taps: g.kh * g.kw, pitch: wq,
                           length, maxima: pitched, winners, into: phaseGradients, count: 4 * hq * wq)
        merge(phaseGradients, x, into: dx)
    }

    /// dx += the input-plane gradient whose phases are `p` (the inverse of ``split(_:)``, masked
    /// by x > 0 for relu(x)): row y's even columns come from one phase row, its odd columns from
    /// the other.
    private func merge(_ p: UnsafePointer<Float>, _ x: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>) {
        let pad = g.padding
        let plane = hq * wq
        for y in 0..<g.h {
            let py = y + pad
            let rowBase = p + (py % 2) * 2 * plane + (py / 2) * wq
            let evens = rowBase + (pad % 2) * plane + pad / 2
            let odds = rowBase + (1 - pad % 2) * plane + (pad + 1) / 2
            // Interleaved 16 at a time into a row of scratch (reading up to 8 floats past the
            // phase rows, inside the slack), then added with the ReLU mask.
            var c = 0
            while c < g.w {
                let e = load8(evens + c / 2), o = load8(odds + c / 2)
                let v = SIMD16<Float>(e[0], o[0], e[1], o[1], e[2], o[2], e[3], o[3],
                                      e[4], o[4], e[5], o[5], e[6], o[6], e[7], o[7])
                UnsafeMutableRawPointer(mergedRow + c).storeBytes(of: v, as: SIMD16<Float>.self)
                c += 16
            }
            if reluInput {
                maskedAdd(mergedRow, where: x + y * g.w, dx + y * g.w, g.w)
            } else {
                addInto(mergedRow, dx + y * g.w, g.w)
            }
        }
    }
}

/// The depthwise convolution of single planes for one geometry, of x or of relu(x): the padded
/// kernel at stride 1 (``PaddedDepthwise``), the phase kernel at stride 2 (``PhasedDepthwise``),
/// the row kernels otherwise.
struct DepthwisePlanes {
    let g: ConvGeometry
    let reluInput: Bool
    private let padded: PaddedDepthwise?
    private let phased: PhasedDepthwise?
    /// Scratch planes (H, W): relu(x), and the input gradient before the ReLU mask.
    private let activated: UnsafeMutablePointer<Float>
    private let gradient: UnsafeMutablePointer<Float>

    init(_ g: ConvGeometry, reluInput: Bool) {
        self.g = g
        self.reluInput = reluInput
        padded = PaddedDepthwise.applies(g) ? PaddedDepthwise(g, reluInput: reluInput) : nil
        phased = padded == nil && g.stride == 2 ? PhasedDepthwise(g, reluInput: reluInput) : nil
        activated = .allocate(capacity: g.h * g.w)
        gradient = .allocate(capacity: g.h * g.w)
    }

    func deallocate() {
        padded?.deallocate()
        phased?.deallocate()
        activated.deallocate()
        gradient.deallocate()
    }

    private func input(_ x: UnsafePointer<Float>) -> UnsafePointer<Float> {
        guard reluInput else { return x }
        for i in 0..<(g.h * g.w) { activated[i] = max(x[i], 0) }
        return UnsafePointer(activated)
    }

    /// out (Hout, Wout) = depthwise(x or relu(x)) with the kxk weight `w`.
    func forward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        if let padded { return padded.forward(x, w, out) }
        if let phased { return phased.forward(x, w, out) }
        depthwiseForwardPlane(input(x), w, out, g)
    }

    /// dx += the input gradient (masked by x > 0 for relu(x)), dw += the weight gradient.
    func backward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                  _ dx: UnsafeMutablePointer<Float>?, _ dw: UnsafeMutablePointer<Float>?) {
        if let padded { return padded.backward(x, w, dy, dx, dw) }
        if let phased { return phased.backward(x, w, dy, dx, dw) }
        if let dw { depthwiseBackwardWeightPlane(dy, input(x), dw, g) }
        guard let dx else { return }
        if !reluInput { return depthwiseBackwardInputPlane(dy, w, dx, g) }
        let count = g.h * g.w
        gradient.update(repeating: 0, count: count)
        depthwiseBackwardInputPlane(dy, w, gradient, g)
        maskedAdd(gradient, where: x, dx, count)
    }
}
