/// Kernels over a whole plane whose taps are fixed offsets: in the padded layout at stride 1
/// (``PaddedDepthwise``, ``PaddedPooling``) and in the phase layout at stride 2
/// (``PhasedDepthwise``), output m of a window reads src[m + offsets[t]] for every tap t, so a
/// convolution, a window maximum and their gradients are sums or maxima over shifted copies of
/// one flat array, computed with whole blocks of outputs in registers.

/// out[m] = sum_t w[t] * src[m + offsets[t]] for m in 0 ..< count (a correlation with taps at
/// arbitrary offsets). 64 outputs at a time stay in eight 8-lane registers while the taps run
/// innermost, with fused multiply-adds: one load per multiply-add and one store per output.
/// The outputs after the last full block are computed by a block that ends at `count`,
/// overlapping the one before (its outputs are written twice with the same values).
@inline(__always)
func correlate(_ src: UnsafePointer<Float>, _ offsets: UnsafePointer<Int>, _ w: UnsafePointer<Float>, taps: Int,
               _ out: UnsafeMutablePointer<Float>, _ count: Int) {
    var m = 0
    // Eight independent accumulators cover the multiply-add latency (4 cycles, 2 per cycle).
    while m + 64 <= count {
        var a0 = Vector8(), a1 = Vector8(), a2 = Vector8(), a3 = Vector8()
        var a4 = Vector8(), a5 = Vector8(), a6 = Vector8(), a7 = Vector8()
        for t in 0..<taps {
            let wv = Vector8(repeating: w[t])
            let s = src + m + offsets[t]
            a0 = a0.addingProduct(Vector8(loading: s), wv)
            a1 = a1.addingProduct(Vector8(loading: s + 8), wv)
            a2 = a2.addingProduct(Vector8(loading: s + 16), wv)
            a3 = a3.addingProduct(Vector8(loading: s + 24), wv)
            a4 = a4.addingProduct(Vector8(loading: s + 32), wv)
            a5 = a5.addingProduct(Vector8(loading: s + 40), wv)
            a6 = a6.addingProduct(Vector8(loading: s + 48), wv)
            a7 = a7.addingProduct(Vector8(loading: s + 56), wv)
        }
        store(a0, out + m); store(a1, out + m + 8); store(a2, out + m + 16); store(a3, out + m + 24)
        store(a4, out + m + 32); store(a5, out + m + 40); store(a6, out + m + 48); store(a7, out + m + 56)
        m += 64
    }
    while m < count && count >= 32 {
        if m + 32 > count { m = count - 32 }
        var a0 = Vector8(), a1 = Vector8(), a2 = Vector8(), a3 = Vector8()
        for t in 0..<taps {
            let wv = Vector8(repeating: w[t])
            let s = src + m + offsets[t]
            a0 = a0.addingProduct(Vector8(loading: s), wv)
            a1 = a1.addingProduct(Vector8(loading: s + 8), wv)
            a2 = a2.addingProduct(Vector8(loading: s + 16), wv)
            a3 = a3.addingProduct(Vector8(loading: s + 24), wv)
        }
        store(a0, out + m); store(a1, out + m + 8); store(a2, out + m + 16); store(a3, out + m + 24)
        m += 32
    }
    while m + 8 <= count {
        var a0 = Vector8()
        for t in 0..<taps { a0 = a0.addingProduct(Vector8(loading: src + m + offsets[t]), Vector8(repeating: w[t])) }
        store(a0, out + m)
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
/// at a time share each load of `d` (two 8-lane vectors of d and eight of src per eight multiply-adds).
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
        var a0 = Vector8(), a1 = Vector8(), a2 = Vector8(), a3 = Vector8()
        var b0 = Vector8(), b1 = Vector8(), b2 = Vector8(), b3 = Vector8()
        var m = 0
        while m + 16 <= count {
            let d0 = Vector8(loading: d + m), d1 = Vector8(loading: d + m + 8)
            let s = src + m
            a0 = a0.addingProduct(d0, Vector8(loading: s + o0)); b0 = b0.addingProduct(d1, Vector8(loading: s + o0 + 8))
            a1 = a1.addingProduct(d0, Vector8(loading: s + o1)); b1 = b1.addingProduct(d1, Vector8(loading: s + o1 + 8))
            a2 = a2.addingProduct(d0, Vector8(loading: s + o2)); b2 = b2.addingProduct(d1, Vector8(loading: s + o2 + 8))
            a3 = a3.addingProduct(d0, Vector8(loading: s + o3)); b3 = b3.addingProduct(d1, Vector8(loading: s + o3 + 8))
            m += 16
        }
        if m < count && count >= 16 {
            // The last 16 positions, with d's lanes before m (already summed) set to zero.
            let end = count - 16
            let d0 = Vector8(loading: d + end).zeroing(below: m - end)
            let d1 = Vector8(loading: d + end + 8).zeroing(below: m - end - 8)
            let s = src + end
            a0 = a0.addingProduct(d0, Vector8(loading: s + o0)); b0 = b0.addingProduct(d1, Vector8(loading: s + o0 + 8))
            a1 = a1.addingProduct(d0, Vector8(loading: s + o1)); b1 = b1.addingProduct(d1, Vector8(loading: s + o1 + 8))
            a2 = a2.addingProduct(d0, Vector8(loading: s + o2)); b2 = b2.addingProduct(d1, Vector8(loading: s + o2 + 8))
            a3 = a3.addingProduct(d0, Vector8(loading: s + o3)); b3 = b3.addingProduct(d1, Vector8(loading: s + o3 + 8))
            m = count
        }
        var sums = Vector4((a0 + b0).sum(), (a1 + b1).sum(), (a2 + b2).sum(), (a3 + b3).sum())
        while m < count {
            sums[0] += d[m] * src[m + o0]; sums[1] += d[m] * src[m + o1]
            sums[2] += d[m] * src[m + o2]; sums[3] += d[m] * src[m + o3]
            m += 1
        }
        for k in 0..<group { result[t + k] += sums[k] }
        t += group
    }
}

