import Testing
import Foundation
import TestSupport
@testable import DartsTensor

@Test func batchNormTrainingNormalizesAndUpdatesRunningStatistics() {
    let x = Tensor(shape: [2, 1, 1, 2], values: [1, 2, 3, 6])
    let rm = Tensor(shape: [1]), rv = Tensor(shape: [1], repeating: 1)
    let y = batchNorm2d(x, weight: nil, bias: nil, runningMean: rm, runningVar: rv, training: true)
    // mean 3, biased variance (4 + 1 + 0 + 9) / 4 = 3.5, unbiased 14 / 3
    let inv = 1 / (3.5 + 1e-5 as Float).squareRoot()
    expectClose(y.values, [-2 * inv, -1 * inv, 0, 3 * inv])
    #expect(abs(rm.data[0] - 0.3) < 1e-6)
    #expect(abs(rv.data[0] - (0.9 + 0.1 * 14 / 3)) < 1e-6)
}

@Test func batchNormEvaluationUsesRunningStatistics() {
    let x = Tensor(shape: [1, 2, 1, 1], values: [1, 2])
    let rm = Tensor(shape: [2], values: [1, 0]), rv = Tensor(shape: [2], values: [4, 1])
    let g = Tensor(shape: [2], values: [2, 1]), b = Tensor(shape: [2], values: [0, 1])
    let y = batchNorm2d(x, weight: g, bias: b, runningMean: rm, runningVar: rv, training: false)
    expectClose(y.values, [0, 2 / (1 + 1e-5 as Float).squareRoot() + 1])
    #expect(rm.values == [1, 0])
}

@Test(arguments: [true, false])
func batchNormGradientsMatchCentralDifferences(affine: Bool) {
    let x = randomTensor([3, 2, 3, 3], seed: 11)
    let g = randomTensor([2], seed: 12), b = randomTensor([2], seed: 13)
    let rm = Tensor(shape: [2]), rv = Tensor(shape: [2], repeating: 1)
    checkGradients(affine ? [x, g, b] : [x], eps: 1e-2, tolerance: 2e-2) { t in
        batchNorm2d(t[0], weight: affine ? t[1] : nil, bias: affine ? t[2] : nil, runningMean: rm, runningVar: rv, training: true)
    }
}

@Test func batchNormEvaluationGradientMatchesCentralDifferences() {
    let x = randomTensor([2, 2, 3, 3], seed: 14)
    let g = randomTensor([2], seed: 15), b = randomTensor([2], seed: 16)
    let rm = Tensor(shape: [2], values: [0.1, -0.2]), rv = Tensor(shape: [2], values: [0.5, 2])
    checkGradients([x, g, b]) { t in
        batchNorm2d(t[0], weight: t[1], bias: t[2], runningMean: rm, runningVar: rv, training: false)
    }
}

@Test func reluGradientMatchesCentralDifferences() {
    let x = randomTensor([2, 3, 4, 4], seed: 17)
    checkGradients([x], eps: 1e-3) { relu($0[0]) }
    #expect(relu(Tensor(shape: [3], values: [-1, 0, 2])).values == [0, 0, 2])
}

@Test func maxPoolTakesWindowMaximumIgnoringPadding() {
    let x = Tensor(shape: [1, 1, 2, 2], values: [-4, -3, -2, -1])
    // every 3x3 window with padding 1 covers the whole 2x2 image: the max is -1, never the padding
    #expect(maxPool2d(x, kernelSize: 3, stride: 1, padding: 1).values == [-1, -1, -1, -1])
}

@Test(arguments: [(3, 1, 1), (3, 2, 1), (2, 2, 0), (3, 2, 0), (5, 2, 0)])
func maxPoolGradientMatchesCentralDifferences(kernel: Int, stride: Int, padding: Int) {
    let x = randomTensor([2, 2, 7, 7], seed: 18)
    checkGradients([x], eps: 1e-3) { maxPool2d($0[0], kernelSize: kernel, stride: stride, padding: padding) }
}

