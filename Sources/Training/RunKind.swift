import Foundation

/// The command that wrote a run folder, so that a folder given to the other command is named for
/// what it is, with the command that goes on with it.
public enum RunKind: String, Sendable {
    case search, retrain

    /// The kind of the run folder at `folder`: from its config.json (a search's records its val
    /// images and alphas, a retrain's its test images and genotype) or, when that is missing or
    /// damaged, from the first bytes of its checkpoint.ckpt; nil when neither tells.
    public static func of(folder: URL) -> RunKind? {
        if let data = try? SectionFile.contents(of: folder.appendingPathComponent(RunFile.config)),
           let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] {
            if object["valImages"] != nil || object["alphas"] != nil { return .search }
            if object["testImages"] != nil || object["genotype"] != nil { return .retrain }
        }
        return of(file: folder.appendingPathComponent(RunFile.latestCheckpoint))
    }

    /// The kind of run that wrote the file at `url`, by its first bytes: a search checkpoint, or
    /// a retrain checkpoint or saved model; nil for any other file.
    public static func of(file url: URL) -> RunKind? {
        // Only a regular file is opened: opening a FIFO would wait for a writer.
        var status = stat()
        guard stat(url.path, &status) == 0, status.st_mode & S_IFMT == S_IFREG,
              let handle = FileHandle(forReadingAtPath: url.path) else { return nil }
        defer { try? handle.close() }
        let head = String(decoding: (try? handle.read(upToCount: 7)) ?? Data(), as: UTF8.self)
        switch head {
        case "DARTSCK": return .search
        case "DARTSRT", "DARTSMD": return .retrain
        default: return nil
        }
    }

    /// Whether the run in `folder` has finished (it has result.json).
    public static func isFinished(_ folder: URL) -> Bool {
        FileManager.default.fileExists(atPath: folder.appendingPathComponent(RunFile.result).path)
    }

    /// What to do with the run folder `path` of this kind, for a user who gave it to the other
    /// command: the command that continues it (or, without a checkpoint, that it must start
    /// again), or what its results are when it has finished. An unfinished run that a process is
    /// still writing (its `.lock` held) is named as running, with what to do once it has ended.
    func whatToDo(with path: String, finished: Bool) -> String {
        if !finished, let running = stillRunning(path) {
            return "\(running); once it has ended, " + afterItsEnd(path)
        }
        let resumable = FileManager.default.fileExists(atPath: URL(fileURLWithPath: path).appendingPathComponent(RunFile.latestCheckpoint).path)
        switch (self, finished) {
        case (.search, false) where !resumable:
            return "it stopped before its first checkpoint, so nothing of it can be continued: start the search again with a new --out"
        case (.retrain, false) where !resumable:
            return "it stopped before its first epoch ended, so nothing of it can be continued: start the retrain again with a new --out"
        case (.search, false):
            return "continue the search with darts-dist search --resume \(path)"
        case (.retrain, false):
            return "continue the retrain with darts-dist retrain --resume \(path)"
        case (_, true):
            return "the \(rawValue) has finished: " + afterItsEnd(path)
        }
    }

    /// "the search is still running (process 4242 on node1)" when a process holds the `.lock` of
    /// the run folder `path` (``RunFolder/writer(of:)``), else nil.
    func stillRunning(_ path: String) -> String? {
        RunFolder.writer(of: URL(fileURLWithPath: path)).map { "the \(rawValue) is still running (\($0))" }
    }

    /// What a finished run of this kind is for: the command that takes its result.
    private func afterItsEnd(_ path: String) -> String {
        switch self {
        case .search: return "retrain its cell with darts-dist retrain --genotype \(path) --out NEW_DIR"
        case .retrain: return "measure its model with darts-dist evaluate --model \(path)"
        }
    }
}

/// What is wrong with a JSON file that did not decode, in a few words: "it is not valid JSON",
/// "it has no 'options'", "'options.layers' has the wrong type".
func jsonProblem(_ error: Error) -> String {
    func path(_ keys: [CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            .replacingOccurrences(of: ".[", with: "[")
    }
    guard let error = error as? DecodingError else { return "\(error)" }
    switch error {
    case let .keyNotFound(key, context):
        return "it has no '\(path(context.codingPath + [key]))'"
    case let .valueNotFound(_, context):
        return "'\(path(context.codingPath))' is null"
    case let .typeMismatch(_, context):
        return context.codingPath.isEmpty ? "it is not a JSON object" : "'\(path(context.codingPath))' has the wrong type"
    case let .dataCorrupted(context):
        return context.codingPath.isEmpty ? "it is not valid JSON" : "'\(path(context.codingPath))' is invalid"
    @unknown default:
        return "\(error)"
    }
}
