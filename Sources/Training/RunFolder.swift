import Distributed
import Foundation
import InputText

/// The names of a run folder's files, each declared once: the writers, the readers (resume,
/// pictures, the run kind) and the check that an `--out` already holds a run use them.
public enum RunFile {
    /// Locked (flock) while a job writes the folder.
    public static let lock = ".lock"
    /// The run's options, written first.
    public static let config = "config.json"
    /// One JSON line per logged step and epoch.
    public static let metrics = "metrics.jsonl"
    /// The folder of a search's checkpoints, `step_NNNNNNNN.ckpt`.
    public static let checkpoints = "checkpoints"
    /// The newest checkpoint (a search: a hard link into `checkpoints`; a retrain: its only one).
    public static let latestCheckpoint = "checkpoint.ckpt"
    /// The final figures, written last.
    public static let result = "result.json"
    /// Every name that marks a folder as a run's (with the retrain's ``SavedModel/fileName``).
    public static var all: [String] { [lock, config, metrics, checkpoints, latestCheckpoint, result, SavedModel.fileName] }
}

/// The output folder of a run, written by rank 0 only. Every file but metrics.jsonl is written
/// atomically (a temporary file in the same folder, fsync, then rename), so a reader or a killed
/// job never sees half a file; metrics.jsonl is appended one whole line at a time, each line
/// flushed to the disk (fsync) before the run goes on, and a resumed run drops the lines of epochs
/// its checkpoint had not finished (and a line cut short by a kill). Only regular files are
/// written or replaced: anything else at a file's path (a device, a FIFO, a socket, a symbolic
/// link) is refused with ``OutputPathError`` and left as it is.
///
/// Checkpoints go to `checkpoints/step_NNNNNNNN.ckpt` (N = steps taken), the newest
/// `keepCheckpoints` of them are kept, and `checkpoint.ckpt` names the newest (a hard link).
public final class RunFolder {
    public let url: URL
    private let metrics: FileHandle
    /// The open `.lock` file, locked (flock) while this run writes the folder.
    private let lock: Int32

    public var checkpointsFolder: URL { url.appendingPathComponent(RunFile.checkpoints, isDirectory: true) }
    public var latestCheckpoint: URL { url.appendingPathComponent(RunFile.latestCheckpoint) }

