import Foundation
import Testing
import TestSupport
@testable import DARTS

/// docs/algorithm.md §9, fault 1: the Hessian-vector product must be (g+ - g-) / (2R), not (g+ - g-) / 2 * R.
/// Checked against the exact mixed second derivative of a function known in closed form:
/// L(w, alpha) = sum_j alpha_j f_j(w), f_j(w) = sum_i c_ji sin(w_i), so dL/dalpha_j = f_j(w) and
/// d/dw [dL/dalpha_j] . v = sum_i c_ji cos(w_i) v_i exactly.
@Suite struct CentralDifferenceTests {
    let n = 12, m = 5
    var c: [[Float]] { (0..<m).map { j in (0..<n).map { i in Float(sin(Double(3 * i + 7 * j + 1))) } } }
    var w0: [Float] { (0..<n).map { Float(cos(Double($0) * 0.7)) } }
    var v: [Float] { (0..<n).map { Float(sin(Double($0) * 1.3 + 0.2)) * 0.5 } }

    func gradient(_ w: UnsafeMutableBufferPointer<Float>) -> [Float] {
        c.map { row in (0..<n).reduce(Float(0)) { $0 + row[$1] * sin(w[$1]) } }
    }

    var exact: [Float] { c.map { row in (0..<n).reduce(Float(0)) { $0 + row[$1] * cos(w0[$1]) * v[$1] } } }

    @Test func finiteDifferenceMatchesTheExactHessianVectorProduct() {
        let w = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        defer { w.deallocate() }
        _ = w.initialize(from: w0)
        let norm = Float(v.map { Double($0 * $0) }.reduce(0, +).squareRoot())
        let r = 0.01 / norm   // DARTS' R = 0.01 / ||v||
        let product = centralDifference(weights: w, original: w0, direction: v, step: r) { gradient(w) }
        let error = relativeError(product, exact)
        #expect(error < 1e-3, "relative error \(error)")
        // The faulty scaling (g+ - g-) / 2 * R is off by a factor R^2 = 1e-4 / ||v||^2.
        let faulty = product.map { $0 * (2 * r) / 2 * r }
        #expect(relativeError(faulty, exact) > 0.9)
        // And the weights are the original ones again, bit for bit.
        #expect(Array(w) == w0)
    }

    @Test func errorShrinksQuadraticallyWithTheStep() {
        let w = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        defer { w.deallocate() }
        _ = w.initialize(from: w0)
        func error(_ r: Float) -> Float {
            let p = centralDifference(weights: w, original: w0, direction: v, step: r) { gradient(w) }
            return zip(p, exact).map { abs($0 - $1) }.max()!
        }
        let coarse = error(0.2), fine = error(0.05)
        #expect(fine < coarse / 8, "O(r^2): \(coarse) -> \(fine)")
    }
}
