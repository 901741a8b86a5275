import Testing
import TestSupport
@testable import DartsTensor

struct ConvCase: CustomTestStringConvertible, Sendable {
    let cin, cout, k, stride, padding, dilation, groups, size: Int
    var testDescription: String { "Cin \(cin) Cout \(cout) k \(k) s \(stride) p \(padding) d \(dilation) g \(groups) \(size)x\(size)" }
}

let convCases: [ConvCase] = [
    ConvCase(cin: 3, cout: 4, k: 3, stride: 1, padding: 1, dilation: 1, groups: 1, size: 6),   // stem-like
    ConvCase(cin: 3, cout: 2, k: 3, stride: 2, padding: 1, dilation: 1, groups: 1, size: 7),   // strided, odd size
    ConvCase(cin: 4, cout: 4, k: 3, stride: 1, padding: 2, dilation: 2, groups: 4, size: 6),   // dil_conv_3x3 depthwise
    ConvCase(cin: 4, cout: 4, k: 5, stride: 2, padding: 4, dilation: 2, groups: 4, size: 8),   // dil_conv_5x5, reduction
    ConvCase(cin: 3, cout: 3, k: 5, stride: 1, padding: 2, dilation: 1, groups: 3, size: 6),   // sep_conv_5x5 depthwise
    ConvCase(cin: 3, cout: 3, k: 3, stride: 2, padding: 1, dilation: 1, groups: 3, size: 7),   // depthwise stride 2
    ConvCase(cin: 4, cout: 6, k: 3, stride: 1, padding: 1, dilation: 1, groups: 2, size: 5),   // grouped
    ConvCase(cin: 5, cout: 3, k: 1, stride: 1, padding: 0, dilation: 1, groups: 1, size: 5),   // pointwise fast path
    ConvCase(cin: 4, cout: 2, k: 1, stride: 2, padding: 0, dilation: 1, groups: 1, size: 6),   // FactorizedReduce path
    // Planes large enough for the depthwise kernels' 64- and 32-wide register blocks.
    ConvCase(cin: 2, cout: 2, k: 3, stride: 1, padding: 1, dilation: 1, groups: 2, size: 14),
    ConvCase(cin: 2, cout: 2, k: 5, stride: 1, padding: 4, dilation: 2, groups: 2, size: 13),
    ConvCase(cin: 2, cout: 2, k: 5, stride: 2, padding: 2, dilation: 1, groups: 2, size: 20),
    ConvCase(cin: 2, cout: 2, k: 3, stride: 2, padding: 2, dilation: 2, groups: 2, size: 19),
]

@Test("conv2d forward equals a direct convolution", arguments: convCases)
func conv2dForwardMatchesDirect(_ c: ConvCase) {
    let x = randomTensor([2, c.cin, c.size, c.size], seed: 1)
    let w = randomTensor([c.cout, c.cin / c.groups, c.k, c.k], seed: 2)
    let y = conv2d(x, w, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
    expectClose(y.values, naiveConv2d(x, w, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups))
}

@Test("conv2d gradients (input and weight) match central differences", arguments: convCases)
func conv2dGradients(_ c: ConvCase) {
    let x = randomTensor([2, c.cin, c.size, c.size], seed: 3)
    let w = randomTensor([c.cout, c.cin / c.groups, c.k, c.k], seed: 4, scale: 0.5)
    checkGradients([x, w]) { conv2d($0[0], $0[1], stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups) }
}

@Test func conv2dBiasGradientMatchesCentralDifferences() {
    let x = randomTensor([2, 2, 4, 4], seed: 5)
    let w = randomTensor([3, 2, 3, 3], seed: 6)
    let b = randomTensor([3], seed: 7)
    checkGradients([x, w, b]) { conv2d($0[0], $0[1], bias: $0[2], padding: 1) }
    let y = conv2d(x, w, bias: b, padding: 1)
    let y0 = conv2d(x, w, padding: 1)
    #expect(abs(y.data[0] - y0.data[0] - b.data[0]) < 1e-5)
}

@Test func conv2dOutputShapeFollowsPyTorchFormula() {
    let x = Tensor(shape: [1, 2, 28, 28])
    #expect(conv2d(x, Tensor(shape: [2, 1, 5, 5]), stride: 2, padding: 4, dilation: 2, groups: 2).shape == [1, 2, 14, 14])
    #expect(conv2d(x, Tensor(shape: [4, 2, 1, 1]), stride: 2).shape == [1, 4, 14, 14])
    #expect(conv2d(Tensor(shape: [1, 2, 27, 27]), Tensor(shape: [4, 2, 1, 1]), stride: 2).shape == [1, 4, 14, 14])
}

@Test func weightGradientIsSkippedWhenWeightIsFrozen() {
    let x = randomTensor([1, 2, 4, 4], seed: 8)
    x.requiresGrad = true
    let w = randomTensor([2, 2, 3, 3], seed: 9)
    w.requiresGrad = false
    let y = conv2d(x, w, padding: 1)
    y.backward(seed: [Float](repeating: 1, count: y.count))
    #expect(w.grad == nil)
    #expect(x.gradient.contains { $0 != 0 })
}