    /// Checks, leaving nothing behind, that the folder can be created: it does not exist or is
    /// empty, and its first missing folder can be made (it is made and removed again). A search
    /// calls it before it reads the data, so a bad --out is reported at once.
    /// - Throws: ``RunFolderError`` naming the path and the fix.
    public static func checkCanCreate(path: String) throws {
        guard !path.isEmpty else {
            throw RunFolderError("--out is empty; give the run folder to create (a new or empty folder)")
        }
        let url = URL(fileURLWithPath: path, isDirectory: true)
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                let kind = AtomicFile.kind(of: path) ?? AtomicFile.regularFile
                throw RunFolderError("--out \(path) exists and is \(kind), not a folder; choose another --out")
            }
            let contents = (try? fm.contentsOfDirectory(atPath: url.path)) ?? []
            if !contents.isEmpty {
                let entries = "\(contents.count) entr\(contents.count == 1 ? "y" : "ies")"
                let isRun = RunFile.all.contains { contents.contains($0) }
                guard isRun else {
                    throw RunFolderError("--out \(path) is not empty (\(entries)); choose a new or empty folder: "
                        + "nothing in it is ever overwritten")
                }
                let checkpoints = (try? fm.contentsOfDirectory(atPath: url.appendingPathComponent(RunFile.checkpoints).path)) ?? []
                let resumable = checkpoints.contains { $0.hasSuffix(".ckpt") }
                    && !fm.fileExists(atPath: url.appendingPathComponent(RunFile.result).path)
                throw RunFolderError("--out \(path) already holds a run (\(entries)); "
                    + "choose a new --out" + (resumable ? ", resume it with --resume \(path)," : "")
                    + " or move the old run away: it is never overwritten")
            }
            // The run creates its files in it: the folder must be writable (and searchable) by
            // this process, on a file system mounted read-write.
            guard access(url.path, W_OK | X_OK) == 0 else {
                throw RunFolderError("cannot write in the run folder --out \(path): \(AtomicFile.systemError()); "
                    + "choose a folder this user can write in")
            }
            return
        }
        // Something that is not there to FileManager but is to lstat: a link that points nowhere.
        if let kind = AtomicFile.kind(of: path) {
            throw RunFolderError("--out \(path) is \(kind), which points to nothing; remove the link or choose another --out")
        }
        // The first missing folder of the path is created and removed again, as a probe.
        var missing = url.standardized
        var parent = missing.deletingLastPathComponent()
        while !fm.fileExists(atPath: parent.path, isDirectory: &isDirectory) && parent.path != "/" {
            missing = parent
            parent = parent.deletingLastPathComponent()
        }
        let why: String?
        if !isDirectory.boolValue {
            why = "\(parent.path) is a file, not a folder"
        } else if mkdir(missing.path, 0o755) != 0 {
            why = AtomicFile.systemError()
        } else {
            rmdir(missing.path)
            why = nil
        }
        if let why {
            throw RunFolderError("cannot create the run folder --out \(path): \(why); "
                + "check that the parent folder exists and is writable")
        }
    }

    /// Creates the folder. An existing folder that is not empty is refused, never overwritten.
    /// - Throws: ``RunFolderError`` naming the path and the fix.
    public init(path: String) throws {
        url = URL(fileURLWithPath: path, isDirectory: true)
        let fm = FileManager.default
        try Self.checkCanCreate(path: path)
        do {
            try fm.createDirectory(at: url, withIntermediateDirectories: true)
            lock = try Self.lock(url)
            let metricsURL = url.appendingPathComponent(RunFile.metrics)
            try AtomicFile.write(Data(), to: metricsURL)
            metrics = try Self.openForAppending(metricsURL)
        } catch let error as RunFolderError {
            throw error
        } catch let error as OutputPathError {
            throw RunFolderError("\(error)")
        } catch {
            throw RunFolderError("cannot create the run folder --out \(path): \(error.localizedDescription); "
                + "check that the parent folder exists and is writable")
        }
    }

    /// Opens the run folder `url` to go on after `completedEpochs` epochs: removes the temporary
    /// files a killed writer left, and the lines of metrics.jsonl for later epochs (or a line cut
    /// short by a kill), so that each epoch has exactly one line when the run ends.
    /// - Throws: ``RunFolderError`` when the folder or its metrics cannot be written.
    public init(resuming url: URL, completedEpochs: Int) throws {
        self.url = url
        lock = try Self.lock(url)
        let fm = FileManager.default
        if fm.fileExists(atPath: url.appendingPathComponent(RunFile.result).path) {
            close(lock)
            throw SearchError.resume("the search in \(url.path) has finished (it has result.json): there is nothing to resume")
        }
        for folder in [url, url.appendingPathComponent(RunFile.checkpoints)] {
            for name in (try? fm.contentsOfDirectory(atPath: folder.path)) ?? [] where AtomicFile.isTemporary(name) {
                try? fm.removeItem(at: folder.appendingPathComponent(name))
            }
        }
        let metricsURL = url.appendingPathComponent(RunFile.metrics)
        do {
            try fm.createDirectory(at: url.appendingPathComponent(RunFile.checkpoints), withIntermediateDirectories: true)
            var text = ""
            do {
                try AtomicFile.checkReplaceable(metricsURL.path)
            } catch {
                throw RunFolderError("\(error)")
            }
            if fm.fileExists(atPath: metricsURL.path) {
                text = try String(contentsOf: metricsURL, encoding: .utf8)
            }
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            var kept: [String] = []
            for line in lines {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let epoch = object["epoch"] as? Int, epoch == kept.count, epoch < completedEpochs else { break }
                kept.append(line)
            }
            let keptText = kept.map { $0 + "\n" }.joined()
            if keptText != text || !fm.fileExists(atPath: metricsURL.path) {
                try AtomicFile.write(Data(keptText.utf8), to: metricsURL)
            }
            metrics = try Self.openForAppending(metricsURL)
        } catch let error as RunFolderError {
            close(lock)
            throw error
        } catch {
            close(lock)
            throw RunFolderError("cannot reopen \(metricsURL.path) to resume: \(error); "
                + "check that the run folder is writable")
        }
    }

    deinit {
        try? metrics.close()
        close(lock)
    }

    /// Opens the regular file `url` (it exists) to append to it: never through a symbolic link
    /// (O_NOFOLLOW), never blocking on a FIFO (O_NONBLOCK), and only if it is a regular file.
    /// - Throws: ``OutputPathError`` when something else is there, ``AtomicFileError`` when it
    ///   cannot be opened.
    static func openForAppending(_ url: URL) throws -> FileHandle {
        try AtomicFile.checkReplaceable(url.path)
        let fd = open(url.path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw AtomicFileError(path: url.path, reason: AtomicFile.systemError()) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw OutputPathError(name: url.path, kind: "not a regular file any more")
        }
        return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    /// Locks the run folder for this process (flock on `.lock`, released when the process ends,
    /// even by kill -9), so two searches never write one folder: a job resumed while the ranks of
    /// the killed one still run is refused until they have ended. `.lock` is opened without
    /// following a symbolic link or blocking on a FIFO, and must be a regular file.
    /// - Returns: the open, locked file.
    /// - Throws: ``RunFolderError`` when another process holds the lock, or `.lock` is not a regular file.
    static func lock(_ url: URL) throws -> Int32 {
        let path = url.appendingPathComponent(RunFile.lock).path
        do {
            try AtomicFile.checkReplaceable(path)
        } catch {
            throw RunFolderError("\(error)")
        }
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw RunFolderError("cannot create \(path): \(AtomicFile.systemError()); check that the run folder is writable")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw RunFolderError("\(OutputPathError(name: path, kind: "not a regular file"))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw beingWritten(url, by: writer(of: url) ?? "a running process")
        }
        let holder = Array("process \(getpid()) on \(currentHostName())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = holder.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return fd
    }

    /// Refuses a run folder whose `.lock` another process holds (a search still writing it), with
    /// the message of ``lock(_:)``; a folder without `.lock`, or whose lock is free, passes.
    /// - Throws: ``RunFolderError`` naming the folder and the process.
    static func checkNotBeingWritten(_ url: URL) throws {
        guard let holder = writer(of: url) else { return }
        throw beingWritten(url, by: holder)
    }

    /// The refusal of a run folder that `holder` ("process 4242 on node1") is writing.
    static func beingWritten(_ url: URL, by holder: String) -> RunFolderError {
        RunFolderError("another darts-dist run is writing to \(url.path) (\(holder)); wait until it has ended, or end it, then try again")
    }

    /// The process writing the run folder at `url` ("process 4242 on node1", as its `.lock`
    /// records it, or "a running process"), or nil when no process holds the lock (flock, shared
    /// and non-blocking, so the test never waits).
    static func writer(of url: URL) -> String? {
        let path = url.appendingPathComponent(RunFile.lock).path
        var info = stat()
        // Only a regular file is opened: opening a FIFO would wait for a writer.
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard flock(fd, LOCK_SH | LOCK_NB) == 0 else {
            var bytes = [UInt8](repeating: 0, count: 200)   // "process 4242 on node1\n"; more is not a holder's line
            let n = pread(fd, &bytes, bytes.count, 0)
            let holder = String(decoding: bytes.prefix(max(n, 0)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return holder.isEmpty ? "a running process" : InputText.escaped(holder)
        }
        _ = flock(fd, LOCK_UN)
        return nil
    }

    /// Opens the folder of an interrupted run to continue it: metrics.jsonl is first replaced
    /// (atomically) by `metricsLines`, the lines of the epochs the checkpoint holds, so a line
    /// written after that checkpoint is not kept twice; later lines are appended.
    /// - Throws: ``RunFolderError`` when the folder is missing or not writable.
    public init(resuming path: String, metricsLines: Data) throws {
        url = URL(fileURLWithPath: path, isDirectory: true)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw RunFolderError("--resume \(path) is not a run folder; give the --out folder of the interrupted run")
        }
        lock = try Self.lock(url)
        let metricsURL = url.appendingPathComponent(RunFile.metrics)
        do {
            try AtomicFile.write(metricsLines, to: metricsURL)
            metrics = try Self.openForAppending(metricsURL)
        } catch let error as OutputPathError {
            close(lock)
            throw RunFolderError("\(error)")
        } catch {
            close(lock)
            throw RunFolderError("cannot rewrite \(metricsURL.path): \(error); check that the run folder is writable")
        }
    }


    /// Writes `data` to `name` atomically.
    public func write(_ name: String, data: Data) throws {
        let target = url.appendingPathComponent(name)
        do {
            try AtomicFile.write(data, to: target)
        } catch let error as OutputPathError {
            throw RunFolderError("\(error)")
        } catch {
            throw RunFolderError("\(error); check free space and permissions of the run folder")
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

    /// Appends one JSON object as one line of metrics.jsonl (one write, then fsync).
    /// - Throws: ``RunFolderError`` when the record holds a value JSON cannot hold (NaN or an
    ///   infinity: the run should have stopped before), or the line cannot be written.
    public func appendMetrics<T: Encodable>(_ record: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let line: Data
        do {
            line = try encoder.encode(record) + Data("\n".utf8)
        } catch {
            throw RunFolderError("cannot write the metrics line \(record) to \(url.appendingPathComponent(RunFile.metrics).path): "
                + "a value is not a finite number (\(error)); nothing was appended")
        }
        do {
            try metrics.write(contentsOf: line)
            try metrics.synchronize()
        } catch {
            throw RunFolderError("cannot append to \(url.appendingPathComponent(RunFile.metrics).path): "
                + "\(error.localizedDescription); check free space and permissions of the run folder")
        }
    }

    /// Writes `checkpoint` as checkpoints/step_N.ckpt, points checkpoint.ckpt at it, and removes
    /// all but the newest `keep` step files.
    /// - Parameter midway: called halfway through writing the file (a test hook).
    /// - Returns: the file written.
    @discardableResult
    public func writeCheckpoint(_ checkpoint: Checkpoint, keep: Int, midway: (() -> Void)? = nil) throws -> URL {
        let file = checkpointsFolder.appendingPathComponent(Self.checkpointName(step: checkpoint.manifest.step))
        do {
            // Made with the first checkpoint, so that a run that never writes one has no empty folder.
            try FileManager.default.createDirectory(at: checkpointsFolder, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError.unwritable(file.path, error.localizedDescription)
        }
        try checkpoint.write(to: file, midway: midway)
        do {
            try AtomicFile.link(latestCheckpoint, to: file) { try checkpoint.encoded() }
        } catch {
            throw CheckpointError.unwritable(latestCheckpoint.path, "\(error)")
        }
        let files = Self.checkpointFiles(in: url)
        for old in files.dropLast(keep) { try? FileManager.default.removeItem(at: old) }
        return file
    }

    /// "step_00000042.ckpt": the name of the checkpoint taken after `step` steps.
    public static func checkpointName(step: Int) -> String {
        let digits = String(step)
        return "step_" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".ckpt"
    }

    /// The step checkpoints of the run folder at `url`, oldest first.
    public static func checkpointFiles(in url: URL) -> [URL] {
        let folder = url.appendingPathComponent(RunFile.checkpoints, isDirectory: true)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasPrefix("step_") && $0.hasSuffix(".ckpt") }.sorted()
            .map { folder.appendingPathComponent($0) }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// A run folder that cannot be created, locked, reopened or written, for a search or a retrain:
/// the sentence names the path and the fix.
public struct RunFolderError: CollectiveError, CustomStringConvertible {
    public let description: String

    init(_ description: String) { self.description = description }
}
