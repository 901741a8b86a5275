/// Vectorized reductions. Float addition is not associative, so the compiler never vectorizes a
/// plain `s += x[i]` loop; these keep 32 partial sums in four 8-lane registers instead (the order of
/// summation, and so the last bits of the result, is fixed by `count` alone: deterministic).

/// sum_i x[i]
@inline(__always)
func vectorSum(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
    var a0 = Vector8(), a1 = Vector8(), a2 = Vector8(), a3 = Vector8()
    var i = 0
    while i + 32 <= count {
        a0 += Vector8(loading: x + i)
        a1 += Vector8(loading: x + i + 8)
        a2 += Vector8(loading: x + i + 16)
        a3 += Vector8(loading: x + i + 24)
        i += 32
    }
    while i + 8 <= count {
        a0 += Vector8(loading: x + i)
        i += 8
    }
    var s = ((a0 + a1) + (a2 + a3)).sum()
    while i < count { s += x[i]; i += 1 }
    return s
}

/// sum_i x[i] * y[i]
@inline(__always)
func vectorDot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ count: Int) -> Float {
    var a0 = Vector8(), a1 = Vector8(), a2 = Vector8(), a3 = Vector8()
    var i = 0
    while i + 32 <= count {
        a0 += Vector8(loading: x + i) * Vector8(loading: y + i)
        a1 += Vector8(loading: x + i + 8) * Vector8(loading: y + i + 8)
        a2 += Vector8(loading: x + i + 16) * Vector8(loading: y + i + 16)
        a3 += Vector8(loading: x + i + 24) * Vector8(loading: y + i + 24)
        i += 32
    }
    while i + 8 <= count {
        a0 += Vector8(loading: x + i) * Vector8(loading: y + i)
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
    var a0 = Vector8(), a1 = Vector8(), a2 = Vector8(), a3 = Vector8()
    var b0 = Vector8(), b1 = Vector8(), b2 = Vector8(), b3 = Vector8()
    var i = 0
    while i + 32 <= count {
        let x0 = Vector8(loading: x + i), x1 = Vector8(loading: x + i + 8)
        let x2 = Vector8(loading: x + i + 16), x3 = Vector8(loading: x + i + 24)
        a0 += x0; a1 += x1; a2 += x2; a3 += x3
        b0 += x0 * Vector8(loading: y + i); b1 += x1 * Vector8(loading: y + i + 8)
        b2 += x2 * Vector8(loading: y + i + 16); b3 += x3 * Vector8(loading: y + i + 24)
        i += 32
    }
    while i + 8 <= count {
        let x0 = Vector8(loading: x + i)
        a0 += x0
        b0 += x0 * Vector8(loading: y + i)
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
    var a0 = Vector8(), a1 = Vector8()
    let m = Vector8(repeating: mean)
    var i = 0
    while i + 16 <= count {
        let d0 = Vector8(loading: x + i) - m
        let d1 = Vector8(loading: x + i + 8) - m
        a0 += d0 * d0
        a1 += d1 * d1
        i += 16
    }
    var s = (a0 + a1).sum()
    while i < count { let d = x[i] - mean; s += d * d; i += 1 }
    return s
}
