import Foundation
import Testing
import TestSupport
@testable import DARTS
@testable import DartsTensor
@testable import Distributed
@testable import NN

/// The search network and both architect steps against an independent PyTorch implementation
/// (scripts/torch_reference.py), on fixed weights and batches: every value within 1e-4.
@Suite struct PyTorchParityTests {
    let fixture: Fixture
    let state: SearchState
    let train: LabeledBatch
    let val: LabeledBatch
    let weightNames: [String]
    let bufferNames: [String]

    init() throws {
        fixture = try Fixture("search_small")
        let c = fixture.manifest.config
        var rng = RandomGenerator(seed: 1)
        let network = SearchNetwork(SearchConfiguration(inputChannels: c.input_channels, imageSize: c.height,
                                                        channels: c.C, layers: c.layers, classes: c.num_classes), rng: &rng)
        state = SearchState(network: network, learningRate: c.eta, momentum: c.weight_momentum, weightDecay: c.weight_decay,
                            alphaLearningRate: c.alpha_lr, alphaWeightDecay: c.alpha_weight_decay)
        weightNames = fixture.names(prefix: "weight.")
        bufferNames = fixture.names(prefix: "buffer.")
        state.weights.load(fixture.flat("weight.", weightNames))
        state.alphas.load(fixture.values("alpha.normal") + fixture.values("alpha.reduce"))
        state.buffers.load(fixture.flat("buffer.", bufferNames))
        train = LabeledBatch(images: fixture.tensor("input.train"), labels: fixture.manifest.labels_train)
        val = LabeledBatch(images: fixture.tensor("input.val"), labels: fixture.manifest.labels_val)
    }

    @Test func parameterNamesShapesAndOrderAreTheOfficialOnes() {
        #expect(state.weights.entries.map(\.name) == weightNames)
        #expect(state.weights.entries.map(\.shape) == weightNames.map { fixture.index["weight." + $0]!.shape })
        #expect(state.buffers.entries.map(\.name) == bufferNames)
    }

    @Test func forwardLossAndEveryGradientMatchPyTorch() {
        let (loss, logits) = state.computeGradients(train, weights: true, alphas: true)
        expectParity("logits (train mode)", logits.values, fixture.values("logits.train"))
        #expect(abs(Double(loss) - fixture.manifest.scalars["loss.train"]!) < 1e-5)
        expectParity("weight gradients", Array(state.weights.grads!), fixture.flat("grad.weight.", weightNames))
        for (i, name) in weightNames.enumerated() {
            let e = state.weights.entries[i]
            let mine = Array(state.weights.grads![e.offset..<(e.offset + e.count)])
            let theirs = fixture.values("grad.weight." + name)
            if theirs.contains(where: { $0 != 0 }) {
                #expect(relativeError(mine, theirs) < 1e-3, "gradient of \(name)")
            }
        }
        expectParity("alpha gradients", Array(state.alphas.grads!), fixture.values("grad.alpha.normal") + fixture.values("grad.alpha.reduce"))
        expectParity("BN running statistics", state.buffers.snapshot(), fixture.flat("buffer_after.", bufferNames))
    }

    @Test func evaluationModeUsesRunningStatisticsLikePyTorch() {
        state.computeGradients(train, weights: false, alphas: false)   // one train-mode forward updates BN
        state.network.eval()
        let logits = state.network(val.images)
        expectParity("logits (eval mode)", logits.values, fixture.values("logits.eval"))
    }

    @Test func firstOrderAlphaGradientMatchesPyTorch() {
        let architect = Architect(state: state, parallel: DataParallel(communicator: SingleProcessCommunicator()))
        let weightsBefore = state.weights.snapshot(), buffersBefore = state.buffers.snapshot()
        architect.step(train: train, val: val, learningRate: fixture.manifest.config.eta, secondOrder: false)
        // The step leaves dL_val(w, alpha)/dalpha in the alpha gradients (Adam does not change them).
        expectParity("first-order alpha gradient", Array(state.alphas.grads!),
               fixture.values("first_order.alpha_grad.normal") + fixture.values("first_order.alpha_grad.reduce"))
        // It moves the alphas alone: the weights and the BN running statistics are as they were.
        #expect(state.weights.snapshot() == weightsBefore)
        #expect(state.buffers.snapshot() == buffersBefore)
    }

