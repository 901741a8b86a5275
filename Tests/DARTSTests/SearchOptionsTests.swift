import Foundation
import Testing
import TestSupport
@testable import DARTS
@testable import DartsTensor
@testable import Distributed
@testable import NN

/// A search state over a small network with PC-DARTS' partial channels K and DARTS-' auxiliary
/// skip (docs/algorithm.md §12).
func optionsSearchState(partialChannels k: Int, auxiliarySkip: Bool, channels: Int = 4, layers: Int = 3,
                        seed: UInt64 = 1) -> SearchState {
    var rng = RandomGenerator(seed: seed)
    var config = SearchConfiguration(inputChannels: 1, imageSize: 8, channels: channels, layers: layers, classes: 10)
    config.partialChannels = k
    config.auxiliarySkip = auxiliarySkip
    return SearchState(network: SearchNetwork(config, rng: &rng))
}

/// dL/dv_i by central differences (``centralDifference(weights:original:direction:step:gradient:)``
/// with a one-hot direction) for each index of `values`, L a scalar of those values.
func centralDifferenceGradient(_ values: UnsafeMutableBufferPointer<Float>, indices: [Int], step: Float,
                               loss: () -> Double) -> [Float] {
    let original = Array(values)
    let base = loss()
    return indices.map { i in
        var direction = [Float](repeating: 0, count: values.count)
        direction[i] = 1
        // The "gradient" differenced is the loss itself, less its value at the original point (in
        // double precision) so that the float32 difference keeps its digits.
        return centralDifference(weights: values, original: original, direction: direction, step: step) {
            [Float(loss() - base)]
        }[0]
    }
}

/// The largest difference between `analytic` and `numeric`, relative to the largest of `numeric`.
func gradientError(_ analytic: [Float], _ numeric: [Float]) -> Float {
    let scale = max(maxAbs(numeric), 1e-4)
    return maxAbs(zip(analytic, numeric).map { $0 - $1 }) / scale
}

@Suite struct SearchOptionsTests {
    /// Bypass channels and the shuffle, against the official code written out: cat(y, bypass),
    /// view (N, K, C / K, H, W), swap axes 1 and 2, flatten; the bypass max-pooled 2x2 at stride 2.
    @Test(arguments: [(2, false), (4, false), (2, true), (4, true)])
    func partialChannelMergeIsConcatenationThenChannelShuffle(groups k: Int, pooled: Bool) {
        let (n, c, h, w) = (2, 8, 6, 4)
        let (oh, ow) = pooled ? (h / 2, w / 2) : (h, w)
        var rng = RandomGenerator(seed: 5)
        let x = Tensor.randomNormal(shape: [n, c, h, w], using: &rng)
        let y = Tensor.randomNormal(shape: [n, c / k, oh, ow], using: &rng)
        let out = partialChannelMerge(y, bypassFrom: x, groups: k, pooled: pooled).values
        let xs = x.values, ys = y.values
        var cat = [Float](repeating: 0, count: n * c * oh * ow)
        for b in 0..<n { for ch in 0..<c { for i in 0..<oh { for j in 0..<ow {
            let value: Float
            if ch < c / k {
                value = ys[((b * (c / k) + ch) * oh + i) * ow + j]
            } else if pooled {
                let at = { (u: Int, v: Int) in xs[((b * c + ch) * h + 2 * i + u) * w + 2 * j + v] }
                value = max(max(at(0, 0), at(0, 1)), max(at(1, 0), at(1, 1)))
            } else {
                value = xs[((b * c + ch) * h + i) * w + j]
            }
            cat[((b * c + ch) * oh + i) * ow + j] = value
        } } } }
        var shuffled = [Float](repeating: 0, count: cat.count)
        let perGroup = c / k
        for b in 0..<n { for g in 0..<k { for q in 0..<perGroup {
            let from = (b * c + g * perGroup + q) * oh * ow, to = (b * c + q * k + g) * oh * ow
            for p in 0..<(oh * ow) { shuffled[to + p] = cat[from + p] }
        } } }
        #expect(out == shuffled)
    }

