import Foundation
import Testing
import TestSupport

/// Runs the built `darts-dist` binary (next to the test bundle in .build/<configuration>/), alone
/// or under mpirun, and captures its exit status and output.
struct CommandRunner {
    typealias Output = ProcessOutput

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
        try TemporaryFolder(prefix: "darts-dist-e2e").url
    }

    /// Runs darts-dist with `arguments`; with `ranks`, under `mpirun -np ranks` (oversubscribed,
    /// unbound, one OpenBLAS thread per rank, as on a 2-core machine). Ends it with SIGTERM after
    /// `timeout` seconds.
    static func run(_ arguments: [String], ranks: Int? = nil, timeout: TimeInterval = 600) throws -> Output {
        let binaryPath = binary.path
        #expect(FileManager.default.isExecutableFile(atPath: binaryPath),
                "\(binaryPath) is missing: build it first (swift build -c release)")
        let job = try BackgroundJob(arguments, ranks: ranks)
        let status = job.waitForExit(timeout: timeout) { $0.process.terminate() }
        return Output(status: status, stdout: job.stdout, stderr: job.stderr)
    }
}
