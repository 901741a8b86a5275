import DARTS
import Foundation
import NN

/// A search checkpoint: everything a search needs to go on, in one file.
///
/// Layout: the 8 bytes "DARTSCK1", the manifest length (UInt64, little-endian), the manifest
/// (JSON), the float32 sections back to back in the manifest's order (little-endian), and an
/// FNV-1a 64-bit checksum of all the bytes before it. Written atomically (temporary file in the
/// same folder, fsync, rename), so a reader never sees half a checkpoint.
public struct Checkpoint {
    public struct Manifest: Codable, Equatable {
        /// A named float section and its length in floats.
        public struct Section: Codable, Equatable {
            public let name: String
            public let count: Int
        }
        public var options: SearchOptions
        public var worldSize: Int
        /// Completed epochs and steps when it was written.
        public var epoch: Int
        public var step: Int
        public var weightEntries: [ParameterArena.Entry]
        public var alphaEntries: [ParameterArena.Entry]
        public var bufferEntries: [ParameterArena.Entry]
        public var sgdHasMomentum: Bool
        public var adamStepCount: Int
        public var sections: [Section]
    }

    public var manifest: Manifest
    /// The float sections by name: weights, alphas, buffers, sgd.momentum, adam.m, adam.v.
    public var sections: [String: [Float]]

    static let magic = Array("DARTSCK1".utf8)

    /// Captures the state of a search.
    public init(state: SearchState, options: SearchOptions, worldSize: Int, epoch: Int, step: Int) {
        let sections: [String: [Float]] = [
            "weights": state.weights.snapshot(),
            "alphas": state.alphas.snapshot(),
            "buffers": state.buffers.snapshot(),
            "sgd.momentum": state.weightOptimizer.momentumBuffer,
            "adam.m": state.alphaOptimizer.firstMoment,
            "adam.v": state.alphaOptimizer.secondMoment,
        ]
        self.sections = sections
        let order = ["weights", "alphas", "buffers", "sgd.momentum", "adam.m", "adam.v"]
        manifest = Manifest(options: options, worldSize: worldSize, epoch: epoch, step: step,
                            weightEntries: state.weights.entries, alphaEntries: state.alphas.entries,
                            bufferEntries: state.buffers.entries, sgdHasMomentum: state.weightOptimizer.hasMomentum,
                            adamStepCount: state.alphaOptimizer.stepCount,
                            sections: order.map { Manifest.Section(name: $0, count: sections[$0]!.count) })
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
        do { data = try Data(contentsOf: url) } catch {
            throw CheckpointError.unreadable(url.path, error.localizedDescription)
        }
        guard data.count >= 24, Array(data.prefix(8)) == Checkpoint.magic else {
            throw CheckpointError.corrupt(url.path, "not a darts-dist checkpoint (bad header)")
        }
        let body = data.prefix(data.count - 8)
        let stored = data.suffix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        guard fnv1a(body) == stored else {
            throw CheckpointError.corrupt(url.path, "checksum mismatch (truncated or modified)")
        }
        let jsonLength = Int(data.dropFirst(8).prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian)
        guard 16 + jsonLength <= body.count else { throw CheckpointError.corrupt(url.path, "manifest length out of range") }
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: data.subdata(in: 16..<(16 + jsonLength)))
        } catch {
            throw CheckpointError.corrupt(url.path, "unreadable manifest: \(error)")
        }
        var offset = 16 + jsonLength
        sections = [:]
        for section in manifest.sections {
            let bytes = section.count * 4
            guard offset + bytes <= body.count else { throw CheckpointError.corrupt(url.path, "section \(section.name) truncated") }
            sections[section.name] = data.subdata(in: offset..<(offset + bytes)).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            offset += bytes
        }
        guard offset == body.count else { throw CheckpointError.corrupt(url.path, "unexpected bytes after the sections") }
    }

    /// Writes the checkpoint to `url` atomically: a temporary file in the same folder, fsync, rename.
    public func write(to url: URL) throws {
        let data = try encoded()
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw CheckpointError.unwritable(temporary.path, "cannot create the file")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            guard rename(temporary.path, url.path) == 0 else {
                throw CheckpointError.unwritable(url.path, String(cString: strerror(errno)))
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            if let e = error as? CheckpointError { throw e }
            throw CheckpointError.unwritable(url.path, error.localizedDescription)
        }
    }

    /// Puts the captured state back into `state`.
    /// - Throws: ``CheckpointError/mismatch(_:_:)`` if the network layout differs.
    public func restore(into state: SearchState, path: String) throws {
        guard manifest.weightEntries == state.weights.entries, manifest.alphaEntries == state.alphas.entries,
              manifest.bufferEntries == state.buffers.entries else {
            throw CheckpointError.mismatch(path, "its network (names and shapes of the weights) differs from this configuration's")
        }
        state.weights.load(sections["weights"]!)
        state.alphas.load(sections["alphas"]!)
        state.buffers.load(sections["buffers"]!)
        state.weightOptimizer.momentumBuffer = sections["sgd.momentum"]!
        state.weightOptimizer.hasMomentum = manifest.sgdHasMomentum
        state.alphaOptimizer.firstMoment = sections["adam.m"]!
        state.alphaOptimizer.secondMoment = sections["adam.v"]!
        state.alphaOptimizer.stepCount = manifest.adamStepCount
    }
}

/// What can be wrong with a checkpoint file.
public enum CheckpointError: Error, CustomStringConvertible {
    case unreadable(String, String)
    case corrupt(String, String)
    case unwritable(String, String)
    case mismatch(String, String)

    public var description: String {
        switch self {
        case let .unreadable(path, why): return "cannot read checkpoint \(path): \(why)"
        case let .corrupt(path, why): return "checkpoint \(path) is damaged: \(why); use an earlier checkpoint"
        case let .unwritable(path, why): return "cannot write checkpoint \(path): \(why); check free space and permissions of --out"
        case let .mismatch(path, why): return "checkpoint \(path) does not fit this search: \(why)"
        }
    }
}

/// FNV-1a, 64 bits, over bytes.
func fnv1a(_ data: Data) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in data { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    return h
}
