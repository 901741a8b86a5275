import DartsTensor
import Distributed
import NN

/// The architecture step of DARTS (paper §2.3, official cnn/architect.py): the alphas move by Adam
/// along the gradient of the validation loss, first order (eq. 6 with xi = 0) or second order
/// (eq. 7-8: unrolled one virtual SGD step, the Hessian-vector product by finite differences).
///
/// Every gradient is averaged over ranks before it is used, so every rank takes the same step.
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
    public func step(train: LabeledBatch, val: LabeledBatch, learningRate eta: Float, secondOrder: Bool) -> Float {
        step(train: [train], val: [val], learningRate: eta, secondOrder: secondOrder)
    }

    /// One architecture update.
    /// - Parameters:
    ///   - train: this rank's shard of the training batch, as micro-batches (second-order terms).
    ///   - val: this rank's shard of the validation batch, as micro-batches.
    ///   - learningRate: eta, the current weight learning rate (second order).
    ///   - secondOrder: use the unrolled (second-order) gradient.
    /// - Returns: the validation loss of this rank's shard (at w for first order, at w' for second).
    @discardableResult
    public func step(train: [LabeledBatch], val: [LabeledBatch], learningRate eta: Float, secondOrder: Bool) -> Float {
        // The architect's forwards leave the batch-norm running statistics as they found them: only
        // the weight step's forward updates them (the same in first and second order).
        savedBuffers = state.buffers.snapshot()
        defer { state.buffers.load(savedBuffers) }
        let loss: Float
        if secondOrder {
            loss = computeUnrolledGradient(train: train, val: val, eta: eta)
        } else {
            loss = state.accumulateGradients(val, weights: false, alphas: true)
            parallel.average(state.alphas.grads!)
        }
        Profiler.measure(.optimizer) { state.alphaOptimizer.step() }
        return loss
    }

    /// grad_alpha = dL_val(w', alpha)/dalpha - eta (g+ - g-) / (2R), DARTS.md §2 steps 1-4, with
    /// every gradient the mean over ranks. Leaves the weights exactly as found (bit for bit) and the
    /// result in the alpha gradients; the caller (``step(train:val:learningRate:secondOrder:)``)
    /// restores the BN statistics.
    func computeUnrolledGradient(train: LabeledBatch, val: LabeledBatch, eta: Float) -> Float {
        computeUnrolledGradient(train: [train], val: [val], eta: eta)
    }

    func computeUnrolledGradient(train: [LabeledBatch], val: [LabeledBatch], eta: Float) -> Float {
        let w = state.weights, a = state.alphas
        let n = w.count
        savedWeights = w.snapshot()

        // 1. Virtual step: w' = w - eta (mu m + g + lambda w), g the global training gradient.
        state.accumulateGradients(train, weights: true, alphas: false)
        parallel.average(w.grads!)
        let sgd = state.weightOptimizer
        let mu = sgd.hasMomentum ? sgd.momentum : 0
        let wd = sgd.weightDecay
        sgd.momentumBuffer.withUnsafeBufferPointer { m in
            for i in 0..<n { w.values[i] -= eta * (mu * m[i] + w.grads![i] + wd * savedWeights[i]) }
        }
        // 2. At w': v = dL_val/dw', dalpha = dL_val/dalpha, both global.
        let loss = state.accumulateGradients(val, weights: true, alphas: true)
        parallel.average(w.grads!)
        parallel.average(a.grads!)
        let dalpha = a.snapshot(grads: true)
        let v = w.snapshot(grads: true)
        // 3. Finite-difference Hessian-vector product around the ORIGINAL w, R = 0.01 / ||v||,
        //    restoring w bit for bit afterwards.
        let r = Float(0.01 / VectorMath.norm(n, v))
        // g+ and g- are each averaged over ranks before the difference (two 224-float allreduces):
        // the result is then bit-identical to one process accumulating the same micro-batches.
        let hvp = centralDifference(weights: w.values, original: savedWeights, direction: v, step: r) {
            state.accumulateGradients(train, weights: false, alphas: true)
            parallel.average(a.grads!)
            return a.snapshot(grads: true)
        }
        // 4. grad_alpha = dalpha - eta (g+ - g-) / (2R).
        let grads = a.grads!
        for i in 0..<a.count { grads[i] = dalpha[i] - eta * hvp[i] }
        return loss
    }
}

extension ParameterArena {
    /// A copy of the values, or of the gradients.
    func snapshot(grads: Bool) -> [Float] { grads ? Array(self.grads!) : snapshot() }
}
