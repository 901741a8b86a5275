import DARTS
import Foundation
import NN

/// A named block of float32 values in a ``SectionFile``, and its length in floats.
public struct FloatSection: Codable, Equatable, Sendable {
    public let name: String
    public let count: Int
}

/// The container of retrain checkpoints and saved models, laid out as the search checkpoint is:
/// 8 magic bytes, the manifest length (UInt64, little-endian), the manifest (JSON), the float32
/// sections back to back in the order the manifest lists them (little-endian), and an FNV-1a
/// 64-bit checksum of every byte before it. Written atomically (temporary file in the same
/// folder, fsync, rename), so a reader never sees half a file.
enum SectionFile {
    /// The bytes of a file: `manifest` (whose `sections` give the order) and the float arrays.
    static func encode<Manifest: Encodable>(magic: String, manifest: Manifest, order: [FloatSection],
                                            sections: [String: [Float]]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try encoder.encode(manifest)
        var data = Data(magic.utf8)
        precondition(data.count == 8, "a section file magic has 8 bytes")
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for section in order {
            let values = sections[section.name]!
            precondition(values.count == section.count, "section \(section.name): \(values.count) floats, manifest says \(section.count)")
            values.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        withUnsafeBytes(of: fnv1a(data).littleEndian) { data.append(contentsOf: $0) }
        return data
    }

    /// Reads and verifies a file.
    /// - Parameters:
    ///   - what: the kind of file for messages ("retrain checkpoint", "saved model").
    ///   - expected: what to give instead when the file is not of this kind (the fix in the message).
    ///   - sectionsOf: the manifest's section list.
    /// - Throws: ``SectionFileError`` naming the file and what is wrong with it.
    static func read<Manifest: Decodable>(_ type: Manifest.Type, from url: URL, magic: String, what: String,
                                          expected: String, sectionsOf: (Manifest) -> [FloatSection]) throws -> (Manifest, [String: [Float]]) {
        let data: Data
        do { data = try contents(of: url) } catch {
            throw SectionFileError.unreadable(what, url.path, "\(error)")
        }
        return try decode(type, data: data, path: url.path, magic: magic, what: what, expected: expected,
                          sectionsOf: sectionsOf)
    }

    /// The bytes of a regular file (a FIFO or a device is refused before it is opened, since
    /// reading one could block or never end).
    /// - Throws: ``NotAFileError`` or the system's error.
    static func contents(of url: URL) throws -> Data {
        var status = stat()
        if stat(url.path, &status) == 0, status.st_mode & S_IFMT != S_IFREG {
            throw NotAFileError(mode: status.st_mode)
        }
        do { return try Data(contentsOf: url) } catch { throw SystemError(error.localizedDescription) }
    }

    /// The 8-byte magic numbers of darts-dist's files, and what each file is, for a file given
    /// where another kind is expected.
    static let knownKinds: [(magic: String, what: String, use: String)] = [
        ("DARTSCK2", "a search checkpoint", "it holds a search network, not a trained one: continue the search with "
            + "darts-dist search --resume RUN_DIR; once it has finished, retrain its genotype (darts-dist retrain "
            + "--genotype RUN_DIR --out NEW_DIR) and give that retrain's model.bin"),
        ("DARTSCK1", "a search checkpoint of an earlier darts-dist", "it can be neither resumed nor evaluated; "
            + "start the search again"),
        ("DARTSRT1", "a retrain checkpoint", "continue the retrain with darts-dist retrain --resume RUN_DIR; "
            + "once it has finished, its folder holds model.bin, which darts-dist evaluate --model takes"),
        ("DARTSMD1", "a saved model (model.bin)", "evaluate it with darts-dist evaluate --model FILE"),
    ]

    /// "it is a search checkpoint, not a saved model: ..." when `data` starts with the magic of
    /// another darts-dist file than `magic`; nil otherwise.
    static func otherKind(_ data: Data, expected magic: String, what: String) -> String? {
        guard data.count >= 8 else { return nil }
        let head = String(decoding: data.prefix(8), as: UTF8.self)
        guard head != magic, let kind = knownKinds.first(where: { $0.magic == head }) else { return nil }
        return "it is \(kind.what), not a \(what): \(kind.use)"
    }

    /// The manifest and sections of the bytes of a section file, checked against the file's
    /// length with overflow-checked arithmetic (the manifest length and each section's length
    /// come from the file). `jsonLength` is the manifest length field at byte 8.
    /// - Returns: nil and the reason when the bytes do not hold what the manifest says.
    static func split(_ data: Data, sections list: [(name: String, count: Int)]) -> (sections: [String: [Float]], problem: String?) {
        let bodyEnd = data.count - 8
        let start = data.startIndex
        let length = data.dropFirst(8).prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        guard length <= UInt64(bodyEnd - 16) else { return ([:], "manifest length out of range") }
        var offset = 16 + Int(length)
        var sections: [String: [Float]] = [:]
        for section in list {
            let (bytes, overflow) = section.count.multipliedReportingOverflow(by: 4)
            guard section.count >= 0, !overflow, bytes <= bodyEnd - offset else {
                return ([:], "section \(GenotypeError.escaped(section.name)) truncated")
            }
            guard sections[section.name] == nil else { return ([:], "section \(GenotypeError.escaped(section.name)) appears twice") }
            sections[section.name] = data.subdata(in: (start + offset)..<(start + offset + bytes))
                .withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            offset += bytes
        }
        guard offset == bodyEnd else { return ([:], "unexpected bytes after the sections") }
        return (sections, nil)
    }

    /// The manifest bytes of a section file whose header and checksum were checked: nil when
    /// its length field does not fit the file.
    static func manifestBytes(_ data: Data) -> Data? {
        let length = data.dropFirst(8).prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        guard length <= UInt64(data.count - 24) else { return nil }
        let start = data.startIndex + 16
        return data.subdata(in: start..<(start + Int(length)))
    }

    /// Whether the checksum at the end of `data` (at least 24 bytes) is FNV-1a of the rest.
    static func checksumMatches(_ data: Data) -> Bool {
        let stored = data.suffix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        return fnv1a(data.prefix(data.count - 8)) == stored
    }

    /// Verifies and decodes the bytes of a file read from `path`.
    /// - Parameters:
    ///   - expected: what to give instead when the file is not of this kind (as in ``read(_:from:magic:what:expected:sectionsOf:)``).
    ///   - checksum: false skips the checksum check (for fuzzing the fields behind it).
    static func decode<Manifest: Decodable>(_ type: Manifest.Type, data: Data, path: String, magic: String, what: String,
                                            expected: String, checksum: Bool = true,
                                            sectionsOf: (Manifest) -> [FloatSection]) throws -> (Manifest, [String: [Float]]) {
        if let other = otherKind(data, expected: magic, what: what) {
            throw SectionFileError.wrongKind(what, path, other)
        }
        guard Array(data.prefix(8)) == Array(magic.utf8) else {
            throw SectionFileError.wrongKind(what, path, "not a darts-dist \(what): it does not begin as every file darts-dist "
                + "writes does (a file of another kind, or one damaged at its start); give \(expected)")
        }
        guard data.count >= 24 else {
            throw SectionFileError.corrupt(what, path, "it ends after \(data.count) bytes, inside its header (truncated)")
        }
        guard !checksum || checksumMatches(data) else {
            throw SectionFileError.corrupt(what, path, "checksum mismatch (truncated or modified)")
        }
        guard let json = manifestBytes(data) else {
            throw SectionFileError.corrupt(what, path, "manifest length out of range")
        }
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: json)
        } catch {
            throw SectionFileError.corrupt(what, path, "unreadable manifest: \(jsonProblem(error))")
        }
        let (sections, problem) = split(data, sections: sectionsOf(manifest).map { ($0.name, $0.count) })
        if let problem { throw SectionFileError.corrupt(what, path, problem) }
        return (manifest, sections)
    }

    /// Why `entries` (names, shapes and offsets read from a file) do not describe `floats`
    /// floats back to back, nil when they do. Products and sums are overflow-checked.
    static func entriesProblem(_ entries: [ParameterArena.Entry], floats: Int, of arena: String) -> String? {
        var offset = 0
        var names: Set<String> = []
        for entry in entries {
            let name = GenotypeError.escaped(entry.name)
            guard names.insert(entry.name).inserted else { return "\(arena) tensor \(name) appears twice" }
            var count = 1
            for dimension in entry.shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard dimension >= 0, !overflow else { return "\(arena) tensor \(name) has the shape \(entry.shape.prefix(8))" }
                count = product
            }
            guard entry.offset == offset else { return "\(arena) tensor \(name) is not where the tensors before it end" }
            let (end, overflow) = offset.addingReportingOverflow(count)
            guard !overflow else { return "\(arena) tensors hold more floats than an integer counts" }
            offset = end
        }
        return offset == floats ? nil : "its \(arena) tensors hold \(offset) floats, their section \(floats)"
    }

    /// Writes `data` to `url` atomically (``AtomicFile``): a temporary file in the same folder,
    /// fsync, rename, fsync of the folder.
    /// - Throws: ``OutputPathError`` when something other than a regular file is at `url`;
    ///   ``SectionFileError/unwritable(_:_:_:)`` with the system's reason otherwise.
    static func write(_ data: Data, to url: URL, what: String) throws {
        do {
            try AtomicFile.write(data, to: url)
        } catch let error as AtomicFileError {
            throw SectionFileError.unwritable(what, url.path, error.reason + "; check free space and permissions")
        }
    }
}

