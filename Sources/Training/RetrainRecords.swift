import DARTS
import Datasets
import Foundation

/// One line of a retrain's metrics.jsonl per epoch (epochs 0-based).
public struct RetrainEpochMetrics: Codable, Equatable, Sendable {
    public let epoch: Int
    public let learningRate: Float
    public let dropPathProbability: Float
    /// Mean training loss (with the auxiliary term, as the official train.py reports it) and
    /// top-1 accuracy of the main classifier, over the epoch's training batches on all ranks.
    public let trainLoss: Double
    public let trainAccuracy: Double
    /// Test set, evaluation mode.
    public let testLoss: Double
    public let testTop1: Double
    public let testTop5: Double
    /// Wall-clock seconds of the epoch's training steps and of its test evaluation.
    public let seconds: Double
    public let evaluationSeconds: Double
    public let steps: Int
    /// Training images (global) per second of the epoch's training time.
    public let imagesPerSecond: Double
}

/// config.json of a retrain: the options and the facts of the run they produced.
struct RetrainRunConfig: Encodable {
    let options: RetrainOptions
    let genotype: Genotype
    let genotypeText: String
    let configuration: AugmentConfiguration
    let worldSize: Int
    let hosts: [String]
    let dataFolder: String
    let trainImages: Int
    let testImages: Int
    let augmentation: String
    let parameters: Int
    /// Parameters of the auxiliary head (0 without one); training only, not used at test time.
    let auxiliaryParameters: Int
    let stepsPerEpoch: Int
    /// The name of each class, indexed by label, and the per-channel normalization of the images
    /// (measured from the training images for own data).
    var classNames: [String]? = nil
    var normalization: Normalization? = nil
}

/// result.json of a retrain, also what ``RetrainJob/run()`` returns.
public struct RetrainResult: Codable, Sendable {
    public let genotypeText: String
    /// Test set after the last epoch: top-1 and top-5 accuracy (0...1) and mean loss.
    public let testTop1: Double
    public let testTop5: Double
    public let testLoss: Double
    /// The best test top-1 of any epoch, and that epoch counted from 1 as the console counts it
    /// ("epoch 9/10 done", "best top-1 ... after epoch 9"): the line with `"epoch": bestEpoch - 1`
    /// in metrics.jsonl, which counts from 0 as NNI does. Reported, never selected on.
    public let bestTestTop1: Double
    public let bestEpoch: Int
    public let epochs: Int
    public let steps: Int
    public let worldSize: Int
    public let parameters: Int
    /// Wall-clock seconds of the whole retrain (summed over resumed parts), and of its training steps.
    public let seconds: Double
    public let stepSeconds: Double
    /// Training images (global) per second of step time.
    public let imagesPerSecond: Double
    /// Hash of the exact bits of the final weights and batch-norm statistics (equal on every rank).
    public let weightsChecksum: String
    public let rankChecksums: [String]
    /// The saved model, relative to the run folder.
    public let model: String
    /// The name of each class, indexed by label (nil in a result.json written before they were recorded).
    public var classNames: [String]? = nil
}
