import Foundation
import Testing
import TestSupport
@testable import DARTS
@testable import DartsTensor
@testable import NN

/// beta-DARTS' regularization term (docs/algorithm.md §11.2): its value, its gradient checked by
/// central differences, its schedule, and how the architect adds it in first and second order.
@Suite struct ArchRegularizationTests {
    /// 28 rows of 8 alphas (both cells), spread like a search's alphas after some epochs.
    static func alphas(seed: UInt64, scale: Float = 1) -> [Float] {
        var rng = RandomGenerator(seed: seed)
        return (0..<(2 * CellLayout.edgeCount * Primitive.count)).map { _ in scale * rng.nextNormal() }
    }

    static func term(_ a: [Float]) -> Float {
        a.withUnsafeBufferPointer { ArchRegularization.betaTerm($0, rowLength: Primitive.count) }
    }

    static func gradient(_ a: [Float], weight: Float) -> [Float] {
        var g = [Float](repeating: 0, count: a.count)
        a.withUnsafeBufferPointer { alphas in
            g.withUnsafeMutableBufferPointer { ArchRegularization.addBetaGradient(alphas, rowLength: Primitive.count, weight: weight, to: $0) }
        }
        return g
    }

    @Test func uniformAlphasGiveLogOfTheOperationCountAndAGradientOfOneOverEightPerEdge() {
        let zero = [Float](repeating: 0, count: 224)
        #expect(abs(Self.term(zero) - logf(8)) < 1e-6)
        // Adding c to every alpha adds c to every logsumexp, so to their mean.
        #expect(abs(Self.term([Float](repeating: 0.5, count: 224)) - (logf(8) + 0.5)) < 1e-6)
        let g = Self.gradient(zero, weight: 2)
        #expect(g.allSatisfy { abs($0 - 2 * (1.0 / 8) / 28) < 1e-9 })
    }

    /// R(alpha) in double precision, the reference the Float term and the differences use.
    static func referenceTerm(_ a: UnsafeBufferPointer<Float>) -> Double {
        let k = Primitive.count, rows = a.count / k
        return (0..<rows).map { r -> Double in
            let row = (0..<k).map { Double(a[r * k + $0]) }
            let m = row.max()!
            return m + Foundation.log(row.map { Foundation.exp($0 - m) }.reduce(0, +))
        }.reduce(0, +) / Double(rows)
    }

    @Test func theTermIsTheMeanOfTheRowsLogSumExp() {
        let a = Self.alphas(seed: 3, scale: 3)
        let reference = a.withUnsafeBufferPointer { Self.referenceTerm($0) }
        #expect(abs(Double(Self.term(a)) - reference) < 1e-5 * abs(reference), "\(Self.term(a)) vs \(reference)")
    }

    @Test func gradientMatchesCentralDifferencesOfTheTerm() {
        let a0 = Self.alphas(seed: 3)
        let analytic = Self.gradient(a0, weight: 1)
        let live = UnsafeMutableBufferPointer<Float>.allocate(capacity: a0.count)
        defer { live.deallocate() }
        _ = live.initialize(from: a0)
        let base = a0.withUnsafeBufferPointer { Self.referenceTerm($0) }
        // R at the perturbed alphas, minus R at a0 (small, so exact enough in Float).
        func termChange() -> [Float] { [Float(Self.referenceTerm(UnsafeBufferPointer(live)) - base)] }
        // Every coordinate: the central difference along the unit vector e_i.
        var numeric = [Float](repeating: 0, count: a0.count)
        for i in 0..<a0.count {
            var unit = [Float](repeating: 0, count: a0.count)
            unit[i] = 1
            numeric[i] = centralDifference(weights: live, original: a0, direction: unit, step: 1e-2, gradient: termChange)[0]
        }
        let error = relativeError(numeric, analytic)
        print("beta term: dR/dalpha by central differences vs the analytic softmax / 28, relative error \(error)")
        #expect(error < 1e-4, "relative error \(error)")
        #expect(Array(live) == a0)
        // A random direction as well: (R(a + r v) - R(a - r v)) / 2r = grad . v.
        let v = Self.alphas(seed: 4)
        let along = centralDifference(weights: live, original: a0, direction: v, step: 1e-2, gradient: termChange)[0]
        let dot = zip(analytic, v).reduce(Float(0)) { $0 + $1.0 * $1.1 }
        #expect(abs(along - dot) < 1e-3 * abs(dot), "\(along) vs \(dot)")
    }

    @Test func theWeightRampsLinearlyFromZero() {
        #expect(ArchRegularization.rampedWeight(2, epoch: 0, epochs: 3) == 0)
        #expect(ArchRegularization.rampedWeight(2, epoch: 1, epochs: 3) == Float(2) / 3)
        #expect(ArchRegularization.rampedWeight(2, epoch: 2, epochs: 3) == Float(4) / 3)
        #expect(ArchRegularization.rampedWeight(50, epoch: 49, epochs: 50) == 49)
    }

    // MARK: In the architect

    let train = randomBatch(count: 4, seed: 10)
    let val = randomBatch(count: 4, seed: 11)

    /// The architect's gradient with `regularization`, on a fresh state (seed 1).
    func architectGradient(secondOrder: Bool, regularization: ArchRegularization) -> (gradient: [Float], alphas: [Float], loss: Float) {
        let state = smallSearchState(channels: 4, layers: 5)
        presetRandomMomentum(state, seed: 8)
        let loss = singleProcessArchitect(state).computeGradient(train: [train], val: [val], learningRate: 0.025,
                                                                 secondOrder: secondOrder, regularization: regularization)
        return (Array(state.alphas.grads!), state.alphas.snapshot(), loss)
    }

    @Test(arguments: [false, true])
    func theArchitectAddsWeightTimesSoftmaxOverEdgesToTheAveragedGradient(secondOrder: Bool) {
        let plain = architectGradient(secondOrder: secondOrder, regularization: .none)
        let beta = architectGradient(secondOrder: secondOrder, regularization: .beta(weight: 0.7))
        let term = Self.gradient(plain.alphas, weight: 0.7)
        let expected = zip(plain.gradient, term).map { $0 + $1 }
        // Bit for bit: the same gradient plus the term, added once after the averaging.
        #expect(beta.gradient.map(\.bitPattern) == expected.map(\.bitPattern))
        #expect(beta.gradient != plain.gradient)
        // The loss reported is the cross-entropy alone.
        #expect(beta.loss == plain.loss)
        // Weight 0 adds exact zeros, and .none adds nothing.
        let zero = architectGradient(secondOrder: secondOrder, regularization: .beta(weight: 0))
        #expect(zero.gradient.map(\.bitPattern) == plain.gradient.map(\.bitPattern))
    }

    @Test func theStepWithTheTermMovesTheAlphasByAdamOnTheSum() {
        let state = smallSearchState(channels: 4, layers: 5)
        let before = state.alphas.snapshot()
        let g = architectGradient(secondOrder: false, regularization: .beta(weight: 3)).gradient
        singleProcessArchitect(state).step(train: train, val: val, learningRate: 0.025, secondOrder: false,
                                           regularization: .beta(weight: 3))
        #expect(state.alphaOptimizer.stepCount == 1)
        let moved = state.alphas.snapshot()
        for i in before.indices {
            let gi = g[i] + 1e-3 * before[i]
            #expect(abs(moved[i] - (before[i] - 3e-4 * gi / (abs(gi) + 1e-8))) < 1e-7, "alpha \(i)")
        }
    }
}
