import Testing
import TestSupport
@testable import DARTS
@testable import DartsTensor
@testable import NN

@Test func cifar10SearchNetworkHasTheOfficialParameterCount() {
    // The official log prints "param size = 1.930618MB" for C = 16, 8 layers, 10 classes.
    var rng = RandomGenerator(seed: 0)
    let network = SearchNetwork(SearchConfiguration(inputChannels: 3, imageSize: 32, channels: 16, layers: 8, classes: 10),
                                rng: &rng)
    #expect(network.namedParameters().map(\.tensor.count).reduce(0, +) == 1_930_618)
    #expect(network.namedAlphas.map(\.tensor.count).reduce(0, +) == 224)
    #expect(network.configuration.reductionCells == [2, 5])
    #expect(network.cells.modules.map(\.isReduction) == [false, false, true, false, false, true, false, false])
}

@Test func alphasAreTwoSmallFourteenByEightMatricesKeptOutOfTheWeights() {
    var rng = RandomGenerator(seed: 3)
    let network = SearchNetwork(SearchConfiguration(inputChannels: 1, imageSize: 8, channels: 2, layers: 3), rng: &rng)
    #expect(network.namedAlphas.map(\.name) == ["alphas_normal", "alphas_reduce"])
    #expect(network.alphaNormal.shape == [14, 8] && network.alphaReduce.shape == [14, 8])
    #expect(network.alphaNormal.requiresGrad && network.alphaReduce.requiresGrad)
    // Initialised to 1e-3 N(0, 1): small, not all equal.
    let all = network.alphaNormal.values + network.alphaReduce.values
    #expect(maxAbs(all) < 1e-2)
    #expect(Set(all).count > 200)
    let weights = network.namedParameters().map { ObjectIdentifier($0.tensor) }
    #expect(!weights.contains(ObjectIdentifier(network.alphaNormal)))
    #expect(!weights.contains(ObjectIdentifier(network.alphaReduce)))
}

@Test func reductionCellsSitAtOneThirdAndTwoThirdsOfTheDepth() {
    for (layers, expected) in [(3, [1, 2]), (5, [1, 3]), (8, [2, 5]), (20, [6, 13])] {
        #expect(SearchConfiguration(inputChannels: 1, imageSize: 8, layers: layers).reductionCells == expected)
    }
    var rng = RandomGenerator(seed: 4)
    let network = SearchNetwork(SearchConfiguration(inputChannels: 1, imageSize: 28, channels: 4, layers: 5), rng: &rng)
    #expect(network.cells.count == 5)
    #expect(network.cells.modules.map(\.isReduction) == [false, true, false, true, false])
}

@Test func networkMapsA28x28BatchToFiniteLogitsOfShapeBatchByClasses() {
    var rng = RandomGenerator(seed: 5)
    let network = SearchNetwork(SearchConfiguration(inputChannels: 1, imageSize: 28, channels: 4, layers: 5, classes: 10),
                                rng: &rng)
    let x = Tensor.randomNormal(shape: [2, 1, 28, 28], using: &rng)
    let logits = network(x)
    #expect(logits.shape == [2, 10])
    #expect(logits.values.allSatisfy { $0.isFinite })
    #expect(logits.values[0..<10] != logits.values[10..<20])   // the two images give different logits
    let loss = network.loss(x, labels: [3, 7])
    #expect(loss.scalar.isFinite && loss.scalar > 0)
}

@Test func cellChannelsDoubleAtEachReduction() {
    // Stem 3C, then 4C per normal cell output, 8C after the first reduction, 16C after the second.
    var rng = RandomGenerator(seed: 6)
    let network = SearchNetwork(SearchConfiguration(inputChannels: 1, imageSize: 8, channels: 2, layers: 5, classes: 10),
                                rng: &rng)
    let shapes = Dictionary(uniqueKeysWithValues: network.namedParameters().map { ($0.name, $0.tensor.shape) })
    #expect(shapes["stem.0.weight"] == [6, 1, 3, 3])
    #expect(shapes["stem.1.weight"] == [6])
    #expect(shapes["cells.0.preprocess0.op.1.weight"] == [2, 6, 1, 1])
    #expect(shapes["cells.1.preprocess1.op.1.weight"] == [4, 8, 1, 1])
    #expect(shapes["cells.2.preprocess0.conv_1.weight"] == [2, 8, 1, 1])   // FactorizedReduce after a reduction
    #expect(shapes["cells.3.preprocess1.op.1.weight"] == [8, 16, 1, 1])
    #expect(shapes["classifier.weight"] == [10, 32])
}

/// Activation recomputation changes where the edges' intermediate tensors live, not the numbers:
/// the same loss, logits, batch-norm statistics and weight and alpha gradients up to the order of
/// floating-point sums (the recorded network sums all of a node's terms at once, the recomputed
/// one edge by edge); a second-order architecture step lands on the same alphas.
@Test func recomputedEdgesGiveTheGradientsOfTheRecordedNetwork() {
    let plain = smallSearchState(channels: 4, layers: 5, seed: 3)
    let recomputing = smallSearchState(channels: 4, layers: 5, seed: 3)
    recomputing.network.recomputesActivations = true
    #expect(recomputing.network.recomputesActivations && !plain.network.recomputesActivations)
    let batch = randomBatch(count: 4, seed: 12)

    let a = plain.computeGradients(batch, weights: true, alphas: true)
    let b = recomputing.computeGradients(batch, weights: true, alphas: true)
    #expect(abs(a.loss - b.loss) <= 1e-6 * abs(a.loss))
    #expect(maxAbs(zip(a.logits.values, b.logits.values).map { $0 - $1 }) <= 1e-5 * maxAbs(a.logits.values))
    #expect(maxAbs(zip(plain.buffers.snapshot(), recomputing.buffers.snapshot()).map { $0 - $1 }) <= 1e-6)
    for (x, y) in [(Array(plain.weights.grads!), Array(recomputing.weights.grads!)),
                   (Array(plain.alphas.grads!), Array(recomputing.alphas.grads!))] {
        let scale = maxAbs(x)
        #expect(scale > 0)
        #expect(maxAbs(zip(x, y).map { $0 - $1 }) <= 1e-5 * scale)
    }

    let train = randomBatch(count: 4, seed: 13), val = randomBatch(count: 4, seed: 14)
    _ = singleProcessArchitect(plain).step(train: train, val: val, learningRate: 0.025, secondOrder: true)
    _ = singleProcessArchitect(recomputing).step(train: train, val: val, learningRate: 0.025, secondOrder: true)
    #expect(maxAbs(zip(plain.alphas.snapshot(), recomputing.alphas.snapshot()).map { $0 - $1 }) <= 1e-6)
    #expect(plain.weights.snapshot() == recomputing.weights.snapshot())
    #expect(maxAbs(zip(plain.buffers.snapshot(), recomputing.buffers.snapshot()).map { $0 - $1 }) <= 1e-6)
}
