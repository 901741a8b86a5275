import DARTS
import DartsTensor
import Datasets
import Distributed
import Foundation
import NN

/// What `darts-dist evaluate` reports: the model, the test set and the measurement.
public struct EvaluationReport: Codable, Sendable {
    /// The saved model file.
    public let model: String
    public let genotypeText: String
    public let configuration: AugmentConfiguration
    /// Parameters of the network used at test time (without the auxiliary head).
    public let parameters: Int
    public let epochs: Int
    public let dataset: String
    public let dataFolder: String
    public let worldSize: Int
    public let seconds: Double
    public let result: EvaluationResult

    /// The report as a terminal table: a summary, then one row per class.
    public var table: String {
        var lines: [String] = []
        lines.append("model: \(model) (C=\(configuration.channels), \(configuration.layers) cells, \(parameters) parameters, \(counted(epochs, "epoch")))")
        lines.append("genotype = \(genotypeText)")
        lines.append("test set: \(dataset) in \(dataFolder), \(result.images) images, \(String(format: "%.1f", seconds)) s")
        lines.append(String(format: "top-1 %.2f%%  top-5 %.2f%%  loss %.4f", 100 * result.top1, 100 * result.top5, result.loss))
        lines.append("")
        let width = max(5, result.classes.map(\.name.count).max() ?? 5)
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
        lines.append(pad("label", 6) + pad("class", width + 2) + "accuracy   correct / images")
        for c in result.classes {
            lines.append(pad(String(c.label), 6) + pad(c.name, width + 2)
                + pad(String(format: "%.2f%%", 100 * c.accuracy), 11) + "\(c.correct) / \(c.images)")
        }
        return lines.joined(separator: "\n")
    }
}

/// Measures a saved model (``SavedModel``) on its data set's test split: top-1, top-5, loss and
/// per-class accuracy. Runs on one process or on the ranks of an MPI job (each rank measures a
/// share of the test set; the sums are reduced).
public final class EvaluateJob {
    public let modelPath: String
    /// The data folder; nil means the one recorded in the model, then the dataset's default.
    public let data: String?
    /// Only the first N test images; nil for all.
    public let testSubset: Int?
    /// Images per forward pass.
    public let batchSize: Int
    /// A folder (created, never overwritten) to write the test images, labels and logits to; nil: none.
    public let saveLogits: String?
    let communicator: Communicator

    public init(modelPath: String, data: String? = nil, testSubset: Int? = nil, batchSize: Int = 100, saveLogits: String? = nil,
                communicator: Communicator) {
        self.saveLogits = saveLogits
        self.modelPath = modelPath
        self.data = data
        self.testSubset = testSubset
        self.batchSize = batchSize
        self.communicator = communicator
    }

