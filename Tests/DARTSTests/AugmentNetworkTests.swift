import Testing
import TestSupport
@testable import DARTS
@testable import DartsTensor
@testable import NN

/// A small evaluation network: `inputChannels` x `size` x `size` images, 10 classes.
private func smallAugmentNetwork(inputChannels: Int = 1, size: Int = 28, channels: Int = 8, layers: Int = 5,
                                 auxiliary: Bool = true, genotype: Genotype = .dartsV2,
                                 seed: UInt64 = 1) throws -> AugmentNetwork {
    var rng = RandomGenerator(seed: seed)
    let config = AugmentConfiguration(inputChannels: inputChannels, imageSize: size, channels: channels,
                                      layers: layers, classes: 10, auxiliary: auxiliary)
    return try AugmentNetwork(config, genotype: genotype, rng: &rng)
}

private func parameterCount(_ module: Module) -> Int {
    module.namedParameters().map(\.tensor.count).reduce(0, +)
}

/// A genotype whose normal cell is only skip_connect (identities at stride 1).
private let skipOnlyNormal = Genotype(
    normal: [.init(.skipConnect, 0), .init(.skipConnect, 1), .init(.skipConnect, 0), .init(.skipConnect, 2),
             .init(.skipConnect, 1), .init(.skipConnect, 3), .init(.skipConnect, 2), .init(.skipConnect, 4)],
    reduce: Genotype.dartsV2.reduce)

@Suite struct AugmentNetworkTests {
    @Test func dartsV2OnCIFAR10HasTheOfficialParameterCountWithAndWithoutTheAuxiliaryHead() throws {
        var rng = RandomGenerator(seed: 0)
        let plain = try AugmentNetwork(AugmentConfiguration(inputChannels: 3, imageSize: 32, channels: 36, layers: 20,
                                                            classes: 10, auxiliary: false),
                                       genotype: .dartsV2, rng: &rng)
        let withHead = try AugmentNetwork(AugmentConfiguration(inputChannels: 3, imageSize: 32, channels: 36, layers: 20,
                                                               classes: 10, auxiliary: true),
                                          genotype: .dartsV2, rng: &rng)
        #expect(parameterCount(plain) == 3_349_342)
        #expect(parameterCount(withHead) - parameterCount(plain) == 476_426)
        #expect(parameterCount(withHead.auxiliaryHead!) == 476_426)
        #expect(withHead.configuration.reductionCells == [6, 13])
        #expect(withHead.configuration.auxiliaryCell == 13)
        #expect(withHead.cells.modules.enumerated().filter { $0.element.isReduction }.map(\.offset) == [6, 13])
        // The CIFAR head sees 8 x 8 and uses the official pool exactly.
        #expect(withHead.auxiliaryHead!.poolKernelSize == 5 && withHead.auxiliaryHead!.poolStride == 3)
    }

