import Testing
import TestSupport
@testable import DARTS
@testable import DartsTensor
@testable import Distributed
@testable import NN

/// The architecture step on a small network (C = 4, 5 layers, 8x8 images, batches of 4), one process.
@Suite struct ArchitectTests {
    let state = smallSearchState(channels: 4, layers: 5)
    let train = randomBatch(count: 4, seed: 10)
    let val = randomBatch(count: 4, seed: 11)
    let eta: Float = 0.025

    /// The first-order alpha gradient dL_val(w, alpha)/dalpha.
    func firstOrderGradient() -> [Float] {
        state.computeGradients(val, weights: false, alphas: true)
        return Array(state.alphas.grads!)
    }

    /// The virtual step of docs/algorithm.md §3.2 by hand: w' = w - eta (mu m + dL_train/dw + lambda w).
    func unrolledWeights(eta: Float) -> [Float] {
        let w = state.weights.snapshot()
        state.computeGradients(train, weights: true, alphas: false)
        let g = Array(state.weights.grads!)
        let m = state.weightOptimizer.momentumBuffer
        let mu: Float = state.weightOptimizer.hasMomentum ? 0.9 : 0
        let lambda: Float = 3e-4
        return (0..<w.count).map { w[$0] - eta * (mu * m[$0] + g[$0] + lambda * w[$0]) }
    }

    /// The alpha gradient of the training loss at `w`.
    func trainingAlphaGradient(at w: [Float]) -> [Float] {
        let saved = state.weights.snapshot()
        defer { state.weights.load(saved) }
        state.weights.load(w)
        state.computeGradients(train, weights: false, alphas: true)
        return Array(state.alphas.grads!)
    }

    // MARK: First order

    @Test func firstOrderStepMovesOnlyTheAlphasAndRestoresBatchNormStatistics() {
        state.computeGradients(train, weights: false, alphas: false)   // running statistics away from 0 and 1
        let weights = state.weights.snapshot(), alphas = state.alphas.snapshot(), buffers = state.buffers.snapshot()
        let expectedLoss = state.computeGradients(val, weights: false, alphas: true).loss
        let gradient = Array(state.alphas.grads!)
        state.buffers.load(buffers)

        let loss = singleProcessArchitect(state).step(train: train, val: val, learningRate: eta, secondOrder: false)

        #expect(loss == expectedLoss)
        #expect(state.alphas.snapshot() != alphas)
        #expect(state.weights.snapshot() == weights)
        #expect(state.buffers.snapshot() == buffers)
        #expect(state.alphaOptimizer.stepCount == 1)
        // Adam's first step: alpha -= lr g / (|g| + eps) with g = dL_val/dalpha + 1e-3 alpha, lr = 3e-4.
        let moved = state.alphas.snapshot()
        for i in alphas.indices {
            let g = gradient[i] + 1e-3 * alphas[i]
            let expected = alphas[i] - 3e-4 * g / (abs(g) + 1e-8)
            #expect(abs(moved[i] - expected) < 1e-7, "alpha \(i)")
        }
    }

    @Test func firstOrderStepLeavesTheWeightOptimizerAlone() {
        presetRandomMomentum(state, seed: 3)
        let momentum = state.weightOptimizer.momentumBuffer
        singleProcessArchitect(state).step(train: train, val: val, learningRate: eta, secondOrder: false)
        #expect(state.weightOptimizer.momentumBuffer == momentum)
        #expect(state.weightOptimizer.hasMomentum)
    }

    // MARK: Second order (docs/algorithm.md §9, faults 1-4)

    @Test func secondOrderGradientEqualsFirstOrderWhenEtaIsZero() {
        let first = firstOrderGradient()
        _ = singleProcessArchitect(state).computeUnrolledGradient(train: train, val: val, eta: 0)
        #expect(relativeError(Array(state.alphas.grads!), first) < 1e-6)
    }

    @Test func secondOrderGradientDiffersFromFirstOrderAtTheDartsLearningRate() {
        presetRandomMomentum(state, seed: 4)
        let first = firstOrderGradient()
        _ = singleProcessArchitect(state).computeUnrolledGradient(train: train, val: val, eta: eta)
        #expect(relativeError(Array(state.alphas.grads!), first) > 1e-3)
    }

