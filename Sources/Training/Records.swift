import DARTS
import Datasets
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
    /// The name of each class, indexed by label, and the per-channel normalization of the images
    /// (measured from the training images for own data).
    var classNames: [String]? = nil
    var normalization: Normalization? = nil
}

/// One line of metrics.jsonl per epoch (epochs 0-based, as NNI numbers its checkpoints).
struct EpochMetrics: Encodable {
    let epoch: Int
    let learningRate: Float
    let trainLoss: Double
    let trainAccuracy: Double
    /// The architect's validation-batch cross-entropy, averaged over the epoch (without a
    /// regularization term, docs/algorithm.md §11.2); absent (nil) in a warm-up epoch, which takes
    /// no architecture step (§11.1).
    let archLoss: Double?
    /// Loss and top-1 on the val half; absent (nil) in an epoch not validated (`--validate-every`).
    let validationLoss: Double?
    let validationAccuracy: Double?
    let seconds: Double
    let steps: Int
    let imagesPerSecond: Double
}

/// epoch_N.alphas.json: softmax(alpha) per edge (14 rows, one column per primitive); whether the
/// alphas were frozen during the epoch (a warm-up epoch, docs/algorithm.md §12); with partial
/// channels also the edge normalization's weights, 14 per cell type (`betas_normal`,
/// `betas_reduce`: the softmax of each node's betas, docs/algorithm.md §12).
struct AlphaRecord: Encodable {
    let epoch: Int
    let primitives: [String]
    let normal: [[Float]]
    let reduce: [[Float]]
    let frozen: Bool
    let betasNormal: [Float]?
    let betasReduce: [Float]?

    enum CodingKeys: String, CodingKey {
        case epoch, primitives, normal, reduce, frozen, betasNormal = "betas_normal", betasReduce = "betas_reduce"
    }

    init(epoch: Int, network: SearchNetwork, frozen: Bool = false) {
        self.epoch = epoch
        primitives = Primitive.allCases.map(\.rawValue)
        normal = softmaxRows(network.alphaNormal)
        reduce = softmaxRows(network.alphaReduce)
        self.frozen = frozen
        betasNormal = network.betaNormal.map(edgeWeights)
        betasReduce = network.betaReduce.map(edgeWeights)
    }
}

/// Whether a search chose anything: the softmax weight W[edge][operation] of every edge of the
/// final genotype (the kept operation's weight, after any cap on parameter-free edges), as its
/// smallest and largest value per cell, against the uniform weight 1 / (number of operations)
/// that every edge starts from. Printed at the end of a search and stored in result.json.
public struct KeptEdgeWeights: Codable, Sendable, Equatable, CustomStringConvertible {
    public struct Range: Codable, Sendable, Equatable {
        public let min: Float
        public let max: Float
    }
    public let normal: Range
    public let reduce: Range
    /// 1 / 8.
    public let uniform: Float
    /// With edge normalization (`--partial-channels`) the weights are softmax(alpha) x the edge's
    /// weight, whose uniform value is 1/8 x 1/(inputs of the edge's node): 1/40 to 1/16.
    public let edgeNormalized: Bool

    public init(genotype: Genotype, weightsNormal: [[Float]], weightsReduce: [[Float]], edgeNormalized: Bool = false) {
        func range(_ w: [Float]) -> Range { Range(min: w.min() ?? 0, max: w.max() ?? 0) }
        normal = range(genotype.keptWeights(of: .normal, weights: weightsNormal))
        reduce = range(genotype.keptWeights(of: .reduce, weights: weightsReduce))
        uniform = 1 / Float(weightsNormal.first?.count ?? Primitive.count)
        self.edgeNormalized = edgeNormalized
    }

    /// The weights the genotype was derived from: softmax(alpha), times the edge weight with
    /// edge normalization (``SearchNetwork/edgeOperationWeights()``).
    init(genotype: Genotype, network: SearchNetwork) {
        let w = network.edgeOperationWeights()
        self.init(genotype: genotype, weightsNormal: w.normal, weightsReduce: w.reduce,
                  edgeNormalized: network.betaNormal != nil)
    }

    /// "kept edges: normal softmax(alpha) 0.1310-0.2040, reduce 0.1270-0.1620 (uniform 0.1250)";
    /// with edge normalization the weights are named as such and compared with their own
    /// uniform range.
    public var description: String {
        edgeNormalized
            ? String(format: "kept edges: normal softmax(alpha) x edge weight %.4f-%.4f, reduce %.4f-%.4f "
                     + "(uniform %.4f x 1/(inputs of the node): %.4f-%.4f)",
                     normal.min, normal.max, reduce.min, reduce.max, uniform, uniform / 5, uniform / 2)
            : String(format: "kept edges: normal softmax(alpha) %.4f-%.4f, reduce %.4f-%.4f (uniform %.4f)",
                     normal.min, normal.max, reduce.min, reduce.max, uniform)
    }
}

/// The softmax weights of a search's newest epoch_N.alphas.json (largest N), for deriving its
/// genotype again under another rule (`darts-dist genotype RUN_DIR --max-parameter-free M`).
public struct LastEpochAlphas {
    public let epoch: Int
    public let file: URL
    /// 14 rows of 8, in PRIMITIVES order.
    public let normal: [[Float]]
    public let reduce: [[Float]]

    /// - Throws: an error naming the folder or file when there is no alphas file, or the newest one
    ///   is not 14 rows of one weight per DARTS operation for each cell.
    public init(folder: URL) throws {
        guard let last = try RunPictures.readAlphas(folder).last else {
            throw PictureError("\(folder.path) holds no epoch_N.alphas.json")
        }
        file = folder.appendingPathComponent("epoch_\(last.epoch).alphas.json")
        let names = Primitive.allCases.map(\.rawValue)
        guard last.primitives == names, last.normal.count == CellLayout.edgeCount, last.reduce.count == CellLayout.edgeCount,
              (last.normal + last.reduce).allSatisfy({ $0.count == names.count && $0.allSatisfy(\.isFinite) }) else {
            throw PictureError("\(file.path) is not \(CellLayout.edgeCount) rows of the \(names.count) DARTS operations' "
                               + "weights per cell (\(names.joined(separator: ", ")))")
        }
        epoch = last.epoch
        // With edge normalization the genotype ranks softmax(alpha) x the edge's weight, as the search did.
        func scaled(_ rows: [[Float]], _ betas: [Float]?) -> [[Float]] {
            guard let betas, betas.count == rows.count else { return rows }
            return zip(rows, betas).map { row, e in row.map { $0 * e } }
        }
        normal = scaled(last.normal, last.betasNormal)
        reduce = scaled(last.reduce, last.betasReduce)
    }
}
