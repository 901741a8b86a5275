import DARTS
import Foundation
import NN

/// A search checkpoint: everything a search needs to go on exactly where it stopped, in one file.
///
/// Layout: the 8 bytes "DARTSCK2", the manifest length (UInt64, little-endian), the manifest
/// (JSON: options, world size, position, optimizer step counts, metric sums of the epoch in
/// progress, the tensor names and shapes), the float32 sections back to back in the manifest's
/// order (little-endian), and an FNV-1a 64-bit checksum of all the bytes before it, verified on
/// every load. Written atomically (temporary file in the same folder, fsync, rename), so a reader
/// never sees half a checkpoint.
///
/// Sections: `weights`, `alphas`, `sgd.momentum`, `adam.m`, `adam.v`, and the batch-norm running
/// statistics: `buffers` when they are the same on every rank (at the end of an epoch, after they
/// are averaged), or `buffers.rank0` ... `buffers.rank{P-1}`, each rank's own, in the middle of an
/// epoch (they are per rank during an epoch, as in DDP without SyncBN).
///
/// The random numbers of a search are pure functions of (seed, epoch, image index): the sampler's
/// order of epoch e and each image's augmentation draw from generators seeded by them, so the seed
/// (in `options`) and the position (`epoch`, `stepInEpoch`) are the whole random state.
public struct Checkpoint {
    public struct Manifest: Codable, Equatable {
        /// A named float section and its length in floats.
        public struct Section: Codable, Equatable {
            public let name: String
            public let count: Int
        }
        public var options: SearchOptions
        /// The ranks of the search that wrote it, and their micro-batches per step (options.accumulate).
        public var worldSize: Int
        /// Position and partial-epoch sums.
        public var progress: SearchProgress
        /// Steps per epoch and the sizes of the two halves of the data, to check a resume reads the same data.
        public var stepsPerEpoch: Int
        public var trainImages: Int
        public var valImages: Int
        /// The checksum of the search's training images and labels (``SearchData/checksum``, 16 hex
        /// digits), so that other data of the same size are not taken for them; nil in checkpoints
        /// written before it was recorded, which are checked by their counts alone.
        public var dataChecksum: String?
        /// The weight learning rate of the epoch in progress (the scheduler's position is `progress.epoch`).
        public var learningRate: Float
        public var weightEntries: [ParameterArena.Entry]
        public var alphaEntries: [ParameterArena.Entry]
        public var bufferEntries: [ParameterArena.Entry]
        /// 1 when one `buffers` section holds the statistics of every rank, else the number of
        /// per-rank sections `buffers.rankR`.
        public var bufferCopies: Int
        public var sgdHasMomentum: Bool
        public var adamStepCount: Int
        public var sections: [Section]

        /// Completed epochs, and steps taken since the search began.
        public var epoch: Int { progress.epoch }
        public var step: Int { progress.globalStep }
        /// "epoch 3/8, step 2/6" (the epoch in progress, 1-based) or "end of epoch 2/8".
        public var position: String { Self.describe(progress, options: options, stepsPerEpoch: stepsPerEpoch) }
    }

    public var manifest: Manifest
    /// The float sections by name.
    public var sections: [String: [Float]]

    static let magic = Array("DARTSCK2".utf8)
    static let olderMagic = Array("DARTSCK1".utf8)

    /// Captures the state of a search.
    /// - Parameter rankBuffers: every rank's batch-norm statistics, indexed by rank (in the middle
    ///   of an epoch), or nil when the state's own are every rank's (after they were averaged).
    public init(state: SearchState, options: SearchOptions, worldSize: Int, progress: SearchProgress,
                stepsPerEpoch: Int, trainImages: Int, valImages: Int, dataChecksum: UInt64? = nil, learningRate: Float,
                rankBuffers: [[Float]]? = nil) {
        var named: [(String, [Float])] = [
            ("weights", state.weights.snapshot()),
            ("alphas", state.alphas.snapshot()),
        ]
        if let rankBuffers {
            named += rankBuffers.enumerated().map { ("buffers.rank\($0.offset)", $0.element) }
        } else {
            named.append(("buffers", state.buffers.snapshot()))
        }
        named += [
            ("sgd.momentum", state.weightOptimizer.momentumBuffer),
            ("adam.m", state.alphaOptimizer.firstMoment),
            ("adam.v", state.alphaOptimizer.secondMoment),
        ]
        sections = Dictionary(uniqueKeysWithValues: named)
        manifest = Manifest(options: options, worldSize: worldSize, progress: progress, stepsPerEpoch: stepsPerEpoch,
                            trainImages: trainImages, valImages: valImages, dataChecksum: dataChecksum.map(hexChecksum),
                            learningRate: learningRate,
                            weightEntries: state.weights.entries, alphaEntries: state.alphas.entries,
                            bufferEntries: state.buffers.entries, bufferCopies: rankBuffers?.count ?? 1,
                            sgdHasMomentum: state.weightOptimizer.hasMomentum,
                            adamStepCount: state.alphaOptimizer.stepCount,
                            sections: named.map { Manifest.Section(name: $0.0, count: $0.1.count) })
    }

