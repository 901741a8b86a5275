import DartsTensor
import Distributed
import NN

/// The architecture step of DARTS (Liu, Simonyan, Yang, ICLR 2019, §2.3; docs/algorithm.md §3):
/// the alphas move by Adam along the gradient of the validation loss, first order (eq. 6 with
/// xi = 0) or second order (eq. 7-8: unrolled one virtual SGD step, the Hessian-vector product by
/// finite differences).
///
/// Every gradient is averaged over ranks before it is used, so every rank takes the same step.
/// Optionally a regularization term joins the validation loss (beta-DARTS, Ye et al., CVPR 2022;
/// ``ArchRegularization``, docs/algorithm.md §11.2); its gradient is added after the averaging.
public final class Architect {
    public let state: SearchState
    public let parallel: DataParallel
    /// Scratch copies of the weights and BN statistics for the virtual step and the perturbations.
    private var savedWeights: [Float] = []
    private var savedBuffers: [Float] = []

    public init(state: SearchState, parallel: DataParallel) {
        self.state = state
        self.parallel = parallel
    }

    /// One architecture update on a single micro-batch per rank.
    @discardableResult
    public func step(train: LabeledBatch, val: LabeledBatch, learningRate eta: Float, secondOrder: Bool,
                     regularization: ArchRegularization = .none) -> Float {
        step(train: [train], val: [val], learningRate: eta, secondOrder: secondOrder, regularization: regularization)
    }

    /// One architecture update.
    /// - Parameters:
    ///   - train: this rank's shard of the training batch, as micro-batches (second-order terms).
    ///   - val: this rank's shard of the validation batch, as micro-batches.
    ///   - learningRate: eta, the current weight learning rate (second order).
    ///   - secondOrder: use the unrolled (second-order) gradient.
    ///   - regularization: a term added to the validation loss (``ArchRegularization``,
    ///     docs/algorithm.md §11.2); `.none` is the DARTS step, bit for bit.
    /// - Returns: the validation cross-entropy of this rank's shard (at w for first order, at w'
    ///   for second), WITHOUT the regularization term, so that it compares with a plain search.
    @discardableResult
    public func step(train: [LabeledBatch], val: [LabeledBatch], learningRate eta: Float, secondOrder: Bool,
                     regularization: ArchRegularization = .none) -> Float {
        let loss = computeGradient(train: train, val: val, learningRate: eta, secondOrder: secondOrder,
                                   regularization: regularization)
        Profiler.measure(.optimizer) { state.alphaOptimizer.step() }
        return loss
    }

    /// The gradient of an architecture update (``step(train:val:learningRate:secondOrder:regularization:)``
    /// without the Adam step), left in the alpha gradients. The regularization's gradient is added
    /// after the averaging over ranks: it is the same on every rank (the alphas are), and depends
    /// on the alphas alone, so in second order it adds to dalpha and leaves the Hessian term as it
    /// is (docs/algorithm.md §11.2).
    /// - Returns: this rank's validation cross-entropy, without the regularization term.
    @discardableResult
    public func computeGradient(train: [LabeledBatch], val: [LabeledBatch], learningRate eta: Float, secondOrder: Bool,
                                regularization: ArchRegularization = .none) -> Float {
        // The architect's forwards leave the batch-norm running statistics as they found them: only
        // the weight step's forward updates them (the same in first and second order).
        savedBuffers = state.buffers.snapshot()
        defer { state.buffers.load(savedBuffers) }
        let loss: Float
        if secondOrder {
            loss = computeUnrolledGradient(train: train, val: val, eta: eta)
        } else {
            loss = computeFirstOrderGradient(val: val)
        }
        // The term covers the two alpha matrices, the arena's first entries; PC-DARTS' edge betas
        // (--partial-channels) follow them and are not part of it (docs/algorithm.md §11.2).
        let matrices = state.alphas.entries.prefix { $0.name.hasPrefix("alphas_") }.reduce(0) { $0 + $1.count }
        regularization.addGradient(alphas: UnsafeMutableBufferPointer(rebasing: state.alphas.values[0..<matrices]),
                                   gradient: UnsafeMutableBufferPointer(rebasing: state.alphas.grads![0..<matrices]),
                                   rowLength: Primitive.count)
        return loss
    }

    /// grad_alpha = dL_val(w, alpha)/dalpha, the mean over ranks (docs/algorithm.md §3.1), into the
    /// alpha gradients. Returns this rank's validation loss at w.
    func computeFirstOrderGradient(val: [LabeledBatch]) -> Float {
        let loss = state.accumulateGradients(val, weights: false, alphas: true)
        parallel.average(state.alphas.grads!)
        return loss
    }