/// Max pooling by its definition: per window, the value and (row-major window order, strictly
/// larger to replace) the position of the first maximum.
private func naiveMaxPool(_ x: [Float], h: Int, w: Int, k: Int, stride s: Int, pad: Int) -> (values: [Float], first: [Int]) {
    var values: [Float] = [], first: [Int] = []
    for i in 0..<((h + 2 * pad - k) / s + 1) {
        for j in 0..<((w + 2 * pad - k) / s + 1) {
            var best = -Float.infinity, at = -1
            for p in 0..<k {
                for q in 0..<k {
                    let (r, c) = (i * s - pad + p, j * s - pad + q)
                    if r >= 0 && r < h && c >= 0 && c < w && x[r * w + c] > best { best = x[r * w + c]; at = r * w + c }
                }
            }
            values.append(best)
            first.append(at)
        }
    }
    return (values, first)
}

// Planes whose pitched length runs through the kernels' 32-, 16- and 8-wide blocks and their
// scalar tails, at stride 1 (padded planes) and 2 (phases, odd sizes too); values from
// {0, 1, 2} tie in almost every window.
@Test(arguments: [(4, 5), (9, 9), (14, 14), (28, 28), (7, 3)], [1, 2])
func maxPoolSendsTheGradientToTheFirstMaximum(size: (h: Int, w: Int), stride: Int) {
    let (h, w) = size
    let values = randomTensor([2 * h * w], seed: UInt64(h * 100 + w)).values.map { Float(Int(abs($0) * 3) % 3) }
    let x = Tensor(shape: [1, 2, h, w], values: values)
    let y = maxPool2d(x, kernelSize: 3, stride: stride, padding: 1)
    let (oh, ow) = (y.shape[2], y.shape[3])
    let dy = (0..<(2 * oh * ow)).map { Float($0 % 7) + 1 }
    var dx = [Float](repeating: 0, count: 2 * h * w)
    dy.withUnsafeBufferPointer { d in
        dx.withUnsafeMutableBufferPointer {
            maxPool2dBackward(x, d.baseAddress!, into: $0.baseAddress!, kernelSize: 3, stride: stride, padding: 1)
        }
    }
    for plane in 0..<2 {
        let slice = Array(values[(plane * h * w)..<((plane + 1) * h * w)])
        let (expectedValues, first) = naiveMaxPool(slice, h: h, w: w, k: 3, stride: stride, pad: 1)
        #expect(Array(y.values[(plane * oh * ow)..<((plane + 1) * oh * ow)]) == expectedValues)
        var expectedGradient = [Float](repeating: 0, count: h * w)
        for (o, at) in first.enumerated() { expectedGradient[at] += dy[plane * oh * ow + o] }
        #expect(Array(dx[(plane * h * w)..<((plane + 1) * h * w)]) == expectedGradient)
    }
}

@Test func avgPoolDoesNotCountPaddingInTheDivisor() {
    let x = Tensor(shape: [1, 1, 2, 2], values: [1, 2, 3, 4])
    #expect(avgPool2d(x, kernelSize: 3, stride: 1, padding: 1).values == [2.5, 2.5, 2.5, 2.5])
    expectClose(avgPool2d(x, kernelSize: 3, stride: 1, padding: 1, countIncludePad: true).values,
                [10 / 9, 10 / 9, 10 / 9, 10 / 9])
}

@Test(arguments: [(3, 1, 1, 8), (3, 2, 1, 8), (3, 2, 1, 7), (5, 3, 0, 8), (2, 2, 0, 8), (3, 2, 0, 7), (5, 2, 0, 7)])
func avgPoolGradientMatchesCentralDifferences(kernel: Int, stride: Int, padding: Int, size: Int) {
    let x = randomTensor([2, 2, size, size], seed: 19)
    checkGradients([x]) { avgPool2d($0[0], kernelSize: kernel, stride: stride, padding: padding) }
    #expect(avgPool2d(x, kernelSize: kernel, stride: stride, padding: padding).shape[2] == (size + 2 * padding - kernel) / stride + 1)
}

