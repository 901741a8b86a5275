import Foundation
import Testing

/// A darts-dist job started in the background, alone or under mpirun (also MPMD: several app
/// contexts with their own arguments), whose output is collected as it comes, so a test can wait
/// for a progress line, kill the job or one rank with SIGKILL, and time the job's end.
final class BackgroundJob: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var out = Data(), err = Data()
    private var ended: Date?
    private let readers = DispatchGroup()

    /// The mpirun options of CommandRunner: oversubscribed, unbound, one OpenBLAS thread per rank.
    static let mpirunOptions = ["--oversubscribe", "--bind-to", "none", "--mca", "btl_vader_single_copy_mechanism", "none",
                                "-x", "OPENBLAS_NUM_THREADS"]

    /// darts-dist `arguments`, alone or under `mpirun -np ranks`.
    convenience init(_ arguments: [String], ranks: Int? = nil, environment: [String: String] = [:]) throws {
        if let ranks {
            try self.init(contexts: [(ranks, arguments)], environment: environment)
        } else {
            try self.init(executable: CommandRunner.binary, arguments: arguments, environment: environment)
        }
    }

    /// An MPMD launch: `mpirun -np n1 darts-dist args1 : -np n2 darts-dist args2 ...`.
    convenience init(contexts: [(ranks: Int, arguments: [String])], environment: [String: String] = [:]) throws {
        var arguments = ["mpirun"] + Self.mpirunOptions
        for (i, context) in contexts.enumerated() {
            if i > 0 { arguments.append(":") }
            arguments += ["-np", String(context.ranks), CommandRunner.binary.path] + context.arguments
        }
        try self.init(executable: URL(fileURLWithPath: "/usr/bin/env"), arguments: arguments, environment: environment)
    }

    init(executable: URL, arguments: [String], environment: [String: String]) throws {
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_NUM_THREADS"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env.removeValue(forKey: "DARTS_DIST_FAULT")
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.executableURL = executable
        process.arguments = arguments
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.terminationHandler = { [weak self] _ in
            guard let self else { return }
            self.lock.lock(); self.ended = Date(); self.lock.unlock()
        }
        try process.run()
        for (pipe, isOut) in [(outPipe, true), (errPipe, false)] {
            readers.enter()
            DispatchQueue.global().async { [self] in
                let handle = pipe.fileHandleForReading
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    lock.lock()
                    if isOut { out.append(chunk) } else { err.append(chunk) }
                    lock.unlock()
                }
                readers.leave()
            }
        }
    }

    var stdout: String { lock.lock(); defer { lock.unlock() }; return String(decoding: out, as: UTF8.self) }
    var stderr: String { lock.lock(); defer { lock.unlock() }; return String(decoding: err, as: UTF8.self) }
    var all: String { stdout + stderr }
    /// When the job (mpirun, or the single process) ended.
    var endTime: Date? { lock.lock(); defer { lock.unlock() }; return ended }

    /// Waits until the output holds `text`; false when the job ended or the time ran out first.
    func waitForOutput(_ text: String, timeout: TimeInterval = 300) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if all.contains(text) { return true }
            if !process.isRunning { return all.contains(text) }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return false
    }

    /// Waits for the job to end (killing it after `timeout`) and for its output to be read.
    @discardableResult
    func waitForExit(timeout: TimeInterval = 300) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning {
            Issue.record("job \(process.arguments ?? []) did not end within \(Int(timeout)) s; killing it")
            for pid in rankPIDs().values { kill(pid, SIGKILL) }
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        readers.wait()
        while endTime == nil { Thread.sleep(forTimeInterval: 0.001) }
        return process.terminationStatus
    }

    /// The rank processes started by mpirun, by rank (OMPI_COMM_WORLD_RANK in their environment).
    func rankPIDs() -> [Int: pid_t] {
        let parent = process.processIdentifier
        var ranks: [Int: pid_t] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(name), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { continue }
            // pid (comm) state ppid ...: the fields after the last ')'.
            guard let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, pid_t(fields[1]) == parent,
                  let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            for entry in environ.split(separator: 0) {
                let text = String(decoding: entry, as: UTF8.self)
                if text.hasPrefix("OMPI_COMM_WORLD_RANK="), let rank = Int(text.dropFirst("OMPI_COMM_WORLD_RANK=".count)) {
                    ranks[rank] = pid
                }
            }
        }
        return ranks
    }

    /// Whether process `pid` has ended (gone, or a zombie not yet reaped).
    static func hasEnded(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
    }

    /// Waits until every process in `pids` has ended; returns when the last one did (nil on timeout).
    static func waitUntilEnded(_ pids: [pid_t], timeout: TimeInterval = 60) -> Date? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if pids.allSatisfy(hasEnded) { return Date() }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return nil
    }

    /// The time (Unix seconds) in the `fault injected: ... (t=SECONDS)` line of a rank.
    var faultTime: Date? {
        guard let range = stderr.range(of: #"fault injected: .*\(t=([0-9.]+)\)"#, options: .regularExpression) else { return nil }
        let line = stderr[range]
        guard let t = line.split(separator: "=").last.flatMap({ Double($0.dropLast()) }) else { return nil }
        return Date(timeIntervalSince1970: t)
    }
}

/// Every file under a folder with its bytes: taken before and after a command that must fail,
/// to show that the command wrote, changed and removed nothing.
struct FolderSnapshot: Equatable {
    let files: [String: Data]

    init(_ folder: URL) {
        var files: [String: Data] = [:]
        let root = folder.resolvingSymlinksInPath().path
        if let walker = FileManager.default.enumerator(atPath: root) {
            for case let path as String in walker {
                let full = root + "/" + path
                var isDirectory: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory)
                files[path + (isDirectory.boolValue ? "/" : "")] = isDirectory.boolValue ? Data() : FileManager.default.contents(atPath: full)
            }
        }
        self.files = files
    }

    /// The paths that differ between two snapshots.
    func changes(to other: FolderSnapshot) -> [String] {
        Set(files.keys).union(other.files.keys).filter { files[$0] != other.files[$0] }.sorted()
    }
}
