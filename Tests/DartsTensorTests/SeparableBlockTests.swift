import Testing
import TestSupport
@testable import DartsTensor

/// (kernel, stride, padding, dilation, H = W): DARTS' sep_conv 3x3 / 5x5 (stride 1 and 2) and
/// dil_conv 3x3 / 5x5 geometries, on planes small (remainder loops) and large (SIMD loops).
private let blockCases: [(Int, Int, Int, Int, Int)] = [
    (3, 1, 1, 1, 11), (5, 1, 2, 1, 7), (3, 1, 2, 2, 9), (5, 1, 4, 2, 12),
    (3, 2, 1, 1, 10), (5, 2, 2, 1, 9), (3, 2, 2, 2, 8), (5, 2, 4, 2, 8),
]

/// The four layers the fused block replaces.
private func layers(_ x: Tensor, _ wd: Tensor, _ wp: Tensor, stride: Int, padding: Int, dilation: Int,
                    gamma: Tensor?, beta: Tensor?, mean: Tensor, variance: Tensor, training: Bool) -> Tensor {
    let c = x.shape[1]
    let z = conv2d(conv2d(relu(x), wd, stride: stride, padding: padding, dilation: dilation, groups: c), wp)
    return batchNorm2d(z, weight: gamma, bias: beta, runningMean: mean, runningVar: variance, training: training)
}

@Test("reluSeparableBatchNorm, without and with an affine BN, gives the values, running statistics and gradients (gamma and beta too) of the four layers",
      arguments: blockCases, [true, false])
func separableBlockEqualsItsLayers(_ geometry: (Int, Int, Int, Int, Int), training: Bool) {
    let (k, stride, padding, dilation, size) = geometry
    let (n, c, cout) = (3, 4, 6)
    let x = randomTensor([n, c, size, size], seed: 1)
    let wd = randomTensor([c, 1, k, k], seed: 2, scale: 0.4)
    let wp = randomTensor([cout, c, 1, 1], seed: 3, scale: 0.5)
    let (gamma, beta) = affineParameters(cout, seed: 34)
    for affine in [false, true] {
        let (g, b) = affine ? (gamma, beta) : (nil, nil)
        let inputs = [x, wd, wp] + (affine ? [gamma, beta] : [])
        let fused = outputsAndGradients(inputs, channels: cout) {
            reluSeparableBatchNorm(x, depthwise: wd, pointwise: wp, stride: stride, padding: padding, dilation: dilation,
                                   bnWeight: g, bnBias: b, runningMean: $0, runningVar: $1, training: training)
        }
        let plain = outputsAndGradients(inputs, channels: cout) {
            layers(x, wd, wp, stride: stride, padding: padding, dilation: dilation, gamma: g, beta: b,
                   mean: $0, variance: $1, training: training)
        }
        expectClose(fused.y, plain.y, tolerance: 1e-5)
        expectClose(fused.stats, plain.stats, tolerance: 1e-6)
        #expect(fused.grads.count == inputs.count)
        for (f, p) in zip(fused.grads, plain.grads) { expectClose(f, p, tolerance: 1e-4) }
    }
}

@Test("reluSeparableBatchNorm gradients match central differences", arguments: [blockCases[1], blockCases[3], blockCases[5]])
func separableBlockMatchesCentralDifferences(_ geometry: (Int, Int, Int, Int, Int)) {
    let (k, stride, padding, dilation, size) = geometry
    let mean = Tensor(shape: [3], repeating: 0), variance = Tensor(shape: [3], repeating: 1)
    // Inputs at least 0.05 from the ReLU's kink, so that x +/- eps stays on one side of it.
    let x = randomTensor([2, 2, size, size], seed: 5)
    for i in 0..<x.count { x.data[i] += x.data[i] < 0 ? -0.05 : 0.05 }
    checkGradients([x, randomTensor([2, 1, k, k], seed: 6, scale: 0.4),
                    randomTensor([3, 2, 1, 1], seed: 7, scale: 0.5)], eps: 5e-3, tolerance: 2e-2) { t in
        reluSeparableBatchNorm(t[0], depthwise: t[1], pointwise: t[2], stride: stride, padding: padding,
                               dilation: dilation, runningMean: mean, runningVar: variance, training: true)
    }
}

/// Batch norm's gamma and beta for `channels` outputs, away from 1 and 0 (one gamma negative), so
/// that a fused block that dropped or misplaced them would differ from the layers.
private func affineParameters(_ channels: Int, seed: UInt64) -> (gamma: Tensor, beta: Tensor) {
    let gamma = randomTensor([channels], seed: seed, scale: 0.5)
    for i in 0..<channels { gamma.data[i] += i == 1 ? -1 : 1 }
    return (gamma, randomTensor([channels], seed: seed + 1, scale: 0.5))
}