    /// - Throws: `RankFailure` wrapping a ``SectionFileError`` (missing or damaged model), a
    ///   `DatasetError` (missing data) or a ``RetrainError`` (a data set that does not fit the model).
    public func run() throws -> EvaluationReport {
        let started = Date()
        var model: SavedModel!
        var kind = DatasetKind.fashionMNIST
        var test: ImageDataset!
        var folder = ""
        try communicator.agree {
            guard batchSize > 0 else { throw RetrainError.invalidOption("--batch-size \(batchSize) must be positive") }
            if let testSubset, testSubset <= 0 { throw RetrainError.invalidOption("--test-subset \(testSubset) must be positive") }
            if let saveLogits, communicator.rank == 0 {
                guard !saveLogits.isEmpty else {
                    throw RetrainError.invalidOption("--save-logits is empty; give a new folder, such as logits")
                }
                if AtomicFile.kind(of: saveLogits) != nil {
                    throw RetrainError.invalidOption("--save-logits \(saveLogits) already exists and is never overwritten; give a new folder")
                }
                do {
                    try AtomicFile.checkFolderTakesFiles(URL(fileURLWithPath: saveLogits).deletingLastPathComponent().path,
                                                         for: "--save-logits \(saveLogits)")
                } catch {
                    throw RetrainError.invalidOption("\(error)")
                }
            }
            model = try SavedModel(path: modelPath)
            guard let k = DatasetKind(rawValue: model.manifest.dataset) else {
                throw RetrainError.model("\(modelPath) was trained on '\(model.manifest.dataset)', which this build does not know")
            }
            kind = k
            folder = data ?? (FileManager.default.fileExists(atPath: model.manifest.dataFolder) ? model.manifest.dataFolder : kind.defaultFolder)
            let c = model.manifest.configuration
            var reference: DatasetReference?
            if kind.isOwnData {
                guard let normalization = model.manifest.normalization, let names = model.manifest.classNames else {
                    throw RetrainError.model("\(modelPath) records no normalization or class names for its \(kind.rawValue) data; retrain it")
                }
                reference = DatasetReference(normalization: normalization, classNames: names, channels: c.inputChannels,
                                             imageSize: c.imageSize)
            }
            test = try loadDataset(kind, folder: folder, split: .test,
                                   imageSize: kind.isOwnData ? model.manifest.options?.imageSize : nil, reference: reference)
            if let testSubset { test = test.prefix(testSubset) }
            guard test.channels == c.inputChannels, test.height == c.imageSize, test.classCount == c.classes else {
                throw RetrainError.model("\(modelPath) takes \(c.inputChannels)x\(c.imageSize)x\(c.imageSize) images of \(c.classes) classes, "
                    + "but \(folder) holds \(test.channels)x\(test.height)x\(test.width) images of \(test.classCount); give the --data it was trained on")
            }
        }
        try checkSameDataOnEveryRank(communicator, sets: [("test images", test)], folder: folder, error: RetrainError.invalidOption)
        var built: (network: AugmentNetwork, weights: ParameterArena, buffers: ParameterArena)!
        let hosts = communicator.allgather(communicator.hostName)
        try communicator.agree {
            try MemoryEstimate.retrain(model.manifest.configuration, genotype: model.manifest.genotype, microBatch: 0,
                                       evaluationChunk: min(batchSize, test.count), images: test.count, trains: false)
                .check(ranksOnHost: MemoryEstimate.ranksOnThisHost(hosts, rank: communicator.rank), host: communicator.hostName,
                       what: "the network of \(modelPath) measured \(min(batchSize, test.count)) images at a time",
                       fix: "lower --batch-size (images per forward pass)", error: RetrainError.invalidOption)
        }
        try communicator.agree { built = try model.makeNetwork(path: modelPath) }
        let classNames = model.manifest.classNames ?? test.classNames ?? kind.classNames
        if let saveLogits, communicator.rank == 0 {
            try Self.writeLogits(built.network, weights: built.weights, test: test, folder: saveLogits, batchSize: batchSize)
        }
        let result = evaluate(built.network, weights: built.weights, on: test, classNames: classNames,
                              communicator: communicator, chunk: batchSize)
        if let problem = result.nonFiniteOutputs {
            // Reduced sums, the same on every rank.
            throw RetrainError.model("\(modelPath): \(problem), so its accuracy and loss mean nothing: its weights or "
                + "batch-norm statistics hold NaN or infinity; retrain the model (with a lower --lr if its training diverged)")
        }
        let auxiliary = built.network.namedParameters().filter { $0.name.hasPrefix("auxiliary_head.") }.map(\.tensor.count).reduce(0, +)
        return EvaluationReport(model: modelPath, genotypeText: model.manifest.genotypeText,
                                configuration: model.manifest.configuration, parameters: built.weights.count - auxiliary,
                                epochs: model.manifest.epochs, dataset: kind.rawValue, dataFolder: folder,
                                worldSize: communicator.worldSize, seconds: Date().timeIntervalSince(started), result: result)
    }

    /// Writes images.npy (N, C, H, W float32, normalized as the network takes them), labels.npy
    /// (N int64) and logits.npy (N, classes float32) of `test` to the new folder `folder` (rank 0):
    /// what scripts/check_export.py compares the exported networks with.
    static func writeLogits(_ network: AugmentNetwork, weights: ParameterArena, test: ImageDataset, folder: String,
                            batchSize: Int) throws {
        var logits: [Float] = []
        network.eval()
        let recorded = weights.requiresGrad
        weights.requiresGrad = false
        defer { weights.requiresGrad = recorded }
        var start = 0
        while start < test.count {
            let n = min(batchSize, test.count - start)
            let batch = test.subset(Array(start..<(start + n)))
            let images = Tensor(shape: [n, test.channels, test.height, test.width])
            batch.images.withUnsafeBufferPointer { images.data.update(from: $0.baseAddress!, count: $0.count) }
            let output = network(images).logits
            logits += Array(UnsafeBufferPointer(start: output.data, count: output.count))
            start += n
        }
        let url = URL(fileURLWithPath: folder)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        let files: [(String, [UInt8])] = [
            ("images.npy", NPYFile.encode(test.images, shape: [test.count, test.channels, test.height, test.width])),
            ("labels.npy", NPYFile.encode(test.labels.map(Int64.init))),
            ("logits.npy", NPYFile.encode(logits, shape: [test.count, logits.count / max(test.count, 1)])),
        ]
        for (name, bytes) in files { try Data(bytes).write(to: url.appendingPathComponent(name)) }
    }
}
