import Foundation

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
    ///   - sectionsOf: the manifest's section list.
    /// - Throws: ``SectionFileError`` naming the file and what is wrong with it.
    static func read<Manifest: Decodable>(_ type: Manifest.Type, from url: URL, magic: String, what: String,
                                          sectionsOf: (Manifest) -> [FloatSection]) throws -> (Manifest, [String: [Float]]) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SectionFileError.unreadable(what, url.path, error.localizedDescription)
        }
        return try decode(type, data: data, path: url.path, magic: magic, what: what, sectionsOf: sectionsOf)
    }

    /// Verifies and decodes the bytes of a file read from `path`.
    static func decode<Manifest: Decodable>(_ type: Manifest.Type, data: Data, path: String, magic: String, what: String,
                                            sectionsOf: (Manifest) -> [FloatSection]) throws -> (Manifest, [String: [Float]]) {
        guard data.count >= 24, Array(data.prefix(8)) == Array(magic.utf8) else {
            throw SectionFileError.corrupt(what, path, "it is not a darts-dist \(what) (bad header)")
        }
        let body = data.prefix(data.count - 8)
        let stored = data.suffix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        guard fnv1a(body) == stored else {
            throw SectionFileError.corrupt(what, path, "checksum mismatch (truncated or modified)")
        }
        let jsonLength = Int(data.dropFirst(8).prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian)
        guard jsonLength >= 0, 16 + jsonLength <= body.count else {
            throw SectionFileError.corrupt(what, path, "manifest length out of range")
        }
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: data.subdata(in: 16..<(16 + jsonLength)))
        } catch {
            throw SectionFileError.corrupt(what, path, "unreadable manifest: \(error)")
        }
        var offset = 16 + jsonLength
        var sections: [String: [Float]] = [:]
        for section in sectionsOf(manifest) {
            let bytes = section.count * 4
            guard section.count >= 0, offset + bytes <= body.count else {
                throw SectionFileError.corrupt(what, path, "section \(section.name) truncated")
            }
            sections[section.name] = data.subdata(in: offset..<(offset + bytes)).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            offset += bytes
        }
        guard offset == body.count else { throw SectionFileError.corrupt(what, path, "unexpected bytes after the sections") }
        return (manifest, sections)
    }

    /// Writes `data` to `url` atomically (``AtomicFile``): a temporary file in the same folder,
    /// fsync, rename, fsync of the folder.
    /// - Throws: ``SectionFileError/unwritable(_:_:_:)`` with the system's reason, or saying that
    ///   something other than a regular file is at `url` (left as it is).
    static func write(_ data: Data, to url: URL, what: String) throws {
        do {
            try AtomicFile.write(data, to: url)
        } catch let error as AtomicFileError {
            throw SectionFileError.unwritable(what, url.path, error.reason + "; check free space and permissions")
        } catch let error as OutputPathError {
            throw SectionFileError.unwritable(what, url.path, "it is " + error.reason)
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

    public var description: String {
        switch self {
        case let .unreadable(what, path, why): return "cannot read \(what) \(path): \(why)"
        case let .corrupt(what, path, why): return "\(what) \(path) is damaged: \(why)"
        case let .unwritable(what, path, why): return "cannot write \(what) \(path): \(why)"
        case let .mismatch(what, path, why): return "\(what) \(path) does not fit: \(why)"
        }
    }
}