@Test("reluPointwiseBatchNorm and reluFactorizedReduceBatchNorm with an affine BN give the values, statistics and gradients of their layers",
      arguments: [true, false])
func affinePointwiseBlocksEqualTheirLayers(training: Bool) {
    let x = randomTensor([3, 5, 10, 12], seed: 35)
    let w = randomTensor([4, 5, 1, 1], seed: 36, scale: 0.5)
    let (gamma, beta) = affineParameters(4, seed: 37)
    let fused = outputsAndGradients([x, w, gamma, beta], channels: 4) {
        reluPointwiseBatchNorm(x, weight: w, bnWeight: gamma, bnBias: beta, runningMean: $0, runningVar: $1, training: training)
    }
    let plain = outputsAndGradients([x, w, gamma, beta], channels: 4) {
        batchNorm2d(conv2d(relu(x), w), weight: gamma, bias: beta, runningMean: $0, runningVar: $1, training: training)
    }
    expectClose(fused.y, plain.y)
    expectClose(fused.stats, plain.stats, tolerance: 1e-6)
    for (a, b) in zip(fused.grads, plain.grads) { expectClose(a, b, tolerance: 1e-4) }

    let w1 = randomTensor([2, 5, 1, 1], seed: 38, scale: 0.5), w2 = randomTensor([2, 5, 1, 1], seed: 39, scale: 0.5)
    let reduced = outputsAndGradients([x, w1, w2, gamma, beta], channels: 4) {
        reluFactorizedReduceBatchNorm(x, weight1: w1, weight2: w2, bnWeight: gamma, bnBias: beta,
                                      runningMean: $0, runningVar: $1, training: training)
    }
    let reducedPlain = outputsAndGradients([x, w1, w2, gamma, beta], channels: 4) {
        let r = relu(x)
        let z = concatChannels([conv2d(r, w1, stride: 2), conv2d(cropTopLeft(r), w2, stride: 2)])
        return batchNorm2d(z, weight: gamma, bias: beta, runningMean: $0, runningVar: $1, training: training)
    }
    expectClose(reduced.y, reducedPlain.y)
    expectClose(reduced.stats, reducedPlain.stats, tolerance: 1e-6)
    for (a, b) in zip(reduced.grads, reducedPlain.grads) { expectClose(a, b, tolerance: 1e-4) }
}

@Test func affineFusedBlocksMatchCentralDifferences() {
    let mean = Tensor(shape: [3], repeating: 0), variance = Tensor(shape: [3], repeating: 1)
    let x = randomTensor([2, 2, 7, 7], seed: 45)
    for i in 0..<x.count { x.data[i] += x.data[i] < 0 ? -0.05 : 0.05 }
    let (gamma, beta) = affineParameters(3, seed: 46)
    checkGradients([x, randomTensor([2, 1, 5, 5], seed: 47, scale: 0.4), randomTensor([3, 2, 1, 1], seed: 48, scale: 0.5),
                    gamma, beta], eps: 5e-3, tolerance: 2e-2) { t in
        reluSeparableBatchNorm(t[0], depthwise: t[1], pointwise: t[2], stride: 2, padding: 2, dilation: 1,
                               bnWeight: t[3], bnBias: t[4], runningMean: mean, runningVar: variance, training: true)
    }
    let (gamma4, beta4) = affineParameters(4, seed: 49)
    let small = randomTensor([2, 3, 6, 6], seed: 50)
    for i in 0..<small.count { small.data[i] += small.data[i] < 0 ? -0.05 : 0.05 }
    let mean4 = Tensor(shape: [4], repeating: 0), variance4 = Tensor(shape: [4], repeating: 1)
    checkGradients([small, randomTensor([4, 3, 1, 1], seed: 51), gamma4, beta4], eps: 5e-3, tolerance: 2e-2) { t in
        reluPointwiseBatchNorm(t[0], weight: t[1], bnWeight: t[2], bnBias: t[3], runningMean: mean4, runningVar: variance4,
                               training: true)
    }
    checkGradients([small, randomTensor([2, 3, 1, 1], seed: 52), randomTensor([2, 3, 1, 1], seed: 53), gamma4, beta4],
                   eps: 5e-3, tolerance: 2e-2) { t in
        reluFactorizedReduceBatchNorm(t[0], weight1: t[1], weight2: t[2], bnWeight: t[3], bnBias: t[4],
                                      runningMean: mean4, runningVar: variance4, training: true)
    }
}

