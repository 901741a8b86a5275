import DARTS
import Foundation

/// config.json: the options and the facts of the run they produced.
struct RunConfig: Encodable {
    let options: SearchOptions
    let worldSize: Int
    let hosts: [String]
    let dataFolder: String
    let trainImages: Int
    let valImages: Int
    let augmentation: String
    let weights: Int
    let alphas: Int
    let stepsPerEpoch: Int
    var primitives: [String] = Primitive.allCases.map(\.rawValue)
}

/// One line of metrics.jsonl per epoch (epochs 0-based, as NNI numbers its checkpoints).
struct EpochMetrics: Encodable {
    let epoch: Int
    let learningRate: Float
    let trainLoss: Double
    let trainAccuracy: Double
    /// The architect's validation-batch loss, averaged over the epoch.
    let archLoss: Double
    let validationLoss: Double
    let validationAccuracy: Double
    let seconds: Double
    let steps: Int
    let imagesPerSecond: Double
}

/// epoch_N.alphas.json: softmax(alpha) per edge (14 rows, one column per primitive); with partial
/// channels also the edge normalization's weights, 14 per cell type (`betas_normal`,
/// `betas_reduce`: the softmax of each node's betas, docs/algorithm.md §11).
struct AlphaRecord: Encodable {
    let epoch: Int
    let primitives: [String]
    let normal: [[Float]]
    let reduce: [[Float]]
    let betasNormal: [Float]?
    let betasReduce: [Float]?

    enum CodingKeys: String, CodingKey {
        case epoch, primitives, normal, reduce, betasNormal = "betas_normal", betasReduce = "betas_reduce"
    }

    init(epoch: Int, network: SearchNetwork) {
        self.epoch = epoch
        primitives = Primitive.allCases.map(\.rawValue)
        normal = softmaxRows(network.alphaNormal)
        reduce = softmaxRows(network.alphaReduce)
        betasNormal = network.betaNormal.map(edgeWeights)
        betasReduce = network.betaReduce.map(edgeWeights)
    }
}
