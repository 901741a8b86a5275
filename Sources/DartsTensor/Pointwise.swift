/// The products of a 1x1 convolution on one image, without packing: the fused blocks'
/// (``reluSeparableBatchNorm(_:depthwise:pointwise:stride:padding:dilation:bnWeight:bnBias:runningMean:runningVar:training:momentum:eps:)``
/// and the others) forward, input gradient and weight gradient. Their matrices are small (4 to
/// 256 rows and columns of the weight, 49 to 784 pixels): OpenBLAS's sgemm packs both operands
/// on every call and zeroes its output first, which at these sizes costs as much as the
/// multiply-adds (26 to 55 GFLOP/s on one core of this machine's kind against 60 to 86 here).

/// out (M x P, row pitch ldo) = A (M x K) B (K x P, row pitch ldb), with A's element (i, k) at
/// a[i rowStride + k columnStride]: the weight W (M x K) for the forward pass (rowStride K,
/// columnStride 1), its transpose for the input gradient (rowStride 1, columnStride M).
///
/// Four rows of A by 24 pixels stay in twelve SIMD8 accumulators over the whole K loop (three
/// loads of B and four broadcasts per twelve fused multiply-adds); each output is written once.
func pointwiseProduct(m: Int, k: Int, p: Int, a: UnsafePointer<Float>, rowStride: Int, columnStride: Int,
                      b: UnsafePointer<Float>, ldb: Int, out: UnsafeMutablePointer<Float>, ldo: Int) {
    var i = 0
    while i + 4 <= m {
        productRows4(k: k, p: p, a: a + i * rowStride, rowStride: rowStride, columnStride: columnStride,
                     b: b, ldb: ldb, out: out + i * ldo, ldo: ldo)
        i += 4
    }
    while i < m {
        productRow(k: k, p: p, a: a + i * rowStride, columnStride: columnStride, b: b, ldb: ldb, out: out + i * ldo)
        i += 1
    }
}

@inline(__always)
private func productRows4(k: Int, p: Int, a: UnsafePointer<Float>, rowStride: Int, columnStride: Int,
                          b: UnsafePointer<Float>, ldb: Int, out: UnsafeMutablePointer<Float>, ldo: Int) {
    let a0 = a, a1 = a0 + rowStride, a2 = a1 + rowStride, a3 = a2 + rowStride
    let o0 = out, o1 = o0 + ldo, o2 = o1 + ldo, o3 = o2 + ldo
    var j = 0
    while j + 24 <= p {
        var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c02 = SIMD8<Float>()
        var c10 = SIMD8<Float>(), c11 = SIMD8<Float>(), c12 = SIMD8<Float>()
        var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c22 = SIMD8<Float>()
        var c30 = SIMD8<Float>(), c31 = SIMD8<Float>(), c32 = SIMD8<Float>()
        var bp = b + j
        for kk in 0..<k {
            let b0 = Vector8(loading: bp), b1 = Vector8(loading: bp + 8), b2 = Vector8(loading: bp + 16)
            let o = kk * columnStride
            let w0 = SIMD8<Float>(repeating: a0[o]), w1 = SIMD8<Float>(repeating: a1[o])
            let w2 = SIMD8<Float>(repeating: a2[o]), w3 = SIMD8<Float>(repeating: a3[o])
            c00 = c00.addingProduct(b0, w0); c01 = c01.addingProduct(b1, w0); c02 = c02.addingProduct(b2, w0)
            c10 = c10.addingProduct(b0, w1); c11 = c11.addingProduct(b1, w1); c12 = c12.addingProduct(b2, w1)
            c20 = c20.addingProduct(b0, w2); c21 = c21.addingProduct(b1, w2); c22 = c22.addingProduct(b2, w2)
            c30 = c30.addingProduct(b0, w3); c31 = c31.addingProduct(b1, w3); c32 = c32.addingProduct(b2, w3)
            bp += ldb
        }
        store(c00, o0 + j); store(c01, o0 + j + 8); store(c02, o0 + j + 16)
        store(c10, o1 + j); store(c11, o1 + j + 8); store(c12, o1 + j + 16)
        store(c20, o2 + j); store(c21, o2 + j + 8); store(c22, o2 + j + 16)
        store(c30, o3 + j); store(c31, o3 + j + 8); store(c32, o3 + j + 16)
        j += 24
    }
    while j + 8 <= p {
        var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>()
        var bp = b + j
        for kk in 0..<k {
            let b0 = Vector8(loading: bp), o = kk * columnStride
            c0 = c0.addingProduct(b0, SIMD8(repeating: a0[o])); c1 = c1.addingProduct(b0, SIMD8(repeating: a1[o]))
            c2 = c2.addingProduct(b0, SIMD8(repeating: a2[o])); c3 = c3.addingProduct(b0, SIMD8(repeating: a3[o]))
            bp += ldb
        }
        store(c0, o0 + j); store(c1, o1 + j); store(c2, o2 + j); store(c3, o3 + j)
        j += 8
    }
    while j < p {
        var c0: Float = 0, c1: Float = 0, c2: Float = 0, c3: Float = 0
        for kk in 0..<k {
            let bv = b[kk * ldb + j], o = kk * columnStride
            c0 = c0.addingProduct(a0[o], bv); c1 = c1.addingProduct(a1[o], bv)
            c2 = c2.addingProduct(a2[o], bv); c3 = c3.addingProduct(a3[o], bv)
        }
        o0[j] = c0; o1[j] = c1; o2[j] = c2; o3[j] = c3
        j += 1
    }
}