    /// The bytes of the file.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try encoder.encode(manifest)
        var data = Data(Checkpoint.magic)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for section in manifest.sections {
            sections[section.name]!.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        withUnsafeBytes(of: fnv1a(data).littleEndian) { data.append(contentsOf: $0) }
        return data
    }

    /// Reads and verifies a checkpoint file.
    /// - Throws: ``CheckpointError`` naming the file and what is wrong with it.
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try SectionFile.contents(of: url) } catch {
            throw CheckpointError.unreadable(url.path, "\(error)")
        }
        try self.init(data: data, path: url.path)
    }

    /// Decodes and verifies the bytes of a checkpoint file (`path` names it in errors).
    /// - Throws: ``CheckpointError/corrupt(_:_:)`` for a wrong header, a checksum that does not
    ///   match (truncated or modified file), or a manifest that does not describe the bytes.
    public init(data: Data, path: String) throws {
        if data.count >= 8 && Array(data.prefix(8)) == Checkpoint.olderMagic {
            throw CheckpointError.corrupt(path, "it was written by an earlier darts-dist that saved no resume state "
                + "(data position, metric sums, per-rank batch-norm statistics); it cannot be resumed")
        }
        if let other = SectionFile.otherKind(data, expected: "DARTSCK2", what: "search checkpoint") {
            throw CheckpointError.wrongKind(path, other)
        }
        guard data.count >= 24, Array(data.prefix(8)) == Checkpoint.magic else {
            throw CheckpointError.corrupt(path, "not a darts-dist checkpoint (bad header)")
        }
        guard SectionFile.checksumMatches(data) else {
            throw CheckpointError.corrupt(path, "checksum mismatch (truncated or modified)")
        }
        try self.init(verified: data, path: path)
    }

    /// Decodes the bytes of a checkpoint whose header and checksum were checked, and checks its
    /// fields (``Manifest/problem(sections:)``).
    /// - Throws: ``CheckpointError/corrupt(_:_:)``.
    init(verified data: Data, path: String) throws {
        guard let json = SectionFile.manifestBytes(data) else {
            throw CheckpointError.corrupt(path, "manifest length out of range")
        }
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: json)
        } catch {
            throw CheckpointError.corrupt(path, "unreadable manifest: \(jsonProblem(error))")
        }
        let (sections, problem) = SectionFile.split(data, sections: manifest.sections.map { ($0.name, $0.count) })
        if let problem { throw CheckpointError.corrupt(path, problem) }
        self.sections = sections
        if let problem = manifest.problem(sections: sections) { throw CheckpointError.corrupt(path, problem) }
    }

    /// Writes the checkpoint to `url` atomically: a temporary file in the same folder, fsync, rename.
    /// - Parameter midway: called halfway through writing the bytes (a test hook).
    /// - Throws: ``CheckpointError/unwritable(_:_:)`` with the system's reason; an existing file at
    ///   `url` is left as it was.
    public func write(to url: URL, midway: (() -> Void)? = nil) throws {
        do {
            try AtomicFile.write(try encoded(), to: url, midway: midway)
        } catch let error as AtomicFileError {
            throw CheckpointError.unwritable(url.path, error.reason)
        }
    }

    /// Puts the captured state back into `state`, as rank `rank` of `worldSize`: the weights, alphas
    /// and optimizer states, and the batch-norm statistics this rank had (when the checkpoint was
    /// written by as many ranks as there are now) or their mean over the ranks that wrote it.
    /// - Throws: ``CheckpointError/mismatch(_:_:)`` if the network layout differs,
    ///   ``CheckpointError/corrupt(_:_:)`` if a section is missing or of the wrong length.
    public func restore(into state: SearchState, rank: Int = 0, worldSize: Int = 1, path: String) throws {
        guard manifest.weightEntries == state.weights.entries, manifest.alphaEntries == state.alphas.entries,
              manifest.bufferEntries == state.buffers.entries else {
            throw CheckpointError.mismatch(path, "its network (names and shapes of the weights) differs from this configuration's")
        }
        func section(_ name: String, _ count: Int) throws -> [Float] {
            guard let values = sections[name], values.count == count else {
                throw CheckpointError.corrupt(path, "section \(name) is missing or not \(count) floats long")
            }
            return values
        }
        let weights = try section("weights", state.weights.count)
        let alphas = try section("alphas", state.alphas.count)
        let momentum = try section("sgd.momentum", state.weights.count)
        let first = try section("adam.m", state.alphas.count)
        let second = try section("adam.v", state.alphas.count)
        let buffers: [Float]
        let n = state.buffers.count
        if manifest.bufferCopies == 1 {
            buffers = try section("buffers", n)
        } else if manifest.bufferCopies == worldSize {
            buffers = try section("buffers.rank\(rank)", n)
        } else {
            // Another world size in the middle of an epoch: each new rank starts from the mean of
            // the old ranks' statistics (they only feed validation, never the weights or alphas).
            var sum = [Float](repeating: 0, count: n)
            for r in 0..<manifest.bufferCopies {
                let copy = try section("buffers.rank\(r)", n)
                for i in 0..<n { sum[i] += copy[i] }
            }
            let scale = 1 / Float(manifest.bufferCopies)
            buffers = sum.map { $0 * scale }
        }
        state.weights.load(weights)
        state.alphas.load(alphas)
        state.buffers.load(buffers)
        state.weightOptimizer.momentumBuffer = momentum
        state.weightOptimizer.hasMomentum = manifest.sgdHasMomentum
        state.alphaOptimizer.firstMoment = first
        state.alphaOptimizer.secondMoment = second
        state.alphaOptimizer.stepCount = manifest.adamStepCount
    }
}