    @Test func validationLossIsTakenAtTheUnrolledWeights() {
        // Fault 2: the virtual step must be applied. The returned loss is L_val(w'), with w' built
        // by hand from the momentum buffer, the training gradient and the weight decay.
        presetRandomMomentum(state, seed: 5)
        let w = state.weights.snapshot()
        let lossAtW = state.computeGradients(val, weights: false, alphas: true).loss
        let wPrime = unrolledWeights(eta: eta)
        #expect(wPrime != w)
        state.weights.load(wPrime)
        let lossAtWPrime = state.computeGradients(val, weights: false, alphas: true).loss
        state.weights.load(w)
        #expect(lossAtWPrime != lossAtW)

        let loss = singleProcessArchitect(state).computeUnrolledGradient(train: train, val: val, eta: eta)
        #expect(abs(loss - lossAtWPrime) <= 1e-6 * abs(lossAtWPrime))
        #expect(abs(loss - lossAtW) > 1e-4 * abs(lossAtW))
    }

    @Test func secondOrderGradientIsDalphaAtUnrolledWeightsMinusEtaTimesTheCentralDifference() {
        // docs/algorithm.md §3.2 steps 1-4 by hand: dalpha and v at w', R = 0.01 / ||v||,
        // grad = dalpha - eta (g+ - g-) / (2R) with g+- the training alpha gradients at w +- R v.
        // Fault 1 (dividing by 2 and multiplying by R) would miss this by a factor 4 R^2 ~ 1e-6.
        presetRandomMomentum(state, seed: 6)
        let w = state.weights.snapshot()
        let wPrime = unrolledWeights(eta: eta)
        state.weights.load(wPrime)
        state.computeGradients(val, weights: true, alphas: true)
        let dalpha = Array(state.alphas.grads!), v = Array(state.weights.grads!)
        state.weights.load(w)
        let r = Float(0.01 / v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
        let gPlus = trainingAlphaGradient(at: zip(w, v).map { $0 + r * $1 })
        let gMinus = trainingAlphaGradient(at: zip(w, v).map { $0 - r * $1 })
        let expected = (0..<dalpha.count).map { dalpha[$0] - eta * (gPlus[$0] - gMinus[$0]) / (2 * r) }

        _ = singleProcessArchitect(state).computeUnrolledGradient(train: train, val: val, eta: eta)
        #expect(relativeError(Array(state.alphas.grads!), expected) < 1e-5)
    }

    @Test func hessianTermIsNonzeroSoThePerturbationsWereApplied() {
        // Fault 3: g+ != g-. The hessian term is (dalpha - grad) / eta, dalpha taken at w'.
        presetRandomMomentum(state, seed: 7)
        let w = state.weights.snapshot()
        state.weights.load(unrolledWeights(eta: eta))
        state.computeGradients(val, weights: false, alphas: true)
        let dalpha = Array(state.alphas.grads!)
        state.weights.load(w)

        _ = singleProcessArchitect(state).computeUnrolledGradient(train: train, val: val, eta: eta)
        let hessianTerm = zip(dalpha, Array(state.alphas.grads!)).map { ($0 - $1) / eta }
        #expect(maxAbs(hessianTerm) > 1e-3 * maxAbs(dalpha) / eta)
    }

    @Test func unrolledGradientRestoresTheWeightsBitForBit() {
        // Fault 4: after the virtual step and both perturbations the weights are exactly w.
        presetRandomMomentum(state, seed: 9)
        let weights = state.weights.snapshot(), checksum = state.weights.checksum()
        let momentum = state.weightOptimizer.momentumBuffer
        _ = singleProcessArchitect(state).computeUnrolledGradient(train: train, val: val, eta: eta)
        #expect(state.weights.snapshot() == weights)
        #expect(state.weights.checksum() == checksum)
        #expect(state.weightOptimizer.momentumBuffer == momentum)
    }

    @Test func secondOrderStepRestoresWeightsAndBatchNormStatisticsBitForBit() {
        presetRandomMomentum(state, seed: 10)
        state.computeGradients(train, weights: false, alphas: false)   // running statistics away from 0 and 1
        let weights = state.weights.snapshot(), alphas = state.alphas.snapshot(), buffers = state.buffers.snapshot()
        let loss = singleProcessArchitect(state).step(train: train, val: val, learningRate: eta, secondOrder: true)
        #expect(loss.isFinite)
        #expect(state.weights.snapshot() == weights)
        #expect(state.buffers.snapshot() == buffers)
        #expect(state.alphas.snapshot() != alphas)
        #expect(state.alphaOptimizer.stepCount == 1)
        #expect(maxAbs(zip(state.alphas.snapshot(), alphas).map { $0 - $1 }) <= 3e-4 * 1.001)
    }
}