@Test func globalAvgPoolGradientMatchesCentralDifferences() {
    let x = randomTensor([2, 3, 3, 3], seed: 20)
    checkGradients([x]) { globalAvgPool2d($0[0]) }
    let y = globalAvgPool2d(Tensor(shape: [1, 1, 2, 2], values: [1, 2, 3, 6]))
    #expect(y.values == [3])
}

@Test func linearGradientsMatchCentralDifferences() {
    let x = randomTensor([3, 5], seed: 21), w = randomTensor([4, 5], seed: 22), b = randomTensor([4], seed: 23)
    checkGradients([x, w, b]) { linear($0[0], $0[1], bias: $0[2]) }
    let y = linear(Tensor(shape: [1, 2], values: [1, 2]), Tensor(shape: [1, 2], values: [3, 4]), bias: Tensor(shape: [1], values: [0.5]))
    #expect(y.values == [11.5])
}

@Test func softmaxGradientMatchesCentralDifferences() {
    let x = randomTensor([14, 8], seed: 24)
    checkGradients([x], eps: 1e-2) { softmax($0[0]) }
    let y = softmax(Tensor(shape: [1, 2], values: [0, Float(log(3.0))]))
    expectClose(y.values, [0.25, 0.75])
}

@Test func crossEntropyValueAndGradient() {
    let logits = Tensor(shape: [2, 3], values: [0, 0, 0, 1, 2, 3])
    let loss = crossEntropy(logits, labels: [0, 2])
    let lse: Double = log(exp(1.0) + exp(2.0) + exp(3.0))
    let expected: Double = (log(3.0) + lse - 3) / 2
    #expect(abs(Double(loss.scalar) - expected) < 1e-6)
    let x = randomTensor([4, 5], seed: 25)
    checkGradients([x]) { crossEntropy($0[0], labels: [1, 0, 4, 2]) }
}

/// PyTorch's `F.cross_entropy(x, y, label_smoothing=e)`: the values below were printed by PyTorch
/// 2.15 for these logits (float32), and agree with the closed form
/// (1 - e) (lse - x_y) + e (lse - mean_k x_k) averaged over the rows.
@Test func labelSmoothedCrossEntropyMatchesPyTorch() {
    let logits = Tensor(shape: [2, 3], values: [0, 0, 0, 1, 2, 3])
    let lse: Double = log(exp(1.0) + exp(2.0) + exp(3.0))
    for (epsilon, pytorch) in [(Float(0.1), 0.8031090), (Float(0.25), 0.8781092)] {
        let e = Double(epsilon)
        let closed = ((1 - e) * log(3.0) + e * log(3.0) + (1 - e) * (lse - 3) + e * (lse - 2)) / 2
        let loss = crossEntropy(logits, labels: [0, 2], labelSmoothing: epsilon)
        #expect(abs(Double(loss.scalar) - pytorch) < 1e-6, "e = \(epsilon): \(loss.scalar) against PyTorch \(pytorch)")
        #expect(abs(closed - pytorch) < 1e-6)
    }
    // e = 0 is the plain loss, bit for bit, and its gradient too.
    let x = randomTensor([4, 5], seed: 25)
    let gradient = { (e: Float?) -> (Float, [Float]) in
        let input = Tensor(shape: x.shape, values: x.values, requiresGrad: true)
        let loss = e.map { crossEntropy(input, labels: [1, 0, 4, 2], labelSmoothing: $0) } ?? crossEntropy(input, labels: [1, 0, 4, 2])
        loss.backward()
        return (loss.scalar, input.gradient)
    }
    let (plain, zero) = (gradient(nil), gradient(0))
    #expect(plain.0 == zero.0 && plain.1 == zero.1)
    checkGradients([x]) { crossEntropy($0[0], labels: [1, 0, 4, 2], labelSmoothing: 0.1) }
    // The gradient is (softmax - q) / N: at uniform logits and e = 1 every target is 1/K, so it vanishes.
    let uniform = Tensor(shape: [1, 4], values: [0, 0, 0, 0], requiresGrad: true)
    crossEntropy(uniform, labels: [2], labelSmoothing: 1).backward()
    #expect(uniform.gradient.allSatisfy { abs($0) < 1e-7 })
    // And at e = 0.1 it is (1/4 - q) / 1: q = 0.925 at the label, 0.025 elsewhere.
    let again = Tensor(shape: [1, 4], values: [0, 0, 0, 0], requiresGrad: true)
    crossEntropy(again, labels: [2], labelSmoothing: 0.1).backward()
    expectClose(again.gradient, [0.225, 0.225, -0.675, 0.225])
}