    @Test func secondOrderAlphaGradientMatchesPyTorch() {
        let architect = Architect(state: state, parallel: DataParallel(communicator: SingleProcessCommunicator()))
        presetMomentum()
        let weightsBefore = state.weights.snapshot()
        _ = architect.computeUnrolledGradient(train: train, val: val, eta: fixture.manifest.config.eta)
        expectParity("second-order alpha gradient", Array(state.alphas.grads!),
               fixture.values("second_order.alpha_grad.normal") + fixture.values("second_order.alpha_grad.reduce"))
        // The virtual step, the perturbation and the exact restore.
        #expect(state.weights.snapshot() == weightsBefore)
    }

    /// Every intermediate of the second-order gradient that the fixture stores (docs/algorithm.md
    /// §3.2), in the order the steps compute them, so that a difference names the first step that broke.
    @Test func secondOrderIntermediatesMatchPyTorchStepByStep() {
        let architect = Architect(state: state, parallel: DataParallel(communicator: SingleProcessCommunicator()))
        presetMomentum()
        let scalars = fixture.manifest.scalars
        let result = architect.unrolledGradient(train: [train], val: [val], eta: fixture.manifest.config.eta,
                                                keepingUnrolledWeights: true)
        func alphas(_ name: String) -> [Float] { fixture.values(name + ".normal") + fixture.values(name + ".reduce") }
        // 1. The virtual step.
        #expect(abs(Double(result.trainingLoss) - scalars["second_order.loss_train_at_w"]!) < 1e-5, "1. L_train(w)")
        expectParity("1. w' (virtual step)", result.unrolledWeights, fixture.flat("second_order.w_prime.", weightNames))
        for (i, name) in weightNames.enumerated() {
            let e = state.weights.entries[i]
            #expect(relativeError(Array(result.unrolledWeights[e.offset..<(e.offset + e.count)]),
                                  fixture.values("second_order.w_prime." + name)) < 1e-4, "1. w' of \(name)")
        }
        // 2. The gradients at w'.
        #expect(abs(Double(result.validationLoss) - scalars["second_order.loss_val_at_w_prime"]!) < 1e-5, "2. L_val(w')")
        expectParity("2. dalpha at w'", result.dalpha, alphas("second_order.dalpha"))
        // 3. The central difference around w.
        let vNorm = scalars["second_order.v_norm"]!, r = scalars["second_order.R"]!
        #expect(abs(result.directionNorm - vNorm) < 1e-4 * vNorm, "3. ||v||: \(result.directionNorm) vs \(vNorm)")
        #expect(abs(Double(result.r) - r) < 1e-4 * r, "3. R: \(result.r) vs \(r)")
        expectParity("3. g+ (at w + R v)", result.gPlus, alphas("second_order.g_plus"))
        expectParity("3. g- (at w - R v)", result.gMinus, alphas("second_order.g_minus"))
        expectParity("3. (g+ - g-) / 2R", result.hessianVectorProduct, alphas("second_order.hvp"), tolerance: 1e-4)
        // 4. The gradient.
        expectParity("4. second-order alpha gradient", result.gradient, alphas("second_order.alpha_grad"))
        #expect(Array(state.alphas.grads!) == result.gradient)
    }

    @Test(arguments: [false, true])
    func oneFullSearchStepMatchesPyTorch(secondOrder: Bool) {
        let architect = Architect(state: state, parallel: DataParallel(communicator: SingleProcessCommunicator()))
        presetMomentum()
        architect.step(train: train, val: val, learningRate: fixture.manifest.config.eta, secondOrder: secondOrder)
        state.computeGradients(train, weights: true, alphas: false)
        let norm = clipGradientNorm(state.weights, maxNorm: fixture.manifest.config.grad_clip)
        state.weightOptimizer.step()
        let prefix = secondOrder ? "step_second_order." : "step_first_order."
        #expect(abs(Double(norm) - fixture.manifest.scalars[prefix + "grad_norm"]!) < 1e-3)
        let order = secondOrder ? "second" : "first"
        expectParity("alphas after a \(order)-order step", state.alphas.snapshot(), fixture.values(prefix + "alpha.normal") + fixture.values(prefix + "alpha.reduce"))
        expectParity("weights after a \(order)-order step", state.weights.snapshot(), fixture.flat(prefix + "weight.", weightNames))
        expectParity("BN after a \(order)-order step", state.buffers.snapshot(), fixture.flat(prefix + "buffer.", bufferNames))
    }

    func presetMomentum() {
        state.weightOptimizer.momentumBuffer = fixture.flat("momentum.", weightNames)
        state.weightOptimizer.hasMomentum = true
    }
}
