import Foundation
import Testing
import TestSupport
@testable import DartsTensor
@testable import NN

/// An arena over one tensor of two values, w = [1, -2].
private func twoWeights() -> (ParameterArena, Tensor) {
    let w = Tensor(shape: [2], values: [1, -2], requiresGrad: true)
    return (ParameterArena([("w", w)]), w)
}

private func setGradients(_ arena: ParameterArena, _ g: [Float]) {
    for i in g.indices { arena.grads![i] = g[i] }
}

// MARK: SGD

@Test func sgdWithMomentumAndWeightDecayMatchesHandComputedSteps() {
    // lr 0.1, mu 0.9, wd 0.01, g = [0.5, 0.25] every step.
    // step 1: d = g + 0.01 w = [0.51, 0.23]; m = d;             w = [0.949, -2.023]
    // step 2: d = [0.50949, 0.22977]; m = 0.9 m + d = [0.96849, 0.43677]; w = [0.852151, -2.066677]
    // step 3: d = [0.50852151, 0.22933323]; m = [1.38016251, 0.62242623]; w = [0.714134749, -2.128919623]
    let (arena, w) = twoWeights()
    let sgd = SGD(arena: arena, learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
    setGradients(arena, [0.5, 0.25])
    sgd.step()
    expectEachClose(w.values, [0.949, -2.023])
    expectEachClose(sgd.momentumBuffer, [0.51, 0.23])
    #expect(sgd.hasMomentum)
    sgd.step()
    expectEachClose(w.values, [0.852151, -2.066677])
    expectEachClose(sgd.momentumBuffer, [0.96849, 0.43677])
    sgd.step()
    expectEachClose(w.values, [0.714134749, -2.128919623])
    expectEachClose(sgd.momentumBuffer, [1.38016251, 0.62242623])
    withExtendedLifetime(arena) {}
}

@Test func sgdWithoutMomentumIsPlainGradientDescent() {
    // w = w - lr (g + wd w): [1 - 0.5 (0.5 + 0.1), -2 - 0.5 (0.25 - 0.2)] = [0.7, -2.025], then again.
    let (arena, w) = twoWeights()
    let sgd = SGD(arena: arena, learningRate: 0.5, momentum: 0, weightDecay: 0.1)
    setGradients(arena, [0.5, 0.25])
    sgd.step()
    expectEachClose(w.values, [0.7, -2.025])
    #expect(!sgd.hasMomentum)
    sgd.step()
    // d = [0.5 + 0.07, 0.25 - 0.2025] = [0.57, 0.0475]
    expectEachClose(w.values, [0.7 - 0.285, -2.025 - 0.02375])
    withExtendedLifetime(arena) {}
}

@Test func sgdFirstStepStartsTheMomentumBufferAtTheGradient() {
    // PyTorch starts the buffer at d (no dampening): a preset zero buffer must not change step 1.
    let (arena, w) = twoWeights()
    let sgd = SGD(arena: arena, learningRate: 1, momentum: 0.9)
    sgd.momentumBuffer = [100, 100]   // ignored until the first step has happened
    setGradients(arena, [0.5, 0.25])
    sgd.step()
    expectEachClose(w.values, [0.5, -2.25])
    withExtendedLifetime(arena) {}
}

// MARK: Adam

@Test func adamWithDartsBetasMatchesHandComputedSteps() {
    // lr 0.1, betas (0.5, 0.999), eps 1e-8, wd 0.01 (coupled); g1 = [0.5, 0.25], g2 = [-0.3, 0.1].
    // step 1: g = [0.51, 0.23], m = [0.255, 0.115], v = 0.001 g^2, step lr / 0.5 = 0.2,
    //         denominator sqrt(v) / sqrt(0.001) + eps = |g| + eps, so w moves by 0.1 sign(g).
    // step 2: g = g2 + 0.01 w, m = 0.5 m + 0.5 g, v = 0.999 v + 0.001 g^2,
    //         w -= 0.1 / 0.75 * m / (sqrt(v) / sqrt(1 - 0.999^2) + eps).
    let (arena, w) = twoWeights()
    let adam = Adam(arena: arena, learningRate: 0.1, beta1: 0.5, beta2: 0.999, eps: 1e-8, weightDecay: 0.01)
    setGradients(arena, [0.5, 0.25])
    adam.step()
    #expect(adam.stepCount == 1)
    expectEachClose(w.values, [0.9000000019607843, -2.099999995652174])
    expectEachClose(adam.firstMoment, [0.255, 0.115])
    expectEachClose(adam.secondMoment, [0.00026010, 0.0000529], tolerance: 1e-8)
    setGradients(arena, [-0.3, 0.1])
    adam.step()
    #expect(adam.stepCount == 2)
    expectEachClose(w.values, [0.9057810934386872, -2.175225798265607])
    expectEachClose(adam.firstMoment, [-0.01799999999019608, 0.09700000002173914])
    expectEachClose(adam.secondMoment, [0.00034452089998858855, 5.908810000686962e-05], tolerance: 1e-8)
    withExtendedLifetime(arena) {}
}

@Test func adamAddsEpsilonOutsideTheSquareRoot() {
    // With eps = 0.1 the placement matters: step 1 divides by |g| + 0.1 = [0.61, 0.33]
    // (w = [1 - 0.2 * 0.255 / 0.61, -2 - 0.2 * 0.115 / 0.33]), not by sqrt(g^2 + 0.1).
    let (arena, w) = twoWeights()
    let adam = Adam(arena: arena, learningRate: 0.1, beta1: 0.5, beta2: 0.999, eps: 0.1, weightDecay: 0.01)
    setGradients(arena, [0.5, 0.25])
    adam.step()
    expectEachClose(w.values, [0.9163934426229509, -2.06969696969697])
    setGradients(arena, [-0.3, 0.1])
    adam.step()
    expectEachClose(w.values, [0.9210316136387383, -2.1173208586149737])
    withExtendedLifetime(arena) {}
}

// MARK: Gradient clipping

@Test func clipGradientNormScalesToMaxNormAndReturnsThePreClipNorm() {
    // g = [3, 4] (norm 5) clipped to 1: coefficient 1 / (5 + 1e-6).
    let (arena, _) = twoWeights()
    setGradients(arena, [3, 4])
    let norm = clipGradientNorm(arena, maxNorm: 1)
    #expect(norm == 5)
    let c = 1 / (5 + 1e-6)
    expectEachClose(Array(arena.grads!), [3 * c, 4 * c], tolerance: 1e-7)
    #expect(abs(VectorMath.norm(arena.count, arena.grads!.baseAddress!) - 5 * c) < 1e-6)
}

@Test func clipGradientNormLeavesSmallGradientsUntouched() {
    let (arena, _) = twoWeights()
    setGradients(arena, [0.3, -0.4])
    let norm = clipGradientNorm(arena, maxNorm: 5)
    #expect(abs(norm - 0.5) < 1e-7)
    #expect(Array(arena.grads!) == [0.3, -0.4])
}

@Test func clipGradientNormTakesOneNormOverAllTensors() {
    // Two tensors [1, 2] and [2] form one vector of norm 3; clipping to 1.5 halves every entry.
    let a = Tensor(shape: [2], values: [0, 0], requiresGrad: true)
    let b = Tensor(shape: [1], values: [0], requiresGrad: true)
    let arena = ParameterArena([("a", a), ("b", b)])
    setGradients(arena, [1, 2, 2])
    #expect(clipGradientNorm(arena, maxNorm: 1.5) == 3)
    let c = 1.5 / (3 + 1e-6)
    expectEachClose(Array(arena.grads!), [c, 2 * c, 2 * c], tolerance: 1e-7)
}

// MARK: Learning-rate schedule

@Test func cosineAnnealingStartsAtMaxAndReachesTheMidpointHalfway() {
    let schedule = CosineAnnealingLR(maxLearningRate: 0.025, minLearningRate: 0.001, epochs: 50)
    #expect(schedule.learningRate(epoch: 0) == 0.025)
    #expect(abs(schedule.learningRate(epoch: 25) - 0.013) < 1e-8)
}

@Test func cosineAnnealingFollowsTheDartsFormula() {
    // lr_e = 0.001 + 0.024 (1 + cos(pi e / 50)) / 2 (docs/algorithm.md §4).
    let schedule = CosineAnnealingLR(maxLearningRate: 0.025, minLearningRate: 0.001, epochs: 50)
    let expected: [(Int, Double)] = [(1, 0.02497632074113926), (10, 0.02270820393249937), (49, 0.0010236792588607412)]
    for (epoch, lr) in expected {
        #expect(abs(Double(schedule.learningRate(epoch: epoch)) - lr) < 1e-8, "epoch \(epoch)")
    }
    // Strictly decreasing over the epochs, never below the minimum.
    let all = (0..<50).map { schedule.learningRate(epoch: $0) }
    #expect(zip(all, all.dropFirst()).allSatisfy { $0 > $1 })
    #expect(all.allSatisfy { $0 > 0.001 })
}
