import DARTS
import DartsTensor
import Distributed
import NN

/// One step of the alternating DARTS search (DARTS.md §2) on this rank's shard: the architecture
/// step on the val micro-batches, then the weight step on the train micro-batches (gradients
/// averaged over ranks, clipped to the global norm, SGD). Shared by the search and the benchmark.
struct SearchStep {
    let state: SearchState
    let architect: Architect
    let parallel: DataParallel
    let gradClip: Float
    let secondOrder: Bool

    /// - Returns: this rank's mean architect (val) loss, mean training loss and top-1 hits.
    func run(train: [LabeledBatch], val: [LabeledBatch], learningRate: Float) -> (archLoss: Float, loss: Float, correct: Int) {
        let archLoss = architect.step(train: train, val: val, learningRate: learningRate, secondOrder: secondOrder)
        var correct = 0
        var k = 0
        let loss = state.accumulateGradients(train, weights: true, alphas: false) { logits in
            correct += topKCorrect(logits, labels: train[k].labels).top1
            k += 1
        }
        parallel.average(state.weights.grads!)
        Profiler.measure(.optimizer) {
            clipGradientNorm(state.weights, maxNorm: gradClip)
            state.weightOptimizer.step()
        }
        return (archLoss, loss, correct)
    }
}
