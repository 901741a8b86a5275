import Foundation
import Testing

/// What a finished process printed, and its exit status.
public struct ProcessOutput: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public var all: String { stdout + stderr }

    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// A process started in the background (a darts-dist rank, mpirun, a script) whose output is
/// collected as it comes, so a test can wait for a line, signal it or one of its MPI ranks, and time
/// its end. ``run(executable:_:environment:timeout:)`` is the blocking form.
///
/// Every child gets this process's environment with one OpenBLAS thread, OpenMPI allowed to run as
/// root, and no `DARTS_DIST_FAULT` (a fault is injected only where a test passes one), then
/// `environment` on top.
public final class BackgroundJob: @unchecked Sendable {
    public let process = Process()
    private let lock = NSLock()
    private var out = Data(), err = Data()
    private var ended: Date?
    private let readers = DispatchGroup()

    /// - Parameter unblockingSignals: start the child with SIGINT and SIGTERM unblocked, as a shell
    ///   starts it (the test runner blocks them, and a child keeps the mask it inherits).
    public init(executable: URL, arguments: [String], environment: [String: String] = [:],
                unblockingSignals: Bool = false) throws {
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
        if unblockingSignals {
            // The child inherits the spawning thread's mask: unblocked for the spawn only.
            var unblock = sigset_t(), previous = sigset_t()
            sigemptyset(&unblock)
            sigaddset(&unblock, SIGINT)
            sigaddset(&unblock, SIGTERM)
            pthread_sigmask(SIG_UNBLOCK, &unblock, &previous)
            defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
            try process.run()
        } else {
            try process.run()
        }
        // Drain both pipes while the process runs (a full pipe would block it).
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

    /// Runs `executable` to its end (SIGTERM after `timeout` seconds, recorded as an issue) and
    /// returns its status and output.
    public static func run(executable: URL, _ arguments: [String], environment: [String: String] = [:],
                           timeout: TimeInterval) throws -> ProcessOutput {
        let job = try BackgroundJob(executable: executable, arguments: arguments, environment: environment)
        let status = job.waitForExit(timeout: timeout) { $0.process.terminate() }
        return ProcessOutput(status: status, stdout: job.stdout, stderr: job.stderr)
    }

    public var stdout: String { lock.lock(); defer { lock.unlock() }; return String(decoding: out, as: UTF8.self) }
    public var stderr: String { lock.lock(); defer { lock.unlock() }; return String(decoding: err, as: UTF8.self) }
    public var all: String { stdout + stderr }
    /// When the process ended.
    public var endTime: Date? { lock.lock(); defer { lock.unlock() }; return ended }

    /// Waits until the output holds `text`; false when the process ended or the time ran out first.
    public func waitForOutput(_ text: String, timeout: TimeInterval = 300) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if all.contains(text) { return true }
            if !process.isRunning { return all.contains(text) }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return false
    }

    /// Waits for the process to end and for its output to be read. After `timeout` it records an
    /// issue and calls `stop` (by default: SIGKILL to its MPI ranks, then to the process).
    @discardableResult
    public func waitForExit(timeout: TimeInterval = 300, stop: ((BackgroundJob) -> Void)? = nil) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning {
            let command = ([process.executableURL?.lastPathComponent ?? ""] + (process.arguments ?? [])).joined(separator: " ")
            Issue.record("\(command) did not end within \(Int(timeout)) s; stopping it")
            if let stop {
                stop(self)
            } else {
                for pid in rankPIDs().values { kill(pid, SIGKILL) }
                kill(process.processIdentifier, SIGKILL)
            }
        }
        process.waitUntilExit()
        readers.wait()
        while endTime == nil { Thread.sleep(forTimeInterval: 0.001) }
        return process.terminationStatus
    }

    /// The rank processes started by mpirun, by rank (OMPI_COMM_WORLD_RANK in their environment).
    public func rankPIDs() -> [Int: pid_t] {
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
    public static func hasEnded(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
    }

    /// Waits until every process in `pids` has ended; returns when the last one did (nil on timeout).
    public static func waitUntilEnded(_ pids: [pid_t], timeout: TimeInterval = 60) -> Date? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if pids.allSatisfy(hasEnded) { return Date() }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return nil
    }
}