/// Runs `f` on fresh running statistics, backpropagates a fixed random seed, and returns the
/// output, the statistics after the step and the gradients of `inputs`.
private func outputsAndGradients(_ inputs: [Tensor], channels: Int,
                                 _ f: (Tensor, Tensor) -> Tensor) -> (y: [Float], stats: [Float], grads: [[Float]]) {
    for t in inputs { t.requiresGrad = true; t.zeroGrad() }
    let mean = Tensor(shape: [channels], values: (0..<channels).map { Float($0) * 0.1 })
    let variance = Tensor(shape: [channels], values: (0..<channels).map { 1 + Float($0) * 0.2 })
    let y = f(mean, variance)
    var rng = RandomGenerator(seed: 4)
    y.backward(seed: (0..<y.count).map { _ in rng.nextUniform(-1, 1) })
    return (y.values, mean.values + variance.values, inputs.map(\.gradient))
}

@Test("reluPointwiseBatchNorm gives the values, statistics and gradients of ReLU, 1x1 conv and BN", arguments: [true, false])
func pointwiseBlockEqualsItsLayers(training: Bool) {
    let x = randomTensor([3, 5, 9, 9], seed: 11), w = randomTensor([4, 5, 1, 1], seed: 12, scale: 0.5)
    let fused = outputsAndGradients([x, w], channels: 4) {
        reluPointwiseBatchNorm(x, weight: w, runningMean: $0, runningVar: $1, training: training)
    }
    let plain = outputsAndGradients([x, w], channels: 4) {
        batchNorm2d(conv2d(relu(x), w), weight: nil, bias: nil, runningMean: $0, runningVar: $1, training: training)
    }
    expectClose(fused.y, plain.y)
    expectClose(fused.stats, plain.stats, tolerance: 1e-6)
    for (a, b) in zip(fused.grads, plain.grads) { expectClose(a, b, tolerance: 1e-4) }
}

@Test("reluFactorizedReduceBatchNorm gives the values, statistics and gradients of FactorizedReduce's layers",
      arguments: [true, false])
func factorizedReduceBlockEqualsItsLayers(training: Bool) {
    let x = randomTensor([3, 4, 10, 12], seed: 13)
    let w1 = randomTensor([3, 4, 1, 1], seed: 14, scale: 0.5), w2 = randomTensor([3, 4, 1, 1], seed: 15, scale: 0.5)
    let fused = outputsAndGradients([x, w1, w2], channels: 6) {
        reluFactorizedReduceBatchNorm(x, weight1: w1, weight2: w2, runningMean: $0, runningVar: $1, training: training)
    }
    let plain = outputsAndGradients([x, w1, w2], channels: 6) {
        let r = relu(x)
        let z = concatChannels([conv2d(r, w1, stride: 2), conv2d(cropTopLeft(r), w2, stride: 2)])
        return batchNorm2d(z, weight: nil, bias: nil, runningMean: $0, runningVar: $1, training: training)
    }
    #expect(fused.y.count == 3 * 6 * 5 * 6)
    expectClose(fused.y, plain.y)
    expectClose(fused.stats, plain.stats, tolerance: 1e-6)
    for (a, b) in zip(fused.grads, plain.grads) { expectClose(a, b, tolerance: 1e-4) }
}

@Test func pointwiseAndFactorizedReduceBlocksMatchCentralDifferences() {
    let mean = Tensor(shape: [4], repeating: 0), variance = Tensor(shape: [4], repeating: 1)
    func awayFromKink(_ t: Tensor) -> Tensor {
        for i in 0..<t.count { t.data[i] += t.data[i] < 0 ? -0.05 : 0.05 }
        return t
    }
    checkGradients([awayFromKink(randomTensor([2, 3, 4, 4], seed: 16)), randomTensor([4, 3, 1, 1], seed: 17)],
                   eps: 5e-3, tolerance: 2e-2) { t in
        reluPointwiseBatchNorm(t[0], weight: t[1], runningMean: mean, runningVar: variance, training: true)
    }
    checkGradients([awayFromKink(randomTensor([2, 3, 6, 6], seed: 18)), randomTensor([2, 3, 1, 1], seed: 19),
                    randomTensor([2, 3, 1, 1], seed: 20)], eps: 5e-3, tolerance: 2e-2) { t in
        reluFactorizedReduceBatchNorm(t[0], weight1: t[1], weight2: t[2], runningMean: mean, runningVar: variance,
                                      training: true)
    }
}

@Test("pooledBatchNorm gives the values, statistics and input gradient of the pool and BN layers",
      arguments: [(true, 1), (true, 2), (false, 1), (false, 2)], [true, false])