/// Where a search stands, and the running sums of its epoch in progress: what a checkpoint holds
/// beyond the tensors, so that a resumed search prints and records the same numbers.
public struct SearchProgress: Codable, Equatable, Sendable {
    /// Completed epochs, and the steps taken in the epoch in progress (0 at an epoch's end).
    public var epoch = 0
    public var stepInEpoch = 0
    /// Steps taken since the search began.
    public var globalStep = 0
    /// Sums over the steps of the epoch in progress, over all ranks: training loss x images,
    /// correct predictions, images, architect loss x images.
    public var epochSums = [0.0, 0.0, 0.0, 0.0]
    /// Seconds spent in the epoch in progress, and in training steps since the search began.
    public var epochSeconds = 0.0
    public var stepSeconds = 0.0
    /// The validation loss and top-1 accuracy (0...1) after the last completed epoch.
    public var validationLoss = 0.0
    public var validationAccuracy = 0.0

    public init() {}
}

/// What can be wrong with a checkpoint file.
public enum CheckpointError: Error, CustomStringConvertible {
    case unreadable(String, String)
    case corrupt(String, String)
    case unwritable(String, String)
    case mismatch(String, String)
    /// Another darts-dist file than a search checkpoint: (path, what it is and what to do).
    case wrongKind(String, String)

    public var description: String {
        switch self {
        case let .wrongKind(path, why): return "\(path): \(why)"
        case let .unreadable(path, why): return "cannot read checkpoint \(path): \(why)"
        case let .corrupt(path, why): return "checkpoint \(path) is damaged: \(why); use an earlier checkpoint"
        case let .unwritable(path, why): return "cannot write checkpoint \(path): \(why); check free space and permissions of --out"
        case let .mismatch(path, why): return "checkpoint \(path) does not fit this search: \(why)"
        }
    }
}

/// FNV-1a, 64 bits, over bytes (``FNV1a``).
func fnv1a(_ data: Data) -> UInt64 {
    var h = FNV1a()
    data.withUnsafeBytes { h.combine(bytes: $0) }
    return h.value
}
