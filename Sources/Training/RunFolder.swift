import Foundation

/// The output folder of a run, written by rank 0 only. Every file is written atomically
/// (a temporary file in the same folder, then rename), so a reader or a killed job never sees
/// half a file; metrics are JSON lines appended one whole line at a time.
public final class RunFolder {
    public let url: URL
    private let metrics: FileHandle

    /// Creates the folder. An existing folder that is not empty is refused, never overwritten.
    /// - Throws: ``SearchError/runFolder(_:)`` naming the path and the fix.
    public init(path: String) throws {
        url = URL(fileURLWithPath: path, isDirectory: true)
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw SearchError.runFolder("--out \(path) exists and is a file; choose another --out")
            }
            let contents = (try? fm.contentsOfDirectory(atPath: url.path)) ?? []
            if !contents.isEmpty {
                throw SearchError.runFolder("--out \(path) already holds a run (\(contents.count) files); "
                    + "choose a new --out, or move the old run away: it is never overwritten")
            }
        }
        do {
            try fm.createDirectory(at: url, withIntermediateDirectories: true)
            let metricsURL = url.appendingPathComponent("metrics.jsonl")
            guard fm.createFile(atPath: metricsURL.path, contents: nil) else {
                throw SearchError.runFolder("cannot create \(metricsURL.path); check that --out is writable")
            }
            metrics = try FileHandle(forWritingTo: metricsURL)
        } catch let error as SearchError {
            throw error
        } catch {
            throw SearchError.runFolder("cannot create the run folder --out \(path): \(error.localizedDescription); "
                + "check that the parent folder exists and is writable")
        }
    }

    /// Opens the folder of an interrupted run to continue it: metrics.jsonl is first replaced
    /// (atomically) by `metricsLines`, the lines of the epochs the checkpoint holds, so a line
    /// written after that checkpoint is not kept twice; later lines are appended.
    /// - Throws: ``SearchError/runFolder(_:)`` when the folder is missing or not writable.
    public init(resuming path: String, metricsLines: Data) throws {
        url = URL(fileURLWithPath: path, isDirectory: true)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw SearchError.runFolder("--resume \(path) is not a run folder; give the --out folder of the interrupted run")
        }
        let metricsURL = url.appendingPathComponent("metrics.jsonl")
        do {
            try metricsLines.write(to: metricsURL, options: .atomic)
            metrics = try FileHandle(forWritingTo: metricsURL)
            try metrics.seekToEnd()
        } catch {
            throw SearchError.runFolder("cannot rewrite \(metricsURL.path): \(error.localizedDescription); check that the run folder is writable")
        }
    }

    deinit { try? metrics.close() }

    /// Writes `data` to `name` atomically.
    public func write(_ name: String, data: Data) throws {
        let target = url.appendingPathComponent(name)
        do {
            try data.write(to: target, options: .atomic)
        } catch {
            throw SearchError.runFolder("cannot write \(target.path): \(error.localizedDescription)")
        }
    }

    /// Writes `text` (plus a newline) to `name` atomically.
    public func write(_ name: String, text: String) throws {
        try write(name, data: Data((text + "\n").utf8))
    }

    /// Writes `value` as pretty, key-sorted JSON to `name` atomically.
    public func writeJSON<T: Encodable>(_ name: String, _ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try write(name, data: try encoder.encode(value) + Data("\n".utf8))
    }

    /// Appends one JSON object as one line of metrics.jsonl.
    public func appendMetrics<T: Encodable>(_ record: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            try metrics.write(contentsOf: try encoder.encode(record) + Data("\n".utf8))
        } catch {
            throw SearchError.runFolder("cannot append to \(url.appendingPathComponent("metrics.jsonl").path): \(error.localizedDescription)")
        }
    }
}