func pooledBlockEqualsItsLayers(_ kind: (max: Bool, stride: Int), training: Bool) {
    let x = randomTensor([3, 4, 11, 10], seed: 21)
    func pool(_ t: Tensor) -> Tensor {
        kind.max ? maxPool2d(t, kernelSize: 3, stride: kind.stride, padding: 1)
            : avgPool2d(t, kernelSize: 3, stride: kind.stride, padding: 1, countIncludePad: false)
    }
    func poolBackward(_ t: Tensor, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
        if kind.max {
            maxPool2dBackward(t, dy, into: dx, kernelSize: 3, stride: kind.stride, padding: 1)
        } else {
            avgPool2dBackward(t.shape, dy, into: dx, kernelSize: 3, stride: kind.stride, padding: 1)
        }
    }
    let fused = outputsAndGradients([x], channels: 4) {
        pooledBatchNorm(x, runningMean: $0, runningVar: $1, training: training, pool: pool, poolBackward: poolBackward)
    }
    let plain = outputsAndGradients([x], channels: 4) {
        batchNorm2d(pool(x), weight: nil, bias: nil, runningMean: $0, runningVar: $1, training: training)
    }
    expectClose(fused.y, plain.y)
    expectClose(fused.stats, plain.stats, tolerance: 1e-6)
    expectClose(fused.grads[0], plain.grads[0], tolerance: 1e-4)
}

@Test(arguments: [1, 2])
func pooledBlockMatchesCentralDifferences(stride: Int) {
    let mean = Tensor(shape: [2], repeating: 0), variance = Tensor(shape: [2], repeating: 1)
    checkGradients([randomTensor([2, 2, 6, 6], seed: 22)], eps: 1e-3, tolerance: 2e-2) { t in
        pooledBatchNorm(t[0], runningMean: mean, runningVar: variance, training: true,
                        pool: { maxPool2d($0, kernelSize: 3, stride: stride, padding: 1) },
                        poolBackward: { maxPool2dBackward($0, $1, into: $2, kernelSize: 3, stride: stride, padding: 1) })
    }
}

// A weighted sum hands its gradient, scaled, to the fused operations and pools that accept it
// (GradientMemory.share) instead of writing c_k dy for each. The gradients must be those of the
// written-out path: with a coefficient other than 1, the same term twice in one sum, and terms
// used again by a second sum (whose contribution makes the shared gradient a buffer of its own).
@Test(arguments: [false, true])
func weightedSumSharesItsGradientAsIfWrittenOut(affine: Bool) {
    func gradients(share: Bool) -> [[Float]] {
        let x = randomTensor([2, 4, 6, 6], seed: 41)
        let wd = randomTensor([4, 1, 3, 3], seed: 42, scale: 0.4), wp = randomTensor([4, 4, 1, 1], seed: 43, scale: 0.5)
        let c = Tensor(shape: [4], values: [0.3, -0.7, 1.9, 0.25])
        let (gamma, beta) = affineParameters(4, seed: 45)
        for t in [x, wd, wp, c, gamma, beta] { t.requiresGrad = true }
        let stats = (0..<6).map { Tensor(shape: [4], repeating: Float($0 % 2)) }
        let conv = reluSeparableBatchNorm(x, depthwise: wd, pointwise: wp, stride: 1, padding: 1, dilation: 1,
                                          bnWeight: affine ? gamma : nil, bnBias: affine ? beta : nil,
                                          runningMean: stats[0], runningVar: stats[1], training: true)
        let pool = pooledBatchNorm(x, runningMean: stats[2], runningVar: stats[3], training: true,
                                   pool: { maxPool2d($0, kernelSize: 3, stride: 1, padding: 1) },
                                   poolBackward: { maxPool2dBackward($0, $1, into: $2, kernelSize: 3, stride: 1, padding: 1) })
        // A term of one sum only: its backward runs on the shared gradient with scale c[1] = -0.7
        // (conv and pool, used again, get buffers of their own first and run with scale 1).
        let once = reluSeparableBatchNorm(x, depthwise: wd, pointwise: wp, stride: 1, padding: 1, dilation: 1,
                                          bnWeight: affine ? gamma : nil, bnBias: affine ? beta : nil,
                                          runningMean: stats[4], runningVar: stats[5], training: true)
        let terms = [conv, pool, once]
        #expect(terms.allSatisfy { $0.gradientMemory.acceptsSharing })
        if !share { for t in terms { t.gradientMemory.acceptsSharing = false } }
        let first = weightedSum([conv, pool, conv], coefficients: c, indices: [0, 1, 2])
        let second = weightedSum([pool, conv, once], coefficients: c, indices: [3, 0, 1])
        let total = weightedSum([first, second], coefficients: Tensor(shape: [2], values: [1, 0.5]), indices: [0, 1])
        total.backward(seed: randomTensor([total.count], seed: 44).values)
        return ([x, wd, wp, c] + (affine ? [gamma, beta] : [])).map(\.gradient)
    }
    let shared = gradients(share: true), written = gradients(share: false)
    for (a, b) in zip(shared, written) { expectClose(a, b, tolerance: 1e-5) }
}
