import DartsTensor
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

    /// Builds the arenas over `network`; optimizer defaults are those of docs/algorithm.md §3 and §4.
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
        var logits: Tensor!
        let loss = accumulateGradients([batch], weights: wantWeights, alphas: wantAlphas) { logits = $0 }
        return (loss, logits)
    }

    /// Gradient accumulation over micro-batches: the gradient of the mean of the micro-batches'
    /// mean losses, (1/K) sum_k dL_k, as K ranks holding one micro-batch each would average it.
    /// Batch norm uses each micro-batch's own statistics, as each rank does.
    /// - Parameter observe: receives each micro-batch's logits (N_k, classes).
    /// - Returns: the mean of the micro-batch losses.
    @discardableResult
    public func accumulateGradients(_ microBatches: [LabeledBatch], weights wantWeights: Bool, alphas wantAlphas: Bool,
                                    observe: (Tensor) -> Void = { _ in }) -> Float {
        precondition(!microBatches.isEmpty)
        network.train()
        weights.requiresGrad = wantWeights
        alphas.requiresGrad = wantAlphas
        defer {
            weights.requiresGrad = true
            alphas.requiresGrad = true
        }
        let arenas = (wantWeights ? [weights] : []) + (wantAlphas ? [alphas] : [])
        return accumulateMicroBatches(microBatches.count, arenas: arenas) { k in
            let (logits, loss) = Profiler.measure(.forward) { () -> (Tensor, Tensor) in
                let logits = network(microBatches[k].images)
                return (logits, crossEntropy(logits, labels: microBatches[k].labels))
            }
            Profiler.measure(.backward) { loss.backward() }
            observe(logits)
            return loss.scalar
        }
    }
}

