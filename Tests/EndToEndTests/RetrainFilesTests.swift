import DARTS
import DartsTensor
import Datasets
import Distributed
import Foundation
import NN
import Testing
@testable import Training

/// The pieces of a retrain that need no data files: options and presets, keyed randomness, the
/// checkpoint and saved-model files, and the test-set evaluation.
@Suite struct RetrainFilesTests {
    static func tinyNetwork(seed: UInt64 = 1, auxiliary: Bool = true) throws -> AugmentNetwork {
        var rng = RandomGenerator(seed: seed)
        return try AugmentNetwork(AugmentConfiguration(inputChannels: 1, imageSize: 28, channels: 4, layers: 3, classes: 10,
                                                       auxiliary: auxiliary), genotype: .dartsV2, rng: &rng)
    }

    /// `count` random 1x28x28 images with labels 0, 1, ..., 9, 0, ...
    static func syntheticDataset(count: Int, seed: UInt64 = 5) -> ImageDataset {
        var rng = RandomGenerator(seed: seed)
        return ImageDataset(name: "synthetic", images: (0..<(count * 784)).map { _ in rng.nextNormal() },
                            labels: (0..<count).map { Int32($0 % 10) }, channels: 1, height: 28, width: 28, classCount: 10,
                            normalization: .identity(channels: 1))
    }

    @Test func paperPresetHasTheDARTSEvaluationSettings() throws {
        let paper = RetrainOptions(preset: .paper)
        #expect(paper == RetrainOptions())
        #expect(paper.channels == 36 && paper.layers == 20 && paper.batchSize == 96 && paper.epochs == 600)
        #expect(paper.learningRate == 0.025 && paper.learningRateMin == 0 && paper.momentum == 0.9)
        #expect(paper.weightDecay == 3e-4 && paper.gradClip == 5 && paper.cutout == 16)
        #expect(paper.auxWeight == 0.4 && paper.dropPathProb == 0.2)
        try paper.validate(worldSize: 1)
        try RetrainOptions(preset: .fast).validate(worldSize: 2)
        let fast = RetrainOptions(preset: .fast)
        #expect(fast.preset == .fast)
        #expect(fast.channels == 8 && fast.layers == 5 && fast.batchSize == 64 && fast.epochs == 10)
        #expect(fast.augmentation(.fashionMNIST) == Augmentation(randomCropPadding: 0, horizontalFlip: true))
        #expect(paper.augmentation(.cifar10) == Augmentation(randomCropPadding: 4, horizontalFlip: true, cutoutLength: 16))
        #expect(fast.learningRate == 0.05 && fast.auxWeight == 0 && fast.dropPathProb == 0 && fast.cutout == 0)
    }

    @Test func dropPathProbabilityRampsLinearlyFromZero() {
        var o = RetrainOptions()
        o.epochs = 10
        o.dropPathProb = 0.2
        #expect(o.dropPathProbability(epoch: 0) == 0)
        #expect(abs(o.dropPathProbability(epoch: 5) - 0.1) < 1e-7)
        #expect(abs(o.dropPathProbability(epoch: 9) - 0.18) < 1e-7)
    }

    @Test func augmentationIsTheDatasetsStandardOnePlusCutout() {
        var o = RetrainOptions()
        o.cutout = 16
        #expect(o.augmentation(.fashionMNIST) == Augmentation(randomCropPadding: 4, horizontalFlip: true, cutoutLength: 16))
        o.cutout = 0
        #expect(o.augmentation(.mnist) == Augmentation(randomCropPadding: 4))
    }

    @Test func invalidOptionsNameTheFlagAndTheFix() {
        func message(_ change: (inout RetrainOptions) -> Void, worldSize: Int = 1) -> String {
            var o = RetrainOptions()
            change(&o)
            do { try o.validate(worldSize: worldSize); return "" } catch { return "\(error)" }
        }
        #expect(message { $0.dropPathProb = 1 }.contains("--drop-path-prob 1.0 must be in [0, 1)"))
        #expect(message { $0.channels = 5 }.contains("--channels 5 must be a positive even number"))
        #expect(message { $0.layers = 2 }.contains("--layers 2"))
        #expect(message({ $0.batchSize = 95 }, worldSize: 2).contains("--batch-size 95 (global) is not divisible by the world size 2"))
        #expect(message { $0.auxWeight = -1 }.contains("--aux-weight"))
        #expect(message { $0.dataset = "imagenet" }.contains("--dataset imagenet is not known"))
        #expect(message { $0.learningRateMin = 1 }.contains("--lr-min"))
        #expect(message { $0.labelSmoothing = 1 }.contains("--label-smoothing 1.0 must be in [0, 1)"))
        #expect(message { $0.labelSmoothing = -0.1 }.contains("--label-smoothing -0.1 must be in [0, 1)"))
        #expect(message { $0.labelSmoothing = 0.1 } == "")
    }

