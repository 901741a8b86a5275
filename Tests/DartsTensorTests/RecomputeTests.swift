import Testing
import TestSupport
@testable import DartsTensor

/// A small block with parameters, batch norm in training mode and fan-out of its input:
/// c0 * BN(conv3x3(relu(x))) + c1 * x.
private func block(_ x: Tensor, _ c: Tensor, weight: Tensor, mean: Tensor, variance: Tensor) -> Tensor {
    let y = batchNorm2d(conv2d(relu(x), weight, padding: 1), weight: nil, bias: nil,
                        runningMean: mean, runningVar: variance, training: true)
    return weightedSum([y, x], coefficients: c, indices: [0, 1])
}

@Suite struct RecomputeTests {
    var rng = RandomGenerator(seed: 5)

    @Test mutating func recomputedGradientsEqualThoseOfTheRecordedGraph() {
        let x = Tensor.randomNormal(shape: [2, 3, 5, 5], using: &rng)
        let c = Tensor.randomNormal(shape: [2], using: &rng)
        let w = Tensor.randomNormal(shape: [3, 3, 3, 3], scale: 0.3, using: &rng)
        let seed = (0..<(2 * 3 * 5 * 5)).map { _ in rng.nextUniform(-1, 1) }
        for t in [x, c, w] { t.requiresGrad = true }

        func gradients(recompute: Bool) -> (out: [Float], grads: [[Float]], stats: [Float]) {
            for t in [x, c, w] { t.zeroGrad() }
            let mean = Tensor(shape: [3], repeating: 0), variance = Tensor(shape: [3], repeating: 1)
            let y = recompute
                ? recomputed([x, c]) { block($0[0], $0[1], weight: w, mean: mean, variance: variance) }
                : block(x, c, weight: w, mean: mean, variance: variance)
            // Only the first pass moves the running statistics.
            let statsAfterForward = mean.values + variance.values
            y.backward(seed: seed)
            #expect(mean.values + variance.values == statsAfterForward)
            return (y.values, [x.gradient, c.gradient, w.gradient], statsAfterForward)
        }
        let plain = gradients(recompute: false)
        let again = gradients(recompute: true)
        #expect(again.out == plain.out)
        #expect(again.stats == plain.stats)
        for (a, b) in zip(again.grads, plain.grads) {
            #expect(a.count == b.count)
            #expect(relativeError(a, b) <= 1e-6, "\(a) vs \(b)")
        }
    }

    @Test mutating func recomputationMatchesCentralDifferences() {
        let w = Tensor.randomNormal(shape: [3, 3, 3, 3], scale: 0.3, using: &rng)
        let mean = Tensor(shape: [3], repeating: 0), variance = Tensor(shape: [3], repeating: 1)
        checkGradients([Tensor.randomNormal(shape: [2, 3, 4, 4], using: &rng), Tensor(shape: [2], values: [0.7, -0.4])]) { t in
            recomputed(t) { block($0[0], $0[1], weight: w, mean: mean, variance: variance) }
        }
    }

    @Test mutating func withoutRecordingKeepsNoGraphAndRecomputedRunsPlainly() {
        let x = Tensor.randomNormal(shape: [1, 2, 3, 3], using: &rng)
        x.requiresGrad = true
        let y = Autograd.withoutRecording { relu(x) }
        #expect(!y.hasGraph && !y.requiresGrad)
        let z = Autograd.withoutRecording { recomputed([x]) { relu($0[0]) } }
        #expect(!z.hasGraph)
        #expect(z.values == relu(x).values)
        #expect(Autograd.isRecording && !Autograd.isRecomputing)
    }
}
