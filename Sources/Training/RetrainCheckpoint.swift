import DARTS
import Foundation
import NN

/// A retrain checkpoint, written after every epoch: everything the run needs to go on exactly as
/// if it had not stopped (weights, batch-norm statistics, the SGD momentum buffer, the completed
/// epochs, the metrics so far), in a ``SectionFile`` with magic "DARTSRT1". Every other random
/// draw is keyed by (seed, epoch, image), so nothing else is needed for a bit-identical resume.
public struct RetrainCheckpoint {
    public struct Manifest: Codable, Equatable {
        public var options: RetrainOptions
        public var genotype: Genotype
        public var configuration: AugmentConfiguration
        public var worldSize: Int
        /// Completed epochs and steps.
        public var epoch: Int
        public var step: Int
        /// Wall-clock seconds of the run so far, and of its training steps.
        public var seconds: Double
        public var stepSeconds: Double
        /// The metrics of the completed epochs.
        public var history: [RetrainEpochMetrics]
        public var weightEntries: [ParameterArena.Entry]
        public var bufferEntries: [ParameterArena.Entry]
        public var sgdHasMomentum: Bool
        public var sections: [FloatSection]
        /// The checksum of the training and test images and labels (``RetrainData/checksum``, 16
        /// hex digits), so that a resume is refused when the files changed; nil in checkpoints
        /// written before it was recorded.
        public var dataChecksum: String? = nil
    }

    public var manifest: Manifest
    /// The float sections by name: weights, buffers, sgd.momentum.
    public var sections: [String: [Float]]

    static let magic = "DARTSRT1"
    static let what = "retrain checkpoint"
    /// What to give where a file of another kind was given (the fix in the error message).
    static let expected = "the run folder of a retrain that completed an epoch"
    /// The file name in a run folder.
    public static let fileName = RunFile.latestCheckpoint

    /// Captures the state of a retrain after `epoch` completed epochs.
    public init(options: RetrainOptions, genotype: Genotype, configuration: AugmentConfiguration, worldSize: Int,
                epoch: Int, step: Int, seconds: Double, stepSeconds: Double, history: [RetrainEpochMetrics],
                weights: ParameterArena, buffers: ParameterArena, optimizer: SGD, dataChecksum: UInt64? = nil) {
        let captured: [String: [Float]] = ["weights": weights.snapshot(), "buffers": buffers.snapshot(), "sgd.momentum": optimizer.momentumBuffer]
        manifest = Manifest(options: options, genotype: genotype, configuration: configuration, worldSize: worldSize,
                            epoch: epoch, step: step, seconds: seconds, stepSeconds: stepSeconds, history: history,
                            weightEntries: weights.entries, bufferEntries: buffers.entries,
                            sgdHasMomentum: optimizer.hasMomentum,
                            sections: ["weights", "buffers", "sgd.momentum"].map { FloatSection(name: $0, count: captured[$0]!.count) },
                            dataChecksum: dataChecksum.map(hexChecksum))
        sections = captured
    }

    /// The bytes of the file.
    public func encoded() throws -> Data {
        try SectionFile.encode(magic: Self.magic, manifest: manifest, order: manifest.sections, sections: sections)
    }

    /// Decodes and verifies the bytes of a checkpoint read from `path`.
    /// - Throws: ``SectionFileError`` naming the file and what is wrong with it.
    /// - Parameter checksum: false skips the checksum check (for fuzzing the fields behind it).
    public init(data: Data, path: String, checksum: Bool = true) throws {
        (manifest, sections) = try SectionFile.decode(Manifest.self, data: data, path: path, magic: Self.magic,
                                                      what: Self.what, expected: Self.expected, checksum: checksum,
                                                      sectionsOf: \.sections)
        try checkSections(path: path)
    }

    /// Reads and verifies a checkpoint file.
    /// - Throws: ``SectionFileError`` naming the file and what is wrong with it.
    public init(contentsOf url: URL) throws {
        (manifest, sections) = try SectionFile.read(Manifest.self, from: url, magic: Self.magic, what: Self.what,
                                                    expected: Self.expected,
                                                    sectionsOf: \.sections)
        try checkSections(path: url.path)
    }

    /// - Throws: ``SectionFileError/corrupt(_:_:_:)`` when a field is out of range or at odds
    ///   with another (``Manifest/problem(sections:)``).
    private func checkSections(path: String) throws {
        for name in ["weights", "buffers", "sgd.momentum"] where sections[name] == nil {
            throw SectionFileError.corrupt(Self.what, path, "section \(name) is missing")
        }
        if let problem = manifest.problem(sections: sections) { throw SectionFileError.corrupt(Self.what, path, problem) }
    }

    /// Writes the checkpoint to `url` atomically.
    public func write(to url: URL) throws {
        try SectionFile.write(try encoded(), to: url, what: Self.what)
    }

    /// Puts the captured state back.
    /// - Throws: ``SectionFileError/mismatch(_:_:_:)`` if the network layout differs.
    public func restore(weights: ParameterArena, buffers: ParameterArena, optimizer: SGD, path: String) throws {
        guard manifest.weightEntries == weights.entries, manifest.bufferEntries == buffers.entries,
              sections["weights"]!.count == weights.count, sections["buffers"]!.count == buffers.count,
              sections["sgd.momentum"]!.count == weights.count else {
            throw SectionFileError.mismatch(Self.what, path, "its network (names and shapes of the weights) differs from the one its options build")
        }
        weights.load(sections["weights"]!)
        buffers.load(sections["buffers"]!)
        optimizer.momentumBuffer = sections["sgd.momentum"]!
        optimizer.hasMomentum = manifest.sgdHasMomentum
    }
}