/// What can be wrong with a retrain checkpoint or a saved model file.
public enum SectionFileError: Error, CustomStringConvertible {
    /// (what, path, why)
    case unreadable(String, String, String)
    case corrupt(String, String, String)
    case unwritable(String, String, String)
    case mismatch(String, String, String)
    /// Another darts-dist file than the one expected: (what was expected, path, what it is and what to do).
    case wrongKind(String, String, String)

    public var description: String {
        switch self {
        case let .unreadable(what, path, why): return "cannot read \(what) \(path): \(why)"
        case let .corrupt(what, path, why): return "\(what) \(path) is damaged: \(why)"
        case let .unwritable(what, path, why): return "cannot write \(what) \(path): \(why)"
        case let .mismatch(what, path, why): return "\(what) \(path) does not fit: \(why)"
        case let .wrongKind(_, path, why): return "\(path): \(why)"
        }
    }
}

/// A path that names a folder, a FIFO, a device or a socket where a file is expected.
struct NotAFileError: Error, CustomStringConvertible {
    let mode: mode_t
    var description: String {
        let kind: String
        switch mode & S_IFMT {
        case S_IFDIR: kind = "a folder"
        case S_IFIFO: kind = "a FIFO"
        case S_IFCHR: kind = "a character device"
        case S_IFBLK: kind = "a block device"
        case S_IFSOCK: kind = "a socket"
        default: kind = "not a regular file"
        }
        return "it is \(kind), not a file"
    }
}

/// An error of the system, described by its own sentence.
struct SystemError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
