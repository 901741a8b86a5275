import DARTS
import DartsTensor
import Distributed
import NN

/// One step of the alternating DARTS search (the paper's Algorithm 1; docs/algorithm.md §3, §4 and §8) on this rank's shard: the architecture
/// step on the val micro-batches, then the weight step on the train micro-batches (gradients
/// averaged over ranks, clipped to the global norm, SGD). Shared by the search and the benchmark.
struct SearchStep {
    let state: SearchState
    let architect: Architect
    let parallel: DataParallel
    let gradClip: Float
    let secondOrder: Bool

    /// What a step computed on this rank, and the norm of the averaged weight gradient.
    struct Outcome {
        /// The architect's validation cross-entropy (without a regularization term); nil when the
        /// step left the alphas alone (a warm-up epoch).
        var archLoss: Float?
        var loss: Float
        var correct: Int
        var gradientNorm: Float
    }

    /// - Parameters:
    ///   - architecture: whether the architecture step runs, and its regularization
    ///     (``SearchOptions/architectureUpdate(epoch:)``). Without an update the alphas, their
    ///     gradients and their Adam state are not touched, bit for bit.
    ///   - afterBackward: sees (and may change, for fault injection) the local loss before the
    ///     gradients are averaged.
    ///   - beforeUpdate: sees the outcome after averaging and clipping, before the SGD update; a
    ///     throw stops the step with the weights untouched.
    func run(train: [LabeledBatch], val: [LabeledBatch], learningRate: Float,
             architecture: ArchitectureUpdate = ArchitectureUpdate(),
             afterBackward: (inout Float) -> Void = { _ in },
             beforeUpdate: (Outcome) throws -> Void = { _ in }) rethrows -> Outcome {
        var archLoss: Float?
        if architecture.updatesAlphas {
            archLoss = architect.step(train: train, val: val, learningRate: learningRate, secondOrder: secondOrder,
                                      regularization: architecture.regularization)
        }
        var correct = 0
        var k = 0
        var loss = state.accumulateGradients(train, weights: true, alphas: false) { logits in
            correct += topKCorrect(logits, labels: train[k].labels).top1
            k += 1
        }
        afterBackward(&loss)
        parallel.average(state.weights.grads!)
        let norm = Profiler.measure(.optimizer) { clipGradientNorm(state.weights, maxNorm: gradClip) }
        let outcome = Outcome(archLoss: archLoss, loss: loss, correct: correct, gradientNorm: norm)
        try beforeUpdate(outcome)
        Profiler.measure(.optimizer) { state.weightOptimizer.step() }
        return outcome
    }
}

/// What the architecture step of a search step does (``SearchOptions/architectureUpdate(epoch:)``).
struct ArchitectureUpdate: Equatable {
    /// false in the warm-up epochs (docs/algorithm.md §11.1): no architecture step at all.
    var updatesAlphas = true
    /// The term added to the validation loss (docs/algorithm.md §11.2), at this epoch's weight.
    var regularization: ArchRegularization = .none
}
