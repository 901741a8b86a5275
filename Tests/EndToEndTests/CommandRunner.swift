import Foundation
import Testing

/// Runs the built `darts-dist` binary (next to the test bundle in .build/<configuration>/), alone
/// or under mpirun, and captures its exit status and output.
struct CommandRunner {
    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
        var all: String { stdout + stderr }
    }

    static var binary: URL {
        let bundleFolder = Bundle.main.bundleURL.deletingLastPathComponent()
        for folder in [bundleFolder, URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()] {
            let candidate = folder.appendingPathComponent("darts-dist")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return bundleFolder.appendingPathComponent("darts-dist")
    }

    /// A fresh temporary folder for one test's run folders.
    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("darts-dist-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Runs darts-dist with `arguments`; with `ranks`, under `mpirun -np ranks` (oversubscribed,
    /// unbound, one OpenBLAS thread per rank, as on a 2-core machine).
    static func run(_ arguments: [String], ranks: Int? = nil, timeout: TimeInterval = 600) throws -> Output {
        let process = Process()
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        process.environment = environment
        let binaryPath = binary.path
        #expect(FileManager.default.isExecutableFile(atPath: binaryPath),
                "\(binaryPath) is missing: build it first (swift build -c release)")
        if let ranks {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["mpirun", "-np", String(ranks), "--oversubscribe", "--bind-to", "none",
                                 "--mca", "btl_vader_single_copy_mechanism", "none",
                                 "-x", "OPENBLAS_NUM_THREADS", binaryPath] + arguments
        } else {
            process.executableURL = binary
            process.arguments = arguments
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Drain both pipes while the process runs (a full pipe would block it).
        final class Sink: @unchecked Sendable { var data = Data() }
        let outSink = Sink(), errSink = Sink()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { outSink.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { errSink.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            process.terminate()
            Issue.record("darts-dist \(arguments.joined(separator: " ")) did not finish within \(Int(timeout)) s")
        }
        process.waitUntilExit()
        group.wait()
        return Output(status: process.terminationStatus, stdout: String(decoding: outSink.data, as: UTF8.self),
                      stderr: String(decoding: errSink.data, as: UTF8.self))
    }
}