/// out[m] = max_t src[m + offsets[t]] for m in 0 ..< count, 32 outputs at a time in registers.
@inline(__always)
func windowMaxima(_ src: UnsafePointer<Float>, _ offsets: UnsafePointer<Int>, taps: Int,
                  _ out: UnsafeMutablePointer<Float>, _ count: Int) {
    var m = 0
    while m + 32 <= count {
        var a0 = Vector8(loading: src + m + offsets[0]), a1 = Vector8(loading: src + m + offsets[0] + 8)
        var a2 = Vector8(loading: src + m + offsets[0] + 16), a3 = Vector8(loading: src + m + offsets[0] + 24)
        for t in 1..<taps {
            let s = src + m + offsets[t]
            a0 = larger(a0, Vector8(loading: s)); a1 = larger(a1, Vector8(loading: s + 8))
            a2 = larger(a2, Vector8(loading: s + 16)); a3 = larger(a3, Vector8(loading: s + 24))
        }
        store(a0, out + m); store(a1, out + m + 8); store(a2, out + m + 16); store(a3, out + m + 24)
        m += 32
    }
    while m + 8 <= count {
        var a0 = Vector8(loading: src + m + offsets[0])
        for t in 1..<taps { a0 = larger(a0, Vector8(loading: src + m + offsets[t])) }
        store(a0, out + m)
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
        var a0 = Vector8(loading: src + m + offsets[0]), a1 = Vector8(loading: src + m + offsets[0] + 8)
        var w0 = SIMD8<Int32>(repeating: Int32(offsets[0])), w1 = w0
        for t in 1..<taps {
            let s = src + m + offsets[t]
            let v0 = Vector8(loading: s), v1 = Vector8(loading: s + 8)
            let code = SIMD8<Int32>(repeating: Int32(offsets[t]))
            let b0 = v0 .> a0, b1 = v1 .> a1
            a0.replace(with: v0, where: b0); w0.replace(with: code, where: b0)
            a1.replace(with: v1, where: b1); w1.replace(with: code, where: b1)
        }
        store(a0, out + m); store(a1, out + m + 8)
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
private func larger(_ a: Vector8, _ b: Vector8) -> Vector8 {
    a.replacing(with: b, where: b .> a)
}