@inline(__always)
private func productRow(k: Int, p: Int, a: UnsafePointer<Float>, columnStride: Int,
                        b: UnsafePointer<Float>, ldb: Int, out: UnsafeMutablePointer<Float>) {
    var j = 0
    while j + 8 <= p {
        var c0 = SIMD8<Float>()
        for kk in 0..<k { c0 = c0.addingProduct(Vector8(loading: b + kk * ldb + j), SIMD8(repeating: a[kk * columnStride])) }
        store(c0, out + j)
        j += 8
    }
    while j < p {
        var c0: Float = 0
        for kk in 0..<k { c0 = c0.addingProduct(a[kk * columnStride], b[kk * ldb + j]) }
        out[j] = c0
        j += 1
    }
}

/// dW (M x K, row pitch ldw) += D (M x P) T^T, with D and T (K x P) at row pitch P: the weight
/// gradient of a 1x1 convolution on one image, dW[i, c] += sum_p dz[i, p] t[c, p]. Four rows of
/// D by three of T run over the pixels in twelve SIMD8 accumulators (seven loads per twelve
/// fused multiply-adds), summed across lanes at the end.
func pointwiseWeightGradient(m: Int, k: Int, p: Int, d: UnsafePointer<Float>, t: UnsafePointer<Float>,
                             dW: UnsafeMutablePointer<Float>, ldw: Int) {
    var i = 0
    while i < m {
        let rows = min(4, m - i)
        var c = 0
        while c < k {
            let columns = min(3, k - c)
            if rows == 4 && columns == 3 {
                gradientBlock4x3(p: p, d: d + i * p, t: t + c * p, dW: dW + i * ldw + c, ldw: ldw)
            } else {
                for r in 0..<rows {
                    for s in 0..<columns { dW[(i + r) * ldw + c + s] += vectorDot(d + (i + r) * p, t + (c + s) * p, p) }
                }
            }
            c += columns
        }
        i += rows
    }
}

@inline(__always)
private func gradientBlock4x3(p: Int, d: UnsafePointer<Float>, t: UnsafePointer<Float>,
                              dW: UnsafeMutablePointer<Float>, ldw: Int) {
    let d0 = d, d1 = d0 + p, d2 = d1 + p, d3 = d2 + p
    let t0 = t, t1 = t0 + p, t2 = t1 + p
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c02 = SIMD8<Float>()
    var c10 = SIMD8<Float>(), c11 = SIMD8<Float>(), c12 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c22 = SIMD8<Float>()
    var c30 = SIMD8<Float>(), c31 = SIMD8<Float>(), c32 = SIMD8<Float>()
    var j = 0
    while j + 8 <= p {
        let u0 = Vector8(loading: t0 + j), u1 = Vector8(loading: t1 + j), u2 = Vector8(loading: t2 + j)
        let v0 = Vector8(loading: d0 + j), v1 = Vector8(loading: d1 + j), v2 = Vector8(loading: d2 + j), v3 = Vector8(loading: d3 + j)
        c00 = c00.addingProduct(v0, u0); c01 = c01.addingProduct(v0, u1); c02 = c02.addingProduct(v0, u2)
        c10 = c10.addingProduct(v1, u0); c11 = c11.addingProduct(v1, u1); c12 = c12.addingProduct(v1, u2)
        c20 = c20.addingProduct(v2, u0); c21 = c21.addingProduct(v2, u1); c22 = c22.addingProduct(v2, u2)
        c30 = c30.addingProduct(v3, u0); c31 = c31.addingProduct(v3, u1); c32 = c32.addingProduct(v3, u2)
        j += 8
    }
    var s = SIMD16<Float>(c00.sum(), c01.sum(), c02.sum(), c10.sum(), c11.sum(), c12.sum(),
                          c20.sum(), c21.sum(), c22.sum(), c30.sum(), c31.sum(), c32.sum(), 0, 0, 0, 0)
    while j < p {
        let u = SIMD4<Float>(t0[j], t1[j], t2[j], 0)
        for r in 0..<4 {
            let dr = d[r * p + j]
            s[3 * r] += dr * u[0]; s[3 * r + 1] += dr * u[1]; s[3 * r + 2] += dr * u[2]
        }
        j += 1
    }
    for r in 0..<4 {
        for c in 0..<3 { dW[r * ldw + c] += s[3 * r + c] }
    }
}