    @Test func parameterNamesShapesAndOrderFollowTheOfficialNetworkCIFAR() throws {
        var rng = RandomGenerator(seed: 0)
        let network = try AugmentNetwork(AugmentConfiguration(inputChannels: 3, imageSize: 32, channels: 36, layers: 20),
                                         genotype: .dartsV2, rng: &rng)
        let named = network.namedParameters()
        let names = named.map(\.name)
        #expect(Array(names.prefix(13)) == [
            "stem.0.weight", "stem.1.weight", "stem.1.bias",
            "cells.0.preprocess0.op.1.weight", "cells.0.preprocess0.op.2.weight", "cells.0.preprocess0.op.2.bias",
            "cells.0.preprocess1.op.1.weight", "cells.0.preprocess1.op.2.weight", "cells.0.preprocess1.op.2.bias",
            "cells.0._ops.0.op.1.weight", "cells.0._ops.0.op.2.weight", "cells.0._ops.0.op.3.weight",
            "cells.0._ops.0.op.3.bias",
        ])
        let shapes = Dictionary(uniqueKeysWithValues: named.map { ($0.name, $0.tensor.shape) })
        #expect(shapes["stem.0.weight"] == [108, 3, 3, 3])
        #expect(shapes["cells.0.preprocess0.op.1.weight"] == [36, 108, 1, 1])
        #expect(shapes["cells.0._ops.0.op.1.weight"] == [36, 1, 3, 3])          // sep_conv_3x3 depthwise
        #expect(shapes["cells.0._ops.7.op.1.weight"] == [36, 1, 3, 3])          // dil_conv_3x3 depthwise
        #expect(shapes["cells.6._ops.2.op.1.weight"] == nil)                    // reduce: skip_connect from node 0, identity
        #expect(shapes["cells.7.preprocess0.conv_1.weight"] == [36, 144, 1, 1]) // FactorizedReduce after a reduction
        #expect(shapes["cells.19.preprocess1.op.1.weight"] == [144, 576, 1, 1])
        #expect(shapes["auxiliary_head.features.2.weight"] == [128, 576, 1, 1])
        #expect(shapes["auxiliary_head.features.3.weight"] == [128])
        #expect(shapes["auxiliary_head.features.5.weight"] == [768, 128, 2, 2])
        #expect(shapes["auxiliary_head.features.6.bias"] == [768])
        #expect(shapes["auxiliary_head.classifier.weight"] == [10, 768])
        #expect(shapes["classifier.weight"] == [10, 576])
        // Registration order: cells, then auxiliary_head, then classifier (global_pooling has no parameters).
        let lastCell = names.lastIndex { $0.hasPrefix("cells.") }!
        let firstHead = names.firstIndex { $0.hasPrefix("auxiliary_head.") }!
        let lastHead = names.lastIndex { $0.hasPrefix("auxiliary_head.") }!
        #expect(lastCell < firstHead)
        #expect(Array(names[(lastHead + 1)...]) == ["classifier.weight", "classifier.bias"])
        #expect(network.children.map(\.name) == ["stem", "cells", "auxiliary_head", "global_pooling", "classifier"])
        // Every BN of the evaluation network is affine, and pools are bare (no BN after them).
        let modules = descendants(network)
        #expect(modules.compactMap { $0 as? BatchNorm2d }.allSatisfy { $0.weight != nil && $0.bias != nil })
        #expect(network.cells[6].ops.modules.map { $0 is MaxPool2d } == [true, true, false, true, true, false, false, true])
    }

    @Test func auxiliaryHeadPoolIsOfficialOn8x8AndGivesTwoByTwoOnEveryOtherSize() {
        #expect(AuxiliaryHead.poolGeometry(inputSize: 8) == (5, 3))
        #expect(AuxiliaryHead.poolGeometry(inputSize: 7) == (5, 2))
        #expect(AuxiliaryHead.poolGeometry(inputSize: 6) == (5, 1))
        #expect(AuxiliaryHead.poolGeometry(inputSize: 4) == (3, 1))
        #expect(AuxiliaryHead.poolGeometry(inputSize: 2) == (1, 1))
        for s in 2...64 {
            let (k, stride) = AuxiliaryHead.poolGeometry(inputSize: s)
            #expect((s - k) / stride + 1 == 2, "input \(s): pooled size is not 2")
            if (8...10).contains(s) {
                #expect(k == 5 && stride == 3, "input \(s): the official pool already gives 2 x 2")
            } else {
                #expect(stride <= k && k + stride == s, "input \(s): the two windows do not cover the map")
            }
        }
    }

    @Test func fashionMNISTSizedBatchGivesFiniteLogitsAndAuxiliaryLogitsOnlyInTraining() throws {
        let network = try smallAugmentNetwork(size: 28, layers: 5)
        #expect(network.auxiliaryHead!.poolKernelSize == 5 && network.auxiliaryHead!.poolStride == 2)   // 7 x 7 input
        var rng = RandomGenerator(seed: 2)
        let x = Tensor.randomNormal(shape: [3, 1, 28, 28], using: &rng)
        let (logits, auxiliary) = network(x)
        #expect(logits.shape == [3, 10])
        #expect(logits.values.allSatisfy { $0.isFinite })
        #expect(auxiliary?.shape == [3, 10])
        #expect(auxiliary?.values.allSatisfy { $0.isFinite } == true)
        network.eval()
        let (evalLogits, evalAuxiliary) = network(x)
        #expect(evalLogits.shape == [3, 10])
        #expect(evalLogits.values.allSatisfy { $0.isFinite })
        #expect(evalAuxiliary == nil)
    }

    @Test func cifarSizedBatchGivesFiniteLogitsAndTheOfficialAuxiliaryPath() throws {
        let network = try smallAugmentNetwork(inputChannels: 3, size: 32, layers: 6)
        #expect(network.configuration.reductionCells == [2, 4])
        #expect(network.auxiliaryHead!.poolKernelSize == 5 && network.auxiliaryHead!.poolStride == 3)   // 8 x 8 input
        var rng = RandomGenerator(seed: 3)
        let x = Tensor.randomNormal(shape: [2, 3, 32, 32], using: &rng)
        let (logits, auxiliary) = network(x)
        #expect(logits.shape == [2, 10])
        #expect(logits.values.allSatisfy { $0.isFinite })
        #expect(logits.values[0..<10] != logits.values[10..<20])
        #expect(auxiliary?.shape == [2, 10])
        #expect(auxiliary?.values.allSatisfy { $0.isFinite } == true)
    }

    @Test func networkWithoutAuxiliaryHeadNeverReturnsAuxiliaryLogits() throws {
        let network = try smallAugmentNetwork(layers: 5, auxiliary: false)
        #expect(!network.namedParameters().contains { $0.name.hasPrefix("auxiliary_head") })
        #expect(network.children.map(\.name) == ["stem", "cells", "global_pooling", "classifier"])
        var rng = RandomGenerator(seed: 4)
        let (logits, auxiliary) = network(Tensor.randomNormal(shape: [2, 1, 28, 28], using: &rng))
        #expect(logits.shape == [2, 10])
        #expect(auxiliary == nil)
    }

    @Test func dropPathWithProbabilityZeroLeavesTheTrainingForwardUnchangedAndDrawsNothing() throws {
        let network = try smallAugmentNetwork(size: 28, layers: 5, auxiliary: false)
        var rng = RandomGenerator(seed: 5)
        let x = Tensor.randomNormal(shape: [4, 1, 28, 28], using: &rng)
        let generator = network.dropPathGenerator
        network.dropPathProbability = 0
        let reference = network(x).logits.values
        #expect(network.dropPathGenerator == generator)
        // p > 0 in training draws masks and changes the output ...
        network.dropPathProbability = 0.3
        let dropped = network(x).logits.values
        #expect(network.dropPathGenerator != generator)
        #expect(dropped != reference)
        // ... and p = 0 again gives exactly the output without drop path (batch statistics in training).
        network.dropPathProbability = 0
        #expect(network(x).logits.values == reference)
        // In evaluation mode drop path is off whatever p is.
        network.eval()
        let evalReference = network(x).logits.values
        network.dropPathProbability = 0.3
        let afterEval = network.dropPathGenerator
        #expect(network(x).logits.values == evalReference)
        #expect(network.dropPathGenerator == afterEval)
    }

    @Test func dropPathZeroesWholeSamplesAndScalesTheKeptOnesByOneOverKeepProbability() {
        var rng = RandomGenerator(seed: 6)
        let x = Tensor.randomNormal(shape: [64, 2, 3, 3], using: &rng)
        let y = DropPath.apply(x, probability: 0.5, training: true, rng: &rng)
        let (xs, ys) = (x.values, y.values)
        var (kept, zeroed) = (0, 0)
        for n in 0..<64 {
            let range = (n * 18)..<((n + 1) * 18)
            if ys[range].allSatisfy({ $0 == 0 }) {
                zeroed += 1
            } else {
                #expect(Array(ys[range]) == xs[range].map { 2 * $0 }, "sample \(n) is neither dropped nor scaled by 2")
                kept += 1
            }
        }
        #expect(kept > 0 && zeroed > 0)
        // Off in evaluation and at p = 0: the input itself, no draws.
        let before = rng
        #expect(DropPath.apply(x, probability: 0.5, training: false, rng: &rng) === x)
        #expect(DropPath.apply(x, probability: 0, training: true, rng: &rng) === x)
        #expect(rng == before)
    }

    @Test func dropPathKeepsAboutOneMinusPOfTheSamples() {
        var rng = RandomGenerator(seed: 7)
        let mask = DropPath.keepMask(batch: 20_000, probability: 0.2, rng: &rng)
        #expect(Set(mask) == [0, 1.25])
        let keptFraction = Double(mask.filter { $0 != 0 }.count) / 20_000
        #expect(abs(keptFraction - 0.8) < 0.015)
    }

    @Test func identityOperationsAreNeverDropped() throws {
        var rng = RandomGenerator(seed: 8)
        let cell = AugmentCell(genotype: skipOnlyNormal, previousPreviousChannels: 6, previousChannels: 6, channels: 4,
                               reduction: false, previousReduction: false, rng: &rng)
        #expect(cell.ops.modules.allSatisfy { $0 is Identity })
        let s0 = Tensor.randomNormal(shape: [8, 6, 6, 6], using: &rng)
        let s1 = Tensor.randomNormal(shape: [8, 6, 6, 6], using: &rng)
        var masks = RandomGenerator(seed: 9)
        let reference = cell(s0, s1, dropProbability: 0, rng: &masks).values
        let before = masks
        let output = cell(s0, s1, dropProbability: 0.9, rng: &masks)
        #expect(output.shape == [8, 16, 6, 6])
        #expect(output.values == reference)
        #expect(masks == before)
    }

    @Test func nonIdentityOperationsAreDroppedIncludingStrideTwoSkipConnect() throws {
        var rng = RandomGenerator(seed: 10)
        // In a reduction cell skip_connect from the inputs has stride 2: a FactorizedReduce, which
        // is not an identity and is dropped.
        let reduceSkips = Genotype(normal: skipOnlyNormal.normal,
                                   reduce: [.init(.skipConnect, 0), .init(.skipConnect, 1), .init(.skipConnect, 0),
                                            .init(.skipConnect, 1), .init(.skipConnect, 0), .init(.skipConnect, 1),
                                            .init(.skipConnect, 0), .init(.skipConnect, 1)])
        let cell = AugmentCell(genotype: reduceSkips, previousPreviousChannels: 6, previousChannels: 6, channels: 4,
                               reduction: true, previousReduction: false, rng: &rng)
        #expect(cell.ops.modules.allSatisfy { $0 is FactorizedReduce })
        let s0 = Tensor.randomNormal(shape: [8, 6, 6, 6], using: &rng)
        let s1 = Tensor.randomNormal(shape: [8, 6, 6, 6], using: &rng)
        var masks = RandomGenerator(seed: 11)
        let reference = cell(s0, s1, dropProbability: 0, rng: &masks).values
        let before = masks
        let output = cell(s0, s1, dropProbability: 0.5, rng: &masks)
        #expect(output.shape == [8, 16, 3, 3])
        #expect(output.values != reference)
        #expect(masks != before)
        // In evaluation mode nothing is dropped.
        cell.eval()
        let evalReference = cell(s0, s1, dropProbability: 0, rng: &masks).values
        #expect(cell(s0, s1, dropProbability: 0.5, rng: &masks).values == evalReference)
    }

    @Test func backwardThroughTheWholeNetworkReachesEveryParameter() throws {
        let network = try smallAugmentNetwork(size: 28, channels: 8, layers: 5, auxiliary: true)
        network.dropPathProbability = 0
        var rng = RandomGenerator(seed: 12)
        let x = Tensor.randomNormal(shape: [2, 1, 28, 28], using: &rng)
        let labels: [Int32] = [3, 7]
        let (logits, auxiliary) = network(x)
        let expected = crossEntropy(logits, labels: labels).scalar + 0.4 * crossEntropy(auxiliary!, labels: labels).scalar
        let loss = network.loss(x, labels: labels)
        #expect(abs(loss.scalar - expected) <= 1e-5 * abs(expected))
        loss.backward()
        let named = network.namedParameters()
        let withoutGradient = named.filter { !$0.tensor.gradient.contains { $0 != 0 } }.map(\.name)
        #expect(named.allSatisfy { $0.tensor.gradient.allSatisfy { $0.isFinite } })
        #expect(Double(withoutGradient.count) < 0.05 * Double(named.count),
                "\(withoutGradient.count) of \(named.count) parameter tensors without gradient: \(withoutGradient)")
        #expect(named.contains { $0.name == "auxiliary_head.classifier.weight" && $0.tensor.gradient.contains { $0 != 0 } })
    }

    @Test func malformedGenotypesAndImageSizesAreRejectedWithTheirReason() {
        var rng = RandomGenerator(seed: 13)
        var badInput = Genotype.dartsV2
        badInput.normal[1] = .init(.sepConv3x3, 2)   // node 0 can only read states 0 and 1
        #expect(throws: AugmentNetworkError.self) {
            try AugmentNetwork(AugmentConfiguration(inputChannels: 1, imageSize: 28, channels: 4, layers: 5),
                               genotype: badInput, rng: &rng)
        }
        var oddCount = Genotype.dartsV2
        oddCount.reduce.removeLast()
        #expect(throws: AugmentNetworkError.self) {
            try AugmentNetwork(AugmentConfiguration(inputChannels: 1, imageSize: 28, channels: 4, layers: 5),
                               genotype: oddCount, rng: &rng)
        }
        var badConcat = Genotype.dartsV2
        badConcat.normalConcat = [2, 3, 6]
        #expect(throws: AugmentNetworkError.self) {
            try AugmentNetwork(AugmentConfiguration(inputChannels: 1, imageSize: 28, channels: 4, layers: 5),
                               genotype: badConcat, rng: &rng)
        }
        // 30 -> 15 cannot be halved again at the second reduction.
        do {
            _ = try AugmentNetwork(AugmentConfiguration(inputChannels: 1, imageSize: 30, channels: 4, layers: 5),
                                   genotype: .dartsV2, rng: &rng)
            Issue.record("image size 30 was accepted")
        } catch let error as AugmentNetworkError {
            #expect(error.description.contains("image size 30"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func cellChannelsDoubleAtEachReductionAndTheOutputConcatenatesTheConcatList() throws {
        let network = try smallAugmentNetwork(size: 28, channels: 8, layers: 5)
        let shapes = Dictionary(uniqueKeysWithValues: network.namedParameters().map { ($0.name, $0.tensor.shape) })
        #expect(shapes["stem.0.weight"] == [24, 1, 3, 3])
        #expect(shapes["cells.0.preprocess1.op.1.weight"] == [8, 24, 1, 1])
        #expect(shapes["cells.2.preprocess0.conv_1.weight"] == [8, 32, 1, 1])   // after reduction cell 1 (C = 16)
        #expect(shapes["cells.2.preprocess1.op.1.weight"] == [16, 64, 1, 1])
        #expect(shapes["cells.4.preprocess1.op.1.weight"] == [32, 128, 1, 1])
        #expect(shapes["auxiliary_head.features.2.weight"] == [128, 128, 1, 1])
        #expect(shapes["classifier.weight"] == [10, 128])
        #expect(network.cells.modules.map(\.multiplier) == [4, 4, 4, 4, 4])
        #expect(network.cells.modules.map(\.isReduction) == [false, true, false, true, false])
    }
}
