import DartsTensor
import Distributed
import NN

/// A batch of images (N, C, H, W) with their class labels (N).
public struct LabeledBatch {
    public let images: Tensor
    public let labels: [Int32]
    public init(images: Tensor, labels: [Int32]) { self.images = images; self.labels = labels }
}

/// The state a search step updates, in flat arenas: the weights (with their SGD optimizer), the
/// alphas (with their Adam optimizer) and the batch-norm running statistics.
public final class SearchState {
    public let network: SearchNetwork
    public let weights: ParameterArena
    public let alphas: ParameterArena
    public let buffers: ParameterArena
    public let weightOptimizer: SGD
    public let alphaOptimizer: Adam

    /// Builds the arenas over `network`; optimizer defaults are DARTS.md §2's.
    public init(network: SearchNetwork, learningRate: Float = 0.025, momentum: Float = 0.9, weightDecay: Float = 3e-4,
                alphaLearningRate: Float = 3e-4, alphaWeightDecay: Float = 1e-3) {
        self.network = network
        weights = ParameterArena(network.namedParameters())
        alphas = ParameterArena(network.namedAlphas)
        buffers = ParameterArena(network.namedBuffers(), keepsGradients: false)
        weightOptimizer = SGD(arena: weights, learningRate: learningRate, momentum: momentum, weightDecay: weightDecay)
        alphaOptimizer = Adam(arena: alphas, learningRate: alphaLearningRate, beta1: 0.5, beta2: 0.999,
                              weightDecay: alphaWeightDecay)
    }

    /// Forward and backward on `batch` in training mode, computing gradients only for the arenas
    /// named (the others' backward work is skipped). Gradients of those arenas are zeroed first.
    /// - Returns: the mean loss and the logits (N, classes).
    @discardableResult
    public func computeGradients(_ batch: LabeledBatch, weights wantWeights: Bool, alphas wantAlphas: Bool) -> (loss: Float, logits: Tensor) {
        network.train()
        weights.requiresGrad = wantWeights
        alphas.requiresGrad = wantAlphas
        if wantWeights { weights.zeroGrad() }
        if wantAlphas { alphas.zeroGrad() }
        let logits = network(batch.images)
        let loss = crossEntropy(logits, labels: batch.labels)
        loss.backward()
        weights.requiresGrad = true
        alphas.requiresGrad = true
        return (loss.scalar, logits)
    }
}

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

    /// One architecture update.
    /// - Parameters:
    ///   - train: this rank's shard of the training batch (used by the second-order terms).
    ///   - val: this rank's shard of the validation batch.
    ///   - learningRate: eta, the current weight learning rate (second order).
    ///   - secondOrder: use the unrolled (second-order) gradient.
    /// - Returns: the validation loss of this rank's shard (at w for first order, at w' for second).
    @discardableResult
    public func step(train: LabeledBatch, val: LabeledBatch, learningRate eta: Float, secondOrder: Bool) -> Float {
        // The architect's forwards leave the batch-norm running statistics as they found them: only
        // the weight step's forward updates them (the same in first and second order).
        savedBuffers = state.buffers.snapshot()
        defer { state.buffers.load(savedBuffers) }
        let loss: Float
        if secondOrder {
            loss = computeUnrolledGradient(train: train, val: val, eta: eta)
        } else {
            loss = state.computeGradients(val, weights: false, alphas: true).loss
            parallel.average(state.alphas.grads!)
        }
        state.alphaOptimizer.step()
        return loss
    }

    /// grad_alpha = dL_val(w', alpha)/dalpha - eta (g+ - g-) / (2R), DARTS.md §2 steps 1-4, with
    /// every gradient the mean over ranks. Leaves the weights exactly as found (bit for bit) and the
    /// result in the alpha gradients; the caller (``step(train:val:learningRate:secondOrder:)``)
    /// restores the BN statistics.
    func computeUnrolledGradient(train: LabeledBatch, val: LabeledBatch, eta: Float) -> Float {
        let w = state.weights, a = state.alphas
        let n = w.count
        savedWeights = w.snapshot()

        // 1. Virtual step: w' = w - eta (mu m + g + lambda w), g the global training gradient.
        state.computeGradients(train, weights: true, alphas: false)
        parallel.average(w.grads!)
        let sgd = state.weightOptimizer
        let mu = sgd.hasMomentum ? sgd.momentum : 0
        let wd = sgd.weightDecay
        sgd.momentumBuffer.withUnsafeBufferPointer { m in
            for i in 0..<n { w.values[i] -= eta * (mu * m[i] + w.grads![i] + wd * savedWeights[i]) }
        }
        // 2. At w': v = dL_val/dw', dalpha = dL_val/dalpha, both global.
        let loss = state.computeGradients(val, weights: true, alphas: true).loss
        parallel.average(w.grads!)
        parallel.average(a.grads!)
        let dalpha = a.snapshot(grads: true)
        let v = w.snapshot(grads: true)
        // 3. Finite-difference Hessian-vector product around the ORIGINAL w.
        let norm = VectorMath.norm(n, v)
        let r = Float(0.01 / norm)
        for i in 0..<n { w.values[i] = savedWeights[i] + r * v[i] }
        state.computeGradients(train, weights: false, alphas: true)
        let gPlus = a.snapshot(grads: true)
        for i in 0..<n { w.values[i] = savedWeights[i] - r * v[i] }
        state.computeGradients(train, weights: false, alphas: true)
        let gMinus = a.snapshot(grads: true)
        // Restore w bit for bit (the caller restores the BN statistics).
        w.load(savedWeights)
        // 4. grad_alpha = dalpha - eta (g+ - g-) / (2R); (g+ - g-) is averaged over ranks (it is linear).
        let grads = a.grads!
        for i in 0..<a.count { grads[i] = gPlus[i] - gMinus[i] }
        parallel.average(grads)
        for i in 0..<a.count { grads[i] = dalpha[i] - eta * grads[i] / (2 * r) }
        return loss
    }
}

extension ParameterArena {
    /// A copy of the values, or of the gradients.
    func snapshot(grads: Bool) -> [Float] { grads ? Array(self.grads!) : snapshot() }
}
