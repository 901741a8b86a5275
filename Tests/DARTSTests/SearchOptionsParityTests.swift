import Foundation
import Testing
import TestSupport
@testable import DARTS
@testable import DartsTensor
@testable import Distributed
@testable import NN

/// The search network with --partial-channels 2 and --auxiliary-skip (docs/algorithm.md §12)
/// against scripts/torch_reference.py (fixture search_options, written by make_fixtures.py):
/// logits, every gradient (weights, alphas, betas), both architecture gradients, and the state
/// after one full first- and second-order step, each within 1e-4; and the same architecture
/// gradients and step with beta-DARTS' term (--arch-regularization beta, docs/algorithm.md §11.2).
@Suite struct SearchOptionsParityTests {
    let fixture: Fixture
    let state: SearchState
    let train: LabeledBatch
    let val: LabeledBatch
    let weightNames: [String]
    /// beta-DARTS' LAMBDA of the fixture's beta_reg.* tensors.
    let regularizationWeight: Float
    static let archNames = ["alphas_normal", "alphas_reduce", "betas_normal", "betas_reduce"]

    init() throws {
        fixture = try Fixture("search_options")
        let folder = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("search_options.json")))
            as! [String: Any]
        let extra = json["config"] as! [String: Any]
        let c = fixture.manifest.config
        var config = SearchConfiguration(inputChannels: c.input_channels, imageSize: c.height, channels: c.C, layers: c.layers,
                                         classes: c.num_classes)
        config.partialChannels = extra["partial_channels"] as! Int
        config.auxiliarySkip = extra["auxiliary_skip"] as! Bool
        var rng = RandomGenerator(seed: 1)
        let network = SearchNetwork(config, rng: &rng)
        network.auxiliarySkipWeight = Float(extra["aux_skip_weight"] as! Double)
        regularizationWeight = Float(extra["arch_regularization_weight"] as! Double)
        state = SearchState(network: network, learningRate: c.eta, momentum: c.weight_momentum, weightDecay: c.weight_decay,
                            alphaLearningRate: c.alpha_lr, alphaWeightDecay: c.alpha_weight_decay)
        weightNames = (json["weight_table"] as! [[Any]]).map { $0[0] as! String }
        state.weights.load(fixture.values("weight"))
        state.alphas.load(Self.arch(fixture, "arch"))
        state.buffers.load(fixture.values("buffer"))
        train = LabeledBatch(images: fixture.tensor("input.train"), labels: fixture.manifest.labels_train)
        val = LabeledBatch(images: fixture.tensor("input.val"), labels: fixture.manifest.labels_val)
    }

    /// The four architecture tensors of a group, in arch_parameters() order (the alpha arena's).
    static func arch(_ fixture: Fixture, _ prefix: String) -> [Float] {
        archNames.flatMap { fixture.values(prefix + "." + $0) }
    }
    func arch(_ prefix: String) -> [Float] { Self.arch(fixture, prefix) }

    @Test func parameterNamesAndOrderAreTheReferenceOnes() {
        #expect(state.weights.entries.map(\.name) == weightNames)
        #expect(state.alphas.entries.map(\.name) == Self.archNames)
    }

    @Test func forwardLossAndEveryGradientMatchPyTorch() {
        let (loss, logits) = state.computeGradients(train, weights: true, alphas: true)
        expectParity("logits (train mode)", logits.values, fixture.values("logits.train"))
        #expect(abs(Double(loss) - fixture.manifest.scalars["loss.train"]!) < 1e-5)
        expectParity("weight gradients", Array(state.weights.grads!), fixture.values("grad.weight"))
        expectParity("alpha and beta gradients", Array(state.alphas.grads!), arch("grad.arch"))
        let betas = state.alphas.entries[2].offset
        expectParity("beta gradients", Array(state.alphas.grads![betas...]), Array(arch("grad.arch")[betas...]))
    }

    @Test(arguments: [false, true])
    func architectureGradientMatchesPyTorch(secondOrder: Bool) {
        let architect = Architect(state: state, parallel: DataParallel(communicator: SingleProcessCommunicator()))
        presetMomentum()
        architect.step(train: train, val: val, learningRate: fixture.manifest.config.eta, secondOrder: secondOrder)
        expectParity("\(secondOrder ? "second" : "first")-order alpha and beta gradient", Array(state.alphas.grads!),
               arch(secondOrder ? "second_order.arch_grad" : "first_order.arch_grad"))
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
        expectParity("alphas and betas after a \(order)-order step", state.alphas.snapshot(), arch(prefix + "arch"))
        expectParity("weights after a \(order)-order step", state.weights.snapshot(), fixture.values(prefix + "weight"))
        expectParity("BN after a \(order)-order step", state.buffers.snapshot(), fixture.values(prefix + "buffer"))
    }

    /// With the term at LAMBDA: the gradient the architect leaves (the term on the alpha matrices
    /// only, none on the betas), and the alphas and betas after its Adam step, which a full search
    /// step takes before the weight step.
    @Test(arguments: [false, true])
    func betaRegularizedArchitectureGradientAndStepMatchPyTorch(secondOrder: Bool) {
        let architect = Architect(state: state, parallel: DataParallel(communicator: SingleProcessCommunicator()))
        presetMomentum()
        let term = UnsafeBufferPointer(rebasing: state.alphas.values[0..<state.alphas.entries[2].offset])
        #expect(abs(Double(ArchRegularization.betaTerm(term, rowLength: Primitive.count))
                    - fixture.manifest.scalars["beta_reg.term"]!) < 1e-5)
        let order = secondOrder ? "second" : "first"
        architect.step(train: train, val: val, learningRate: fixture.manifest.config.eta, secondOrder: secondOrder,
                       regularization: .beta(weight: regularizationWeight))
        expectParity("\(order)-order gradient with the beta-DARTS term", Array(state.alphas.grads!),
                     arch("beta_reg.\(order)_order.arch_grad"))
        expectParity("alphas and betas after it (Adam)", state.alphas.snapshot(),
                     arch("beta_reg.step_\(order)_order.arch"))
        // The term is visible: without it the gradient and the step differ by far more than 1e-4.
        #expect(relativeError(arch("\(order)_order.arch_grad"), arch("beta_reg.\(order)_order.arch_grad")) > 1e-2)
        #expect(relativeError(arch("step_\(order)_order.arch"), arch("beta_reg.step_\(order)_order.arch")) > 1e-2)
    }

    @Test func genotypeWeighsEdgesByTheirBetasAsPyTorch() throws {
        state.alphas.load(arch("genotype.arch"))
        let folder = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("search_options.json")))
            as! [String: Any]
        #expect(state.network.genotype().dartsText == json["genotype"] as! String)
        #expect(json["genotype"] as! String != json["genotype_without_betas"] as! String, "the betas change the genotype")
    }

    func presetMomentum() {
        state.weightOptimizer.momentumBuffer = fixture.values("momentum")
        state.weightOptimizer.hasMomentum = true
    }
}
