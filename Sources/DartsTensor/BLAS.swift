import CBLAS

/// Row-major single-precision matrix product through OpenBLAS:
/// C (m x n) = alpha * op(A) (m x k) * op(B) (k x n) + beta * C.
@inline(__always)
func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
           alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
           b: UnsafePointer<Float>, ldb: Int,
           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// y += alpha * x over `count` floats.
@inline(__always)
func saxpy(_ count: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    cblas_saxpy(Int32(count), alpha, x, 1, y, 1)
}

/// Vector helpers on raw float buffers, for optimizers and arenas (BLAS level 1).
public enum VectorMath {
    /// x *= alpha.
    public static func scale(_ count: Int, _ alpha: Float, _ x: UnsafeMutablePointer<Float>) {
        cblas_sscal(Int32(count), alpha, x, 1)
    }
    /// The Euclidean norm ||x||_2, accumulated in double precision.
    public static func norm(_ count: Int, _ x: UnsafePointer<Float>) -> Double {
        var s = 0.0
        for i in 0..<count { let v = Double(x[i]); s += v * v }
        return s.squareRoot()
    }
}
