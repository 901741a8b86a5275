/// Vectorized reductions. Float addition is not associative, so the compiler never vectorizes a
/// plain `s += x[i]` loop; these keep 32 partial sums in four SIMD8 registers instead (the order of
/// summation, and so the last bits of the result, is fixed by `count` alone: deterministic).

/// sum_i x[i]
@inline(__always)
func vectorSum(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
    var i = 0
    let raw = UnsafeRawPointer(x)
    while i + 32 <= count {
        a0 += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        a1 += raw.loadUnaligned(fromByteOffset: (i + 8) * 4, as: SIMD8<Float>.self)
        a2 += raw.loadUnaligned(fromByteOffset: (i + 16) * 4, as: SIMD8<Float>.self)
        a3 += raw.loadUnaligned(fromByteOffset: (i + 24) * 4, as: SIMD8<Float>.self)
        i += 32
    }
    while i + 8 <= count {
        a0 += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        i += 8
    }
    var s = ((a0 + a1) + (a2 + a3)).sum()
    while i < count { s += x[i]; i += 1 }
    return s
}

/// sum_i x[i] * y[i]
@inline(__always)
func vectorDot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ count: Int) -> Float {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
    var i = 0
    let rx = UnsafeRawPointer(x), ry = UnsafeRawPointer(y)
    @inline(__always) func load(_ r: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> {
        r.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
    }
    while i + 32 <= count {
        a0 += load(rx, i) * load(ry, i)
        a1 += load(rx, i + 8) * load(ry, i + 8)
        a2 += load(rx, i + 16) * load(ry, i + 16)
        a3 += load(rx, i + 24) * load(ry, i + 24)
        i += 32
    }
    while i + 8 <= count {
        a0 += load(rx, i) * load(ry, i)
        i += 8
    }
    var s = ((a0 + a1) + (a2 + a3)).sum()
    while i < count { s += x[i] * y[i]; i += 1 }
    return s
}

/// (sum_i x[i], sum_i x[i] * y[i]) in one pass over x: the values of ``vectorSum(_:_:)`` and
/// ``vectorDot(_:_:_:)``, bit for bit (the same partial sums in the same order).
@inline(__always)
func vectorSumAndDot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ count: Int) -> (sum: Float, dot: Float) {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
    var b0 = SIMD8<Float>(), b1 = SIMD8<Float>(), b2 = SIMD8<Float>(), b3 = SIMD8<Float>()
    var i = 0
    let rx = UnsafeRawPointer(x), ry = UnsafeRawPointer(y)
    @inline(__always) func load(_ r: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> {
        r.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
    }
    while i + 32 <= count {
        let x0 = load(rx, i), x1 = load(rx, i + 8), x2 = load(rx, i + 16), x3 = load(rx, i + 24)
        a0 += x0; a1 += x1; a2 += x2; a3 += x3
        b0 += x0 * load(ry, i); b1 += x1 * load(ry, i + 8); b2 += x2 * load(ry, i + 16); b3 += x3 * load(ry, i + 24)
        i += 32
    }
    while i + 8 <= count {
        let x0 = load(rx, i)
        a0 += x0
        b0 += x0 * load(ry, i)
        i += 8
    }
    var s = ((a0 + a1) + (a2 + a3)).sum(), d = ((b0 + b1) + (b2 + b3)).sum()
    while i < count { s += x[i]; i += 1 }
    i = count - count % 8
    while i < count { d += x[i] * y[i]; i += 1 }
    return (s, d)
}

/// sum_i (x[i] - mean)^2
@inline(__always)
func vectorSquaredDeviations(_ x: UnsafePointer<Float>, _ count: Int, mean: Float) -> Float {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
    let m = SIMD8<Float>(repeating: mean)
    var i = 0
    let raw = UnsafeRawPointer(x)
    while i + 16 <= count {
        let d0 = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - m
        let d1 = raw.loadUnaligned(fromByteOffset: (i + 8) * 4, as: SIMD8<Float>.self) - m
        a0 += d0 * d0
        a1 += d1 * d1
        i += 16
    }
    var s = (a0 + a1).sum()
    while i < count { let d = x[i] - mean; s += d * d; i += 1 }
    return s
}
