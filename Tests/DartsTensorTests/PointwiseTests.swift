import Testing
@testable import DartsTensor

// The 1x1 convolution products against their definitions, for shapes that reach every block and
// tail of the kernels: rows in fours and ones, pixels in 24s, 8s and ones, weight-gradient
// columns in threes.
@Suite struct PointwiseTests {
    static let shapes = [(1, 1, 1), (3, 5, 7), (4, 3, 24), (5, 7, 33), (16, 16, 49), (8, 13, 196), (6, 64, 25),
                         (6, 5, 32), (13, 9, 75), (64, 64, 49)]

    /// A (M x K), B (K x P) and C (M x P), random, with the products A B (M x P) and A^T C (K x P)
    /// that ``pointwiseProduct(m:k:p:a:rowStride:columnStride:b:ldb:out:ldo:)`` computes.
    static func products(m: Int, k: Int, p: Int)
        -> (a: [Float], b: [Float], c: [Float], product: [Float], transposed: [Float]) {
        let a = randomTensor([m * k], seed: UInt64(m * 1000 + k)).values
        let b = randomTensor([k * p], seed: UInt64(p)).values
        let c = randomTensor([m * p], seed: UInt64(p + 7)).values
        var out = [Float](repeating: .nan, count: m * p), transposed = [Float](repeating: .nan, count: k * p)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer {
                    pointwiseProduct(m: m, k: k, p: p, a: a.baseAddress!, rowStride: k, columnStride: 1,
                                     b: b.baseAddress!, ldb: p, out: $0.baseAddress!, ldo: p)
                }
            }
            c.withUnsafeBufferPointer { c in
                transposed.withUnsafeMutableBufferPointer {
                    pointwiseProduct(m: k, k: m, p: p, a: a.baseAddress!, rowStride: 1, columnStride: k,
                                     b: c.baseAddress!, ldb: p, out: $0.baseAddress!, ldo: p)
                }
            }
        }
        return (a, b, c, out, transposed)
    }

    @Test(arguments: shapes)
    func productAndItsTransposeMatchTheirDefinitions(m: Int, k: Int, p: Int) {
        let (a, b, c, out, transposed) = Self.products(m: m, k: k, p: p)
        for i in 0..<m {
            for j in 0..<p {
                let expected = (0..<k).reduce(0.0) { $0 + Double(a[i * k + $1]) * Double(b[$1 * p + j]) }
                #expect(abs(Double(out[i * p + j]) - expected) <= 1e-5 * max(1, abs(expected)))
            }
        }
        for i in 0..<k {
            for j in 0..<p {
                let expected = (0..<m).reduce(0.0) { $0 + Double(a[$1 * k + i]) * Double(c[$1 * p + j]) }
                #expect(abs(Double(transposed[i * p + j]) - expected) <= 1e-5 * max(1, abs(expected)))
            }
        }
    }

    /// Every output of the product is one chain of fused multiply-adds over k in order, whichever
    /// register block or tail computes it, so a change of block shape (per vector width, say)
    /// keeps every build's bits.
    @Test(arguments: shapes)
    func productIsTheSameChainOfFusedMultiplyAddsInEveryBlock(m: Int, k: Int, p: Int) {
        let (a, b, c, out, transposed) = Self.products(m: m, k: k, p: p)
        var mismatches = 0
        for i in 0..<m {
            for j in 0..<p {
                let chain = (0..<k).reduce(Float(0)) { $0.addingProduct(a[i * k + $1], b[$1 * p + j]) }
                if out[i * p + j].bitPattern != chain.bitPattern { mismatches += 1 }
            }
        }
        for i in 0..<k {
            for j in 0..<p {
                let chain = (0..<m).reduce(Float(0)) { $0.addingProduct(a[$1 * k + i], c[$1 * p + j]) }
                if transposed[i * p + j].bitPattern != chain.bitPattern { mismatches += 1 }
            }
        }
        #expect(mismatches == 0)
    }

    @Test(arguments: shapes)
    func weightGradientAddsItsDefinition(m: Int, k: Int, p: Int) {
        let d = randomTensor([m * p], seed: UInt64(m + 3)).values
        let t = randomTensor([k * p], seed: UInt64(k + 5)).values
        var dW = [Float](repeating: 0.5, count: m * k)
        d.withUnsafeBufferPointer { d in
            t.withUnsafeBufferPointer { t in
                dW.withUnsafeMutableBufferPointer {
                    pointwiseWeightGradient(m: m, k: k, p: p, d: d.baseAddress!, t: t.baseAddress!, dW: $0.baseAddress!, ldw: k)
                }
            }
        }
        for i in 0..<m {
            for c in 0..<k {
                let expected = 0.5 + (0..<p).reduce(0.0) { $0 + Double(d[i * p + $1]) * Double(t[c * p + $1]) }
                #expect(abs(Double(dW[i * k + c]) - expected) <= 1e-5 * max(1, abs(expected)))
            }
        }
    }
}
