import Foundation

/// The command that wrote a run folder, so that a folder given to the other command is named for
/// what it is, with the command that goes on with it.
public enum RunKind: String, Sendable {
    case search, retrain

    /// The kind of the run folder at `folder`: from its config.json (a search's records its val
    /// images and alphas, a retrain's its test images and genotype) or, when that is missing or
    /// damaged, from the first bytes of its checkpoint.ckpt; nil when neither tells.
    public static func of(folder: URL) -> RunKind? {
        if let data = FileManager.default.contents(atPath: folder.appendingPathComponent("config.json").path),
           let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] {
            if object["valImages"] != nil || object["alphas"] != nil { return .search }
            if object["testImages"] != nil || object["genotype"] != nil { return .retrain }
        }
        return of(file: folder.appendingPathComponent("checkpoint.ckpt"))
    }

    /// The kind of run that wrote the file at `url`, by its first bytes: a search checkpoint, or
    /// a retrain checkpoint or saved model; nil for any other file.
    public static func of(file url: URL) -> RunKind? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue,
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
        FileManager.default.fileExists(atPath: folder.appendingPathComponent("result.json").path)
    }

    /// What to do with the run folder `path` of this kind, for a user who gave it to the other
    /// command: the command that continues it, or what its results are when it has finished.
    func whatToDo(with path: String, finished: Bool) -> String {
        switch (self, finished) {
        case (.search, false):
            return "continue the search with darts-dist search --resume \(path)"
        case (.search, true):
            return "the search has finished: retrain its cell with darts-dist retrain --genotype \(path) --out NEW_DIR"
        case (.retrain, false):
            return "continue the retrain with darts-dist retrain --resume \(path)"
        case (.retrain, true):
            return "the retrain has finished: measure its model with darts-dist evaluate --model \(path)"
        }
    }
}
