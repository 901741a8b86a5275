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
        var archLoss: Float
        var loss: Float
        var correct: Int
        var gradientNorm: Float
    }

    /// - Parameters:
    ///   - afterBackward: sees (and may change, for fault injection) the local loss before the
    ///     gradients are averaged.
    ///   - beforeUpdate: sees the outcome after averaging and clipping, before the SGD update; a
    ///     throw stops the step with the weights untouched.
    func run(train: [LabeledBatch], val: [LabeledBatch], learningRate: Float,
             afterBackward: (inout Float) -> Void = { _ in },
             beforeUpdate: (Outcome) throws -> Void = { _ in }) rethrows -> Outcome {
        let archLoss = architect.step(train: train, val: val, learningRate: learningRate, secondOrder: secondOrder)
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