@Test func weightedSumGradientsReachInputsAndCoefficients() {
    let a = randomTensor([2, 2, 3, 3], seed: 26), b = randomTensor([2, 2, 3, 3], seed: 27)
    let c = randomTensor([2, 3], seed: 28)
    checkGradients([a, b, c]) { weightedSum([$0[0], $0[1]], coefficients: $0[2], indices: [1, 5]) }
    let y = weightedSum([Tensor(shape: [1], values: [2]), Tensor(shape: [1], values: [3])],
                        coefficients: Tensor(shape: [2], values: [0.5, 2]), indices: [0, 1])
    #expect(y.values == [7])
}

@Test func addAndScaledGradientsMatchCentralDifferences() {
    let a = randomTensor([2, 3], seed: 29), b = randomTensor([2, 3], seed: 30)
    checkGradients([a, b]) { add([$0[0], $0[1], $0[0]]) }
    checkGradients([a]) { scaled($0[0], by: 0.4) }
}

@Test func concatChannelsGradientMatchesCentralDifferences() {
    let a = randomTensor([2, 1, 3, 3], seed: 31), b = randomTensor([2, 3, 3, 3], seed: 32)
    checkGradients([a, b]) { concatChannels([$0[0], $0[1]]) }
    let y = concatChannels([Tensor(shape: [2, 1, 1, 1], values: [1, 2]), Tensor(shape: [2, 1, 1, 1], values: [3, 4])])
    #expect(y.values == [1, 3, 2, 4])
}

@Test func cropTopLeftIsTheOffsetSliceOfFactorizedReduce() {
    let x = Tensor(shape: [1, 1, 3, 3], values: (0..<9).map(Float.init))
    #expect(cropTopLeft(x).values == [4, 5, 7, 8])
    let r = randomTensor([2, 2, 4, 4], seed: 33)
    checkGradients([r]) { cropTopLeft($0[0]) }
}

@Test func stridedZerosHasTheStridedShapeAndNoGradient() {
    let x = randomTensor([2, 3, 7, 7], seed: 34)
    x.requiresGrad = true
    let z = stridedZeros(like: x, stride: 2)
    #expect(z.shape == [2, 3, 4, 4])
    #expect(z.values.allSatisfy { $0 == 0 })
    #expect(!z.requiresGrad)
    #expect(stridedZeros(like: x, stride: 1).shape == x.shape)
}

@Test func reshapedGradientMatchesCentralDifferences() {
    let x = randomTensor([2, 3, 1, 1], seed: 35)
    checkGradients([x]) { reshaped($0[0], [2, 3]) }
}

@Test func backwardAccumulatesOverFanOutAndFreesTheGraph() {
    let x = Tensor(shape: [1], values: [3], requiresGrad: true)
    let y = add([x, x, x])       // y = 3x
    let z = weightedSum([y, x], coefficients: Tensor(shape: [2], values: [2, 1]), indices: [0, 1])   // z = 7x
    z.backward()
    #expect(x.gradient == [7])
    #expect(!z.hasGraph && !y.hasGraph)
}
