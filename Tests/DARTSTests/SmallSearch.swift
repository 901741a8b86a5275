import Testing
@testable import DARTS
@testable import DartsTensor
@testable import Distributed
@testable import NN

/// A search state over a small network: 1 input channel, `size` x `size` images, 10 classes, DARTS'
/// optimizer settings (SGD lr 0.025, momentum 0.9, wd 3e-4; Adam lr 3e-4, betas (0.5, 0.999), wd 1e-3).
func smallSearchState(channels: Int = 4, layers: Int = 5, size: Int = 8, seed: UInt64 = 1) -> SearchState {
    var rng = RandomGenerator(seed: seed)
    let network = SearchNetwork(SearchConfiguration(inputChannels: 1, imageSize: size, channels: channels,
                                                    layers: layers, classes: 10), rng: &rng)
    return SearchState(network: network)
}

/// `count` images (count, 1, size, size) of N(0, 1) pixels with labels uniform in 0..<10.
func randomBatch(count: Int, size: Int = 8, seed: UInt64) -> LabeledBatch {
    var rng = RandomGenerator(seed: seed)
    let images = Tensor.randomNormal(shape: [count, 1, size, size], using: &rng)
    let labels = (0..<count).map { _ in Int32(rng.nextInt(below: 10)) }
    return LabeledBatch(images: images, labels: labels)
}

/// An architect over one process.
func singleProcessArchitect(_ state: SearchState) -> Architect {
    Architect(state: state, parallel: DataParallel(communicator: SingleProcessCommunicator()))
}

/// Fills the SGD momentum buffer with small random values, as after some weight steps.
func presetRandomMomentum(_ state: SearchState, seed: UInt64) {
    var rng = RandomGenerator(seed: seed)
    let sgd = state.weightOptimizer
    sgd.momentumBuffer = (0..<state.weights.count).map { _ in 0.01 * rng.nextNormal() }
    sgd.hasMomentum = true
}
