import DARTS
import DartsTensor
import Datasets
import Foundation
import NN

/// A trained evaluation network in one file: its genotype, its configuration (input, C, layers,
/// classes, auxiliary head), the data set it was trained on, the weights and the batch-norm
/// running statistics, in a ``SectionFile`` with magic "DARTSMD1". ``makeNetwork()`` rebuilds
/// the network exactly, so `darts-dist evaluate` needs nothing else.
public struct SavedModel {
    public struct Manifest: Codable, Equatable {
        public var genotype: Genotype
        public var genotypeText: String
        public var configuration: AugmentConfiguration
        /// The data set (`DatasetKind` raw value) and folder it was trained on.
        public var dataset: String
        public var dataFolder: String
        /// The options of the retrain that produced it (nil for a model written otherwise).
        public var options: RetrainOptions?
        /// Epochs trained, and the test results measured when it was saved.
        public var epochs: Int
        public var testTop1: Double?
        public var testTop5: Double?
        /// The per-channel normalization of the input images and the name of each class (nil in
        /// a model written before they were recorded: then the data set's constants).
        public var normalization: Normalization?
        public var classNames: [String]?
        public var weightEntries: [ParameterArena.Entry]
        public var bufferEntries: [ParameterArena.Entry]
        public var sections: [FloatSection]
    }

    public var manifest: Manifest
    /// "weights" and "buffers".
    public var sections: [String: [Float]]

    static let magic = "DARTSMD1"
    static let what = "saved model"
    /// What to give where a file of another kind was given (the fix in the error message).
    static let expected = "the model.bin of a finished retrain, or its run folder"
    /// The file name in a retrain run folder.
    public static let fileName = "model.bin"

    /// Captures a trained network: `weights` and `buffers` are the arenas over its parameters and buffers.
    public init(network: AugmentNetwork, weights: ParameterArena, buffers: ParameterArena, dataset: String,
                dataFolder: String, options: RetrainOptions?, epochs: Int, testTop1: Double?, testTop5: Double?,
                normalization: Normalization? = nil, classNames: [String]? = nil) {
        let captured: [String: [Float]] = ["weights": weights.snapshot(), "buffers": buffers.snapshot()]
        manifest = Manifest(genotype: network.genotype, genotypeText: network.genotype.dartsText,
                            configuration: network.configuration, dataset: dataset, dataFolder: dataFolder,
                            options: options, epochs: epochs, testTop1: testTop1, testTop5: testTop5,
                            normalization: normalization, classNames: classNames,
                            weightEntries: weights.entries, bufferEntries: buffers.entries,
                            sections: ["weights", "buffers"].map { FloatSection(name: $0, count: captured[$0]!.count) })
        sections = captured
    }

    /// Reads and verifies a saved model. `path` may be the file or a retrain run folder (its model.bin).
    /// - Throws: ``SectionFileError`` naming the file and what is wrong with it.
    public init(path: String) throws {
        var url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw SectionFileError.unreadable(Self.what, path, "no such file or folder; give a model.bin or the retrain run folder that holds it")
        }
        if isDirectory.boolValue {
            url = url.appendingPathComponent(Self.fileName)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw SectionFileError.unreadable(Self.what, path, "a folder without \(Self.fileName); give the --out folder of a retrain that finished")
            }
        }
        (manifest, sections) = try SectionFile.read(Manifest.self, from: url, magic: Self.magic, what: Self.what,
                                                    expected: Self.expected,
                                                    sectionsOf: \.sections)
        try check(path: url.path)
    }

    /// Decodes and verifies the bytes of a model read from `path`.
    /// - Parameter checksum: false skips the checksum check (for fuzzing the fields behind it).
    /// - Throws: ``SectionFileError`` naming the file and what is wrong with it.
    public init(data: Data, path: String, checksum: Bool = true) throws {
        (manifest, sections) = try SectionFile.decode(Manifest.self, data: data, path: path, magic: Self.magic,
                                                      what: Self.what, expected: Self.expected, checksum: checksum,
                                                      sectionsOf: \.sections)
        try check(path: path)
    }

    /// - Throws: ``SectionFileError/corrupt(_:_:_:)`` when a section is missing or a field is out
    ///   of range or at odds with another (``Manifest/problem(sections:)``).
    private func check(path: String) throws {
        for name in ["weights", "buffers"] where sections[name] == nil {
            throw SectionFileError.corrupt(Self.what, path, "section \(name) is missing")
        }
        if let problem = manifest.problem(sections: sections) { throw SectionFileError.corrupt(Self.what, path, problem) }
    }

    /// Writes the model to `url` atomically.
    public func write(to url: URL) throws {
        try SectionFile.write(try SectionFile.encode(magic: Self.magic, manifest: manifest, order: manifest.sections,
                                                     sections: sections), to: url, what: Self.what)
    }

    /// The network rebuilt from the genotype and configuration, with the saved weights and
    /// statistics loaded, in evaluation mode; and the arenas that hold them.
    /// - Throws: ``SectionFileError/mismatch(_:_:_:)`` when the saved layout is not the one the
    ///   genotype and configuration build, `AugmentNetworkError` when they cannot be built.
    public func makeNetwork(path: String = "") throws -> (network: AugmentNetwork, weights: ParameterArena, buffers: ParameterArena) {
        var rng = RandomGenerator(seed: 0)
        let network = try AugmentNetwork(manifest.configuration, genotype: manifest.genotype, rng: &rng)
        let weights = ParameterArena(network.namedParameters())
        let buffers = ParameterArena(network.namedBuffers(), keepsGradients: false)
        guard weights.entries == manifest.weightEntries, buffers.entries == manifest.bufferEntries,
              sections["weights"]!.count == weights.count, sections["buffers"]!.count == buffers.count else {
            throw SectionFileError.mismatch(Self.what, path, "its weights do not match the network its genotype and configuration build")
        }
        weights.load(sections["weights"]!)
        buffers.load(sections["buffers"]!)
        network.eval()
        return (network, weights, buffers)
    }
}