    /// grad_alpha = dL_val(w', alpha)/dalpha - eta (g+ - g-) / (2R), docs/algorithm.md §3.2 steps
    /// 1-4 (paper eq. 7-8), with every gradient the mean over ranks. Leaves the weights exactly as
    /// found (bit for bit) and the result in the alpha gradients; the caller
    /// (``step(train:val:learningRate:secondOrder:)``) restores the BN statistics. Returns this
    /// rank's validation loss at w'.
    func computeUnrolledGradient(train: LabeledBatch, val: LabeledBatch, eta: Float) -> Float {
        computeUnrolledGradient(train: [train], val: [val], eta: eta)
    }

    func computeUnrolledGradient(train: [LabeledBatch], val: [LabeledBatch], eta: Float) -> Float {
        unrolledGradient(train: train, val: val, eta: eta).validationLoss
    }

    /// What ``unrolledGradient(train:val:eta:keepingUnrolledWeights:)`` computed on the way, step by
    /// step (docs/algorithm.md §3.2), so that a test can tell which step differs from a reference.
    /// Every array but `unrolledWeights` is one the computation makes anyway.
    struct UnrolledGradient {
        /// Step 1: this rank's training loss at w (the virtual step's forward).
        var trainingLoss: Float
        /// Step 1: w' = w - eta (mu m + g + lambda w); empty unless asked for (a copy of every weight).
        var unrolledWeights: [Float]
        /// Step 2: this rank's validation loss at w'.
        var validationLoss: Float
        /// Step 2: dL_val(w', alpha)/dalpha, the mean over ranks.
        var dalpha: [Float]
        /// Step 3: ||v||_2 of v = dL_val(w', alpha)/dw' (the mean over ranks), and R = 0.01 / ||v||.
        var directionNorm: Double
        var r: Float
        /// Step 3: dL_train/dalpha at w + R v and at w - R v, each the mean over ranks.
        var gPlus: [Float]
        var gMinus: [Float]
        /// Step 3: (g+ - g-) / (2R).
        var hessianVectorProduct: [Float]
        /// Step 4: dalpha - eta (g+ - g-) / (2R), also left in the alpha gradients.
        var gradient: [Float]
    }

    /// Computes the second-order alpha gradient (see ``computeUnrolledGradient(train:val:eta:)``)
    /// and returns its intermediate results; w' is kept only when `keepingUnrolledWeights`.
    func unrolledGradient(train: [LabeledBatch], val: [LabeledBatch], eta: Float,
                          keepingUnrolledWeights: Bool = false) -> UnrolledGradient {
        let w = state.weights, a = state.alphas
        let n = w.count
        savedWeights = w.snapshot()

        // 1. Virtual step: w' = w - eta (mu m + g + lambda w), g the global training gradient.
        let trainingLoss = state.accumulateGradients(train, weights: true, alphas: false)
        parallel.average(w.grads!)
        let sgd = state.weightOptimizer
        let mu = sgd.hasMomentum ? sgd.momentum : 0
        let wd = sgd.weightDecay
        sgd.momentumBuffer.withUnsafeBufferPointer { m in
            for i in 0..<n { w.values[i] -= eta * (mu * m[i] + w.grads![i] + wd * savedWeights[i]) }
        }
        let unrolledWeights = keepingUnrolledWeights ? w.snapshot() : []
        // 2. At w': v = dL_val/dw', dalpha = dL_val/dalpha, both global.
        let loss = state.accumulateGradients(val, weights: true, alphas: true)
        parallel.average(w.grads!)
        parallel.average(a.grads!)
        let dalpha = a.snapshot(grads: true)
        let v = w.snapshot(grads: true)
        // 3. Finite-difference Hessian-vector product around the ORIGINAL w, R = 0.01 / ||v||,
        //    restoring w bit for bit afterwards.
        let norm = VectorMath.norm(n, v)
        let r = Float(0.01 / norm)
        // g+ and g- are each averaged over ranks before the difference (two 224-float allreduces):
        // the result is then bit-identical to one process accumulating the same micro-batches.
        let terms = centralDifferenceTerms(weights: w.values, original: savedWeights, direction: v, step: r) {
            state.accumulateGradients(train, weights: false, alphas: true)
            parallel.average(a.grads!)
            return a.snapshot(grads: true)
        }
        let hvp = terms.quotient
        // 4. grad_alpha = dalpha - eta (g+ - g-) / (2R).
        let grads = a.grads!
        for i in 0..<a.count { grads[i] = dalpha[i] - eta * hvp[i] }
        return UnrolledGradient(trainingLoss: trainingLoss, unrolledWeights: unrolledWeights, validationLoss: loss,
                                dalpha: dalpha, directionNorm: norm, r: r, gPlus: terms.plus, gMinus: terms.minus,
                                hessianVectorProduct: hvp, gradient: Array(grads))
    }
}

extension ParameterArena {
    /// A copy of the values, or of the gradients.
    func snapshot(grads: Bool) -> [Float] { grads ? Array(self.grads!) : snapshot() }
}