    /// The partial-channel mixed op (slice, operations, merge with the pooled bypass, shuffle) and
    /// the auxiliary skip (identity, or FactorizedReduce with its own weights at stride 2): the
    /// gradients of the input, of the coefficients (alphas' softmax and beta_skip) and of the
    /// auxiliary FactorizedReduce's weights against central differences.
    @Test(arguments: [(2, 1, true), (2, 2, true), (1, 2, true), (4, 2, false), (1, 1, true)])
    func mixedOpGradientsMatchCentralDifferences(partialChannels k: Int, stride: Int, auxiliarySkip: Bool) {
        var rng = RandomGenerator(seed: 17)
        let op = MixedOp(channels: 8, stride: stride, partialChannels: k, auxiliarySkip: auxiliarySkip, rng: &rng)
        let x = Tensor.randomNormal(shape: [3, 8, 6, 6], using: &rng)
        let coefficients = Tensor.randomUniform(shape: [MixedOp.auxiliarySkipIndex + 1], low: 0.2, high: 1, using: &rng)
        let skipWeight: Float? = auxiliarySkip ? 0.6 : nil
        if k == 1, let skipWeight { coefficients.data[MixedOp.auxiliarySkipIndex] = skipWeight }
        let edge = 3
        let probe = Tensor.randomNormal(shape: [3, 8, 6 / stride, 6 / stride], using: &rng).values
        func loss() -> Double {
            let y = Autograd.withoutRecording { op(x, weights: coefficients, edge: edge, skipWeight: skipWeight) }
            return zip(y.values, probe).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        let parameters = op.namedParameters().map(\.tensor)
        let auxiliary = op.auxiliarySkip?.namedParameters().map(\.tensor) ?? []
        for t in [x, coefficients] + parameters { t.requiresGrad = true; t.zeroGrad() }
        op(x, weights: coefficients, edge: edge, skipWeight: skipWeight).backward(seed: probe)

        func check(_ t: Tensor, _ indices: [Int], _ what: String) {
            let analytic = indices.map { t.gradient[$0] }
            let numeric = centralDifferenceGradient(UnsafeMutableBufferPointer(start: t.data, count: t.count),
                                                    indices: indices, step: 1e-3, loss: loss)
            let error = gradientError(analytic, numeric)
            #expect(error < 2e-2, "K=\(k) stride \(stride): \(what), relative error \(error)")
            #expect(maxAbs(numeric) > 0, "\(what): the gradient is not all zeros")
        }
        check(x, Array(Swift.stride(from: 0, to: x.count, by: 7)), "input")
        // This edge's row of alpha weights; and beta_skip when it is a coefficient.
        var rows = Array((edge * Primitive.count + 1)..<((edge + 1) * Primitive.count))
        if k == 1 && auxiliarySkip { rows.append(MixedOp.auxiliarySkipIndex) }
        check(coefficients, rows, "coefficients")
        for (i, w) in auxiliary.enumerated() { check(w, Array(0..<w.count), "auxiliary FactorizedReduce weight \(i)") }
        if stride == 2 && auxiliarySkip { #expect(auxiliary.count == 2) }
    }

    /// Edge normalization: d loss / d beta of the whole network (both cell types) against central
    /// differences; the betas are drawn larger than 1e-3 so that the softmax is not flat.
    @Test(arguments: [false, true])
    func edgeNormalizationBetaGradientMatchesCentralDifferences(auxiliarySkip: Bool) {
        let state = optionsSearchState(partialChannels: 2, auxiliarySkip: auxiliarySkip, seed: 4)
        let network = state.network
        network.auxiliarySkipWeight = 0.5
        var rng = RandomGenerator(seed: 8)
        for beta in [network.betaNormal!, network.betaReduce!] {
            beta.assign((0..<beta.count).map { _ in rng.nextNormal() })
        }
        let batch = randomBatch(count: 4, seed: 21)
        state.computeGradients(batch, weights: false, alphas: true)
        let entries = state.alphas.entries
        #expect(entries.map(\.name) == ["alphas_normal", "alphas_reduce", "betas_normal", "betas_reduce"])
        let betaIndices = Array(entries[2].offset..<(entries[3].offset + entries[3].count))
        let analytic = betaIndices.map { state.alphas.grads![$0] }
        let buffers = state.buffers.snapshot()
        // A step of 1e-3: at 1e-2 the second-order terms of the loss show (errors of several %).
        let numeric = centralDifferenceGradient(state.alphas.values, indices: betaIndices, step: 1e-3) {
            defer { state.buffers.load(buffers) }
            return Autograd.withoutRecording { Double(network.loss(batch.images, labels: batch.labels).scalar) }
        }
        let error = gradientError(analytic, numeric)
        print("edge normalization d/dbeta (auxiliary skip \(auxiliarySkip)): max relative error \(error)")
        #expect(error < 2e-2)
        #expect(maxAbs(numeric) > 1e-4)
        // Each node's betas enter through a softmax over its incoming edges: their gradients sum to 0.
        for cell in 0..<2 {
            for (node, n) in SearchNetwork.nodeInputs.enumerated() {
                let start = CellLayout.firstEdge(ofNode: node) + cell * CellLayout.edgeCount
                let sum = analytic[start..<(start + n)].reduce(0, +)
                #expect(abs(sum) <= 1e-5 * max(maxAbs(analytic), 1e-6) + 1e-7, "node \(node): d/dbeta sums to \(sum)")
            }
        }
    }

    /// --partial-channels 1 is the plain network: no betas, the same parameters, and after three
    /// search steps (first and second order) the same weights and alphas, bit for bit.
    @Test func partialChannelsOneIsThePlainNetworkBitForBit() {
        let plain = smallSearchState(channels: 4, layers: 5, seed: 9)
        let one = optionsSearchState(partialChannels: 1, auxiliarySkip: false, channels: 4, layers: 5, seed: 9)
        #expect(one.network.betaNormal == nil && one.network.betaReduce == nil)
        #expect(one.alphas.entries == plain.alphas.entries && one.weights.entries == plain.weights.entries)
        for (step, secondOrder) in [(0, false), (1, true), (2, false)] {
            for state in [plain, one] {
                let train = randomBatch(count: 4, seed: UInt64(30 + step)), val = randomBatch(count: 4, seed: UInt64(40 + step))
                singleProcessArchitect(state).step(train: train, val: val, learningRate: 0.025, secondOrder: secondOrder)
                state.computeGradients(train, weights: true, alphas: false)
                clipGradientNorm(state.weights, maxNorm: 5)
                state.weightOptimizer.step()
            }
        }
        #expect(plain.weights.snapshot() == one.weights.snapshot())
        #expect(plain.alphas.snapshot() == one.alphas.snapshot())
        #expect(plain.buffers.snapshot() == one.buffers.snapshot())
    }

    /// Betas exist only with partial channels, after the alphas; the auxiliary skip adds weights
    /// (the FactorizedReduce of stride-2 edges) but no architecture parameter.
    @Test func betasAndAuxiliarySkipParameters() {
        let pc = optionsSearchState(partialChannels: 2, auxiliarySkip: false)
        #expect(pc.alphas.count == 224 + 28)
        let aux = optionsSearchState(partialChannels: 1, auxiliarySkip: true)
        let plain = optionsSearchState(partialChannels: 1, auxiliarySkip: false)
        #expect(aux.alphas.entries == plain.alphas.entries)
        let auxNames = aux.weights.entries.map(\.name).filter { $0.contains("auxiliary_skip") }
        // 2 reduction cells x 8 stride-2 edges (from s0 and s1 into each node) x 2 convolutions.
        #expect(auxNames.count == 2 * 8 * 2)
        #expect(auxNames.allSatisfy { $0.hasSuffix("conv_1.weight") || $0.hasSuffix("conv_2.weight") })
        #expect(aux.weights.count > plain.weights.count)
        // The partial-channel network is cheaper: 1/K of the operations' channels.
        #expect(pc.weights.count < plain.weights.count)
    }

    /// The genotype ranks a node's edges by softmax(alpha) x the edge's weight: betas can change
    /// which edges are kept, never which operation an edge gets.
    @Test func genotypeRanksEdgesByAlphaTimesEdgeWeight() {
        let state = optionsSearchState(partialChannels: 2, auxiliarySkip: true)
        let network = state.network
        // Node 1 (edges 2, 3, 4): edge 2 has the strongest operation...
        var alphas = [Float](repeating: 0, count: CellLayout.edgeCount * Primitive.count)
        for edge in 0..<CellLayout.edgeCount { alphas[edge * Primitive.count + Primitive.sepConv3x3.index] = 1 }
        alphas[2 * Primitive.count + Primitive.maxPool3x3.index] = 3
        alphas[3 * Primitive.count + Primitive.dilConv5x5.index] = 2
        network.alphaNormal.assign(alphas)
        network.alphaReduce.assign(alphas)
        network.betaNormal!.assign([Float](repeating: 0, count: 14))
        network.betaReduce!.assign([Float](repeating: 0, count: 14))
        let flat = network.genotype()
        // (Edges 2, 3, 4 leave states 0, 1, 2.)
        #expect(flat.normal[2] == .init(.maxPool3x3, 0) && flat.normal[3] == .init(.dilConv5x5, 1))
        // ...but its edge weight is small: edges 3 and 4 are kept, with their own operations.
        var betas = [Float](repeating: 0, count: 14)
        betas[2] = -4
        network.betaNormal!.assign(betas)
        let weighted = network.genotype()
        #expect(weighted.normal[2] == .init(.dilConv5x5, 1) && weighted.normal[3] == .init(.sepConv3x3, 2))
        #expect(weighted.reduce == flat.reduce)
        #expect(!(weighted.normal + weighted.reduce).contains { $0.operation == .none })
        // Edge weights: a softmax per node.
        let e = edgeWeights(network.betaNormal!)
        #expect(e.count == 14 && abs(e[0] + e[1] - 1) < 1e-6 && abs(e[2] + e[3] + e[4] - 1) < 1e-6)
    }

    /// beta_skip = 1 - s / (S - 1): 1 at the first step, 0 at the last.
    @Test func auxiliarySkipDecaysLinearlyOverTheSteps() {
        #expect(AuxiliarySkipSchedule.weight(step: 0, steps: 5) == 1)
        #expect(AuxiliarySkipSchedule.weight(step: 2, steps: 5) == 0.5)
        #expect(AuxiliarySkipSchedule.weight(step: 4, steps: 5) == 0)
        #expect(AuxiliarySkipSchedule.weight(step: 0, steps: 1) == 1)
        #expect(AuxiliarySkipSchedule.weight(step: 9, steps: 5) == 0)
    }

    /// Recomputed edges (--recompute) include the partial-channel merge, the edge normalization and
    /// the auxiliary skip: the same loss and gradients up to the order of sums.
    @Test(arguments: [(2, true), (1, true), (4, false)])
    func recomputedEdgesWithTheOptionsGiveTheRecordedGradients(partialChannels k: Int, auxiliarySkip: Bool) {
        let plain = optionsSearchState(partialChannels: k, auxiliarySkip: auxiliarySkip, seed: 6)
        let recomputing = optionsSearchState(partialChannels: k, auxiliarySkip: auxiliarySkip, seed: 6)
        recomputing.network.recomputesActivations = true
        for s in [plain, recomputing] { s.network.auxiliarySkipWeight = 0.4 }
        let batch = randomBatch(count: 4, seed: 22)
        let a = plain.computeGradients(batch, weights: true, alphas: true)
        let b = recomputing.computeGradients(batch, weights: true, alphas: true)
        #expect(abs(a.loss - b.loss) <= 1e-6 * abs(a.loss))
        #expect(maxAbs(zip(plain.buffers.snapshot(), recomputing.buffers.snapshot()).map { $0 - $1 }) <= 1e-6)
        for (x, y) in [(Array(plain.weights.grads!), Array(recomputing.weights.grads!)),
                       (Array(plain.alphas.grads!), Array(recomputing.alphas.grads!))] {
            #expect(maxAbs(x) > 0)
            #expect(maxAbs(zip(x, y).map { $0 - $1 }) <= 1e-5 * maxAbs(x))
        }
    }
}
