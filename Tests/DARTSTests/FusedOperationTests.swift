import Testing
import TestSupport
@testable import DARTS
import DartsTensor
import NN

/// The evaluation network's operations (affine BN) run as fused kernels; each must give the
/// values, running statistics and gradients (input, every parameter, gamma and beta included) of
/// the official layers it is built from, which it still holds for the module names.
@Suite struct FusedOperationTests {
    /// Runs `f` on x in training or evaluation mode from the same starting buffers, backpropagates
    /// a fixed seed, and returns the output, the buffers after the call and every gradient.
    static func run(_ module: Module, _ x: Tensor, training: Bool, buffers start: [[Float]],
                    _ f: (Tensor) -> Tensor) -> (y: [Float], buffers: [Float], grads: [[Float]]) {
        module.train(training)
        for (b, values) in zip(module.namedBuffers().map(\.tensor), start) {
            for i in 0..<values.count { b.data[i] = values[i] }
        }
        let parameters = module.namedParameters().map(\.tensor)
        for t in [x] + parameters { t.requiresGrad = true; t.zeroGrad() }
        let y = f(x)
        var rng = RandomGenerator(seed: 5)
        y.backward(seed: (0..<y.count).map { _ in rng.nextUniform(-1, 1) })
        return (y.values, module.namedBuffers().flatMap(\.tensor.values), ([x] + parameters).map(\.gradient))
    }

    static func check(_ module: Module, input shape: [Int], fusedHere: Bool, layered: @escaping (Tensor) -> Tensor) {
        var rng = RandomGenerator(seed: 3)
        // gamma and beta away from 1 and 0, and running statistics away from 0 and 1.
        for (name, p) in module.namedParameters() where name.hasSuffix(".weight") && p.shape.count == 1 {
            for i in 0..<p.count { p.data[i] = 1 + rng.nextUniform(-0.5, 0.5) }
        }
        for (name, p) in module.namedParameters() where name.hasSuffix(".bias") {
            for i in 0..<p.count { p.data[i] = rng.nextUniform(-0.5, 0.5) }
        }
        let start: [[Float]] = module.namedBuffers().map { b in
            let offset: Float = b.name.hasSuffix("running_var") ? 1 : 0
            return (0..<b.tensor.count).map { offset + 0.05 * Float($0) }
        }
        let x = Tensor.randomNormal(shape: shape, using: &rng)
        #expect(module.namedParameters().contains { $0.name.hasSuffix("bias") }, "the module should have an affine BN")
        for training in [true, false] {
            let fused = run(module, x, training: training, buffers: start) { module($0) }
            let plain = run(module, x, training: training, buffers: start, layered)
            expectClose(fused.y, plain.y)
            expectClose(fused.buffers, plain.buffers, tolerance: 1e-6)
            #expect(fused.grads.count == plain.grads.count)
            for (a, b) in zip(fused.grads, plain.grads) { expectClose(a, b, tolerance: 1e-4) }
        }
        #expect(fusedHere)
    }

    @Test func separableAndDilatedConvolutionsEqualTheirLayers() {
        var rng = RandomGenerator(seed: 1)
        let sep = SepConv(inputChannels: 4, outputChannels: 6, kernelSize: 3, stride: 2, padding: 1, affine: true, rng: &rng)
        Self.check(sep, input: [3, 4, 10, 10], fusedHere: sep.execution == .fused) { sep.op($0) }
        let dil = DilConv(inputChannels: 4, outputChannels: 4, kernelSize: 5, stride: 1, padding: 4, dilation: 2,
                          affine: true, rng: &rng)
        Self.check(dil, input: [3, 4, 9, 9], fusedHere: dil.execution == .fused) { dil.op($0) }
    }

    @Test func preprocessingAndFactorizedReduceEqualTheirLayers() {
        var rng = RandomGenerator(seed: 2)
        let pre = ReLUConvBN(inputChannels: 5, outputChannels: 4, kernelSize: 1, stride: 1, padding: 0, affine: true, rng: &rng)
        Self.check(pre, input: [3, 5, 7, 7], fusedHere: pre.execution == .fused) { pre.op($0) }
        let reduce = FactorizedReduce(inputChannels: 4, outputChannels: 6, affine: true, rng: &rng)
        Self.check(reduce, input: [3, 4, 8, 10], fusedHere: reduce.execution == .fused) { reduce(activated: relu($0)) }
    }
}