    /// The retrain's loss smooths the labels of both heads: CE_e(main) + w CE_e(auxiliary).
    @Test func labelSmoothingReachesTheAuxiliaryHeadsLoss() {
        var options = RetrainOptions()
        options.auxWeight = 0.4
        options.labelSmoothing = 0.2
        let main = Tensor(shape: [3, 10], values: (0..<30).map { 2 * Float(sin(1.3 * Double($0))) })
        let auxiliary = Tensor(shape: [3, 10], values: (0..<30).map { 2 * Float(cos(0.7 * Double($0))) })
        let labels: [Int32] = [4, 0, 9]
        let loss = retrainLoss(logits: main, auxiliaryLogits: auxiliary, labels: labels, options: options).scalar
        let smoothed = crossEntropy(main, labels: labels, labelSmoothing: 0.2).scalar
            + 0.4 * crossEntropy(auxiliary, labels: labels, labelSmoothing: 0.2).scalar
        let auxiliaryPlain = crossEntropy(main, labels: labels, labelSmoothing: 0.2).scalar
            + 0.4 * crossEntropy(auxiliary, labels: labels).scalar
        #expect(abs(loss - smoothed) < 1e-6 && abs(loss - auxiliaryPlain) > 1e-3, "\(loss) \(smoothed) \(auxiliaryPlain)")
        #expect(retrainLoss(logits: main, auxiliaryLogits: nil, labels: labels, options: options).scalar
                == crossEntropy(main, labels: labels, labelSmoothing: 0.2).scalar)
    }

    /// Options written before `--label-smoothing` existed (config.json, checkpoints, model.bin)
    /// still decode, as no smoothing, and compare equal by flag text to an explicit 0.
    @Test func optionsWithoutLabelSmoothingDecodeAsNone() throws {
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(RetrainOptions(preset: .fast))) as! [String: Any]
        #expect(json["labelSmoothing"] == nil)
        json.removeValue(forKey: "labelSmoothing")
        let decoded = try JSONDecoder().decode(RetrainOptions.self, from: JSONSerialization.data(withJSONObject: json))
        #expect(decoded.labelSmoothing == nil)
        var zero = decoded
        zero.labelSmoothing = 0
        #expect(zero.definingValues.map(\.value) == decoded.definingValues.map(\.value))
        zero.labelSmoothing = 0.1
        #expect(zero.definingValues.first { $0.flag == "--label-smoothing" }?.value == "0.1")
    }

    @Test func keyedRandomnessDependsOnEveryPartOfTheKey() {
        let base = KeyedRandomness.key(seed: 1, epoch: 2, stream: .augmentation, index: 3)
        #expect(base == KeyedRandomness.key(seed: 1, epoch: 2, stream: .augmentation, index: 3))
        let others = [KeyedRandomness.key(seed: 2, epoch: 2, stream: .augmentation, index: 3),
                      KeyedRandomness.key(seed: 1, epoch: 3, stream: .augmentation, index: 3),
                      KeyedRandomness.key(seed: 1, epoch: 2, stream: .dropPath, index: 3),
                      KeyedRandomness.key(seed: 1, epoch: 2, stream: .augmentation, index: 4)]
        #expect(Set(others + [base]).count == 5)
    }

    @Test func keyedFillGivesAnImageTheSameAugmentationInAnyBatchPosition() {
        let dataset = Self.syntheticDataset(count: 6)
        let augmentation = Augmentation(randomCropPadding: 4, horizontalFlip: true, cutoutLength: 8)
        let together = Tensor(shape: [3, 1, 28, 28]), alone = Tensor(shape: [1, 1, 28, 28])
        var labels = [Int32](repeating: 0, count: 3), one: [Int32] = [0]
        KeyedRandomness.fill(dataset, indices: [4, 1, 5], images: together, labels: &labels, augmentation: augmentation, seed: 7, epoch: 2)
        KeyedRandomness.fill(dataset, indices: [5], images: alone, labels: &one, augmentation: augmentation, seed: 7, epoch: 2)
        #expect(Array(together.values[(2 * 784)...]) == alone.values)
        #expect(labels == [4, 1, 5] && one == [5])
        // Another epoch augments differently.
        KeyedRandomness.fill(dataset, indices: [5], images: alone, labels: &one, augmentation: augmentation, seed: 7, epoch: 3)
        #expect(Array(together.values[(2 * 784)...]) != alone.values)
    }

    @Test func savedModelRebuildsTheSameNetworkWithTheSameOutputs() throws {
        let network = try Self.tinyNetwork()
        let weights = ParameterArena(network.namedParameters())
        let buffers = ParameterArena(network.namedBuffers(), keepsGradients: false)
        var rng = RandomGenerator(seed: 9)
        for i in 0..<buffers.count { buffers.values[i] = rng.nextUniform(0.5, 1.5) }   // non-trivial statistics
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let url = tmp.appendingPathComponent("model.bin")
        try SavedModel(network: network, weights: weights, buffers: buffers, dataset: "fashion-mnist", dataFolder: "/data",
                       options: nil, epochs: 3, testTop1: 0.5, testTop5: 0.9).write(to: url)

        let loaded = try SavedModel(path: tmp.path)   // the run folder means its model.bin
        #expect(loaded.manifest.genotype == .dartsV2 && loaded.manifest.epochs == 3 && loaded.manifest.dataset == "fashion-mnist")
        let rebuilt = try loaded.makeNetwork()
        #expect(rebuilt.weights.snapshot() == weights.snapshot() && rebuilt.buffers.snapshot() == buffers.snapshot())
        network.eval()
        let x = Tensor.randomNormal(shape: [3, 1, 28, 28], using: &rng)
        #expect(rebuilt.network(x).logits.values == network(x).logits.values)
        #expect(!rebuilt.network.isTraining)
    }

    @Test func evaluateOfAModelWithNaNStatisticsFailsSayingSoOnEveryRank() throws {
        // A checksum-valid model.bin whose batch-norm statistics hold NaN (a diverged training):
        // `evaluate` must not report an accuracy (NaN logits once counted as hits: "top-1 100.00%").
        let network = try Self.tinyNetwork(auxiliary: false)
        let weights = ParameterArena(network.namedParameters())
        let buffers = ParameterArena(network.namedBuffers(), keepsGradients: false)
        for i in 0..<buffers.count { buffers.values[i] = .nan }
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let url = tmp.appendingPathComponent("model.bin")
        try SavedModel(network: network, weights: weights, buffers: buffers, dataset: "fashion-mnist",
                       dataFolder: DatasetKind.fashionMNIST.defaultFolder, options: nil, epochs: 1, testTop1: nil, testTop5: nil).write(to: url)
        for ranks in [nil, 2] as [Int?] {
            let out = try CommandRunner.run(["evaluate", "--model", url.path, "--test-subset", "40", "--json"], ranks: ranks)
            #expect(out.status != 0, "ranks \(String(describing: ranks)): \(out.stdout)")
            #expect(out.stderr.contains("\(url.path): the network produced non-finite outputs (NaN or infinity) for 40 of 40 test images, "
                                        + "so its accuracy and loss mean nothing"), "\(out.stderr)")
            #expect(!out.stdout.contains("top1") && !out.stdout.contains("100.00%"), "\(out.stdout)")
        }
    }

    @Test func aDamagedSavedModelIsRefusedNamingTheFile() throws {
        let network = try Self.tinyNetwork(auxiliary: false)
        let weights = ParameterArena(network.namedParameters())
        let buffers = ParameterArena(network.namedBuffers(), keepsGradients: false)
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let url = tmp.appendingPathComponent("model.bin")
        try SavedModel(network: network, weights: weights, buffers: buffers, dataset: "mnist", dataFolder: "/data",
                       options: nil, epochs: 1, testTop1: nil, testTop5: nil).write(to: url)
        var bytes = try Data(contentsOf: url)
        bytes[bytes.count - 100] ^= 0x40
        try bytes.write(to: url)
        #expect { try SavedModel(path: url.path) } throws: { "\($0)".contains("saved model \(url.path) is damaged: checksum mismatch") }
        try Data(bytes.prefix(1000)).write(to: url)
        #expect { try SavedModel(path: url.path) } throws: { "\($0)".contains("is damaged") }
        #expect { try SavedModel(path: tmp.appendingPathComponent("none").path) } throws: { "\($0)".contains("no such file or folder") }
    }

    @Test func checkpointRestoresWeightsStatisticsMomentumAndHistory() throws {
        let network = try Self.tinyNetwork()
        let weights = ParameterArena(network.namedParameters())
        let buffers = ParameterArena(network.namedBuffers(), keepsGradients: false)
        let sgd = SGD(arena: weights, learningRate: 0.1, momentum: 0.9)
        var rng = RandomGenerator(seed: 4)
        for i in 0..<weights.count { weights.grads![i] = rng.nextNormal() }
        sgd.step()
        let record = RetrainEpochMetrics(epoch: 0, learningRate: 0.1, dropPathProbability: 0, trainLoss: 2, trainAccuracy: 0.2,
                                         testLoss: 1.5, testTop1: 0.4, testTop5: 0.9, seconds: 1, evaluationSeconds: 0.5,
                                         steps: 10, imagesPerSecond: 100)
        var options = RetrainOptions()
        options.channels = network.configuration.channels
        options.layers = network.configuration.layers
        let checkpoint = RetrainCheckpoint(options: options, genotype: .dartsV2, configuration: network.configuration,
                                           worldSize: 2, epoch: 1, step: 10, seconds: 3, stepSeconds: 2, history: [record],
                                           weights: weights, buffers: buffers, optimizer: sgd)
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let url = tmp.appendingPathComponent(RetrainCheckpoint.fileName)
        try checkpoint.write(to: url)

        let other = try Self.tinyNetwork(seed: 2)
        let otherWeights = ParameterArena(other.namedParameters())
        let otherBuffers = ParameterArena(other.namedBuffers(), keepsGradients: false)
        let otherSGD = SGD(arena: otherWeights, learningRate: 0.1, momentum: 0.9)
        let loaded = try RetrainCheckpoint(contentsOf: url)
        #expect(loaded.manifest == checkpoint.manifest)
        try loaded.restore(weights: otherWeights, buffers: otherBuffers, optimizer: otherSGD, path: url.path)
        #expect(otherWeights.snapshot() == weights.snapshot())
        #expect(otherSGD.momentumBuffer == sgd.momentumBuffer && otherSGD.hasMomentum)
        #expect(loaded.manifest.history == [record] && loaded.manifest.epoch == 1)

        // A network of another shape is refused.
        let wider = try AugmentNetwork(AugmentConfiguration(inputChannels: 1, imageSize: 28, channels: 6, layers: 3),
                                       genotype: .dartsV2, rng: &rng)
        let widerWeights = ParameterArena(wider.namedParameters())
        #expect { try loaded.restore(weights: widerWeights, buffers: ParameterArena(wider.namedBuffers(), keepsGradients: false),
                                     optimizer: SGD(arena: widerWeights, learningRate: 0.1), path: url.path) }
            throws: { "\($0)".contains("does not fit") }
    }

    @Test func evaluationCountsEveryImageOnceAndAgreesWithOneBatch() throws {
        let network = try Self.tinyNetwork(auxiliary: false)
        let weights = ParameterArena(network.namedParameters())
        let dataset = Self.syntheticDataset(count: 57)
        let result = evaluate(network, weights: weights, on: dataset, classNames: DatasetKind.fashionMNIST.classNames,
                              communicator: SingleProcessCommunicator(), chunk: 10)
        #expect(result.images == 57)
        #expect(result.classes.map(\.images).reduce(0, +) == 57 && result.classes[0].images == 6 && result.classes[9].images == 5)
        #expect(result.classes[0].name == "T-shirt/top")
        #expect(network.isTraining)   // the mode is restored

        network.eval()
        let all = Tensor(shape: [57, 1, 28, 28], values: dataset.images)
        let logits = network(all).logits
        let hits = topKCorrect(logits, labels: dataset.labels)
        #expect(result.top1 == Double(hits.top1) / 57 && result.top5 == Double(hits.top5) / 57)
        #expect(Double(result.classes.map(\.correct).reduce(0, +)) / 57 == result.top1)
        #expect(abs(result.loss - Double(crossEntropy(logits, labels: dataset.labels).scalar)) < 1e-5)
    }
}
