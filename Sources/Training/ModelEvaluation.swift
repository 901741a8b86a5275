import DARTS
import DartsTensor
import Datasets
import Distributed
import NN

/// The accuracy of one class on a test set.
public struct ClassAccuracy: Codable, Equatable, Sendable {
    public let label: Int
    public let name: String
    /// Test images of this class, and how many of them the top-1 prediction gets right.
    public let images: Int
    public let correct: Int
    /// correct / images (0 when the class has no image).
    public let accuracy: Double
}

/// A network measured on a test set in evaluation mode.
public struct EvaluationResult: Codable, Equatable, Sendable {
    public let images: Int
    /// Mean cross-entropy of the main classifier.
    public let loss: Double
    /// Fractions (0...1) of images whose label is the largest logit (top-1) or among the five largest (top-5).
    public let top1: Double
    public let top5: Double
    public let classes: [ClassAccuracy]
    /// Images for which the network produced a NaN or an infinity among its outputs (never counted
    /// correct); 0 for a sound network.
    public let nonFiniteImages: Int
    /// The sentence that says the network produced non-finite outputs, nil when it did not.
    let nonFiniteOutputs: String?

    enum CodingKeys: String, CodingKey { case images, loss, top1, top5, classes, nonFiniteImages }

    init(images: Int, loss: Double, top1: Double, top5: Double, classes: [ClassAccuracy], nonFiniteImages: Int,
         nonFiniteOutputs: String?) {
        (self.images, self.loss, self.top1, self.top5, self.classes) = (images, loss, top1, top5, classes)
        self.nonFiniteImages = nonFiniteImages
        self.nonFiniteOutputs = nonFiniteOutputs
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(images: try c.decode(Int.self, forKey: .images), loss: try c.decode(Double.self, forKey: .loss),
                  top1: try c.decode(Double.self, forKey: .top1), top5: try c.decode(Double.self, forKey: .top5),
                  classes: try c.decode([ClassAccuracy].self, forKey: .classes),
                  nonFiniteImages: try c.decodeIfPresent(Int.self, forKey: .nonFiniteImages) ?? 0, nonFiniteOutputs: nil)
    }
}

/// Measures `network` on every image of `dataset` in evaluation mode (running batch-norm
/// statistics, no drop path, no auxiliary head, no graph recorded), in chunks of `chunk`
/// images: rank r takes chunks r, r + P, r + 2P, ... and the sums are reduced over the P ranks,
/// so the result equals one process measuring alone. The network's mode is restored after.
/// - Parameters:
///   - weights: the arena over the network's parameters (its gradients are not recorded meanwhile).
///   - classNames: one name per class, for the per-class table.
public func evaluate(_ network: AugmentNetwork, weights: ParameterArena, on dataset: ImageDataset,
                     classNames: [String], communicator: Communicator, chunk: Int = 100) -> EvaluationResult {
    precondition(chunk > 0)
    let wasTraining = network.isTraining
    let recorded = weights.requiresGrad
    network.eval()
    weights.requiresGrad = false
    defer {
        network.train(wasTraining)
        weights.requiresGrad = recorded
    }
    let sums = evaluateSharded(count: dataset.count, chunk: chunk, classes: dataset.classCount,
                               communicator: communicator) { range in
        let indices = Array(range)
        let images = Tensor(shape: [indices.count, dataset.channels, dataset.height, dataset.width])
        var labels = [Int32](repeating: 0, count: indices.count)
        var unused = RandomGenerator(seed: 0)   // nothing is drawn without augmentation
        labels.withUnsafeMutableBufferPointer { l in
            fillBatch(dataset, indices: indices, images: images.data, labels: l.baseAddress!, augmentation: .none,
                      rng: &unused)
        }
        let logits = network(images).logits
        return (logits, labels, crossEntropy(logits, labels: labels).scalar)
    }
    let perClass = (0..<dataset.classCount).map { c -> ClassAccuracy in
        let correct = Int(sums.classHits[c]), images = Int(sums.classImages[c])
        return ClassAccuracy(label: c, name: c < classNames.count ? classNames[c] : String(c), images: images,
                             correct: correct, accuracy: images > 0 ? Double(correct) / Double(images) : 0)
    }
    return EvaluationResult(images: Int(sums.images), loss: sums.meanLoss, top1: sums.top1Accuracy,
                            top5: sums.top5Accuracy, classes: perClass, nonFiniteImages: Int(sums.nonFinite),
                            nonFiniteOutputs: sums.nonFiniteOutputs("the network", images: "test images"))
}
