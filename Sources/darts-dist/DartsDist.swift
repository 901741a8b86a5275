import ArgumentParser
import CPUCheck
import Distributed
import Foundation

@main
struct DartsDist: ParsableCommand {
    /// The release, printed by `darts-dist --version`.
    static let version = "0.9.0"

    /// `--version`'s line: the release and the x86-64 level of the build ("0.9.0 (x86-64-v3)").
    static var versionLine: String {
        let level = String(cString: darts_dist_cpu_level())
        return level.isEmpty ? version : "\(version) (\(level))"
    }

    static let configuration = CommandConfiguration(
        commandName: "darts-dist",
        abstract: "Differentiable Architecture Search (DARTS), data-parallel over MPI, for CPU machines and clusters.",
        discussion: """
            Run a search on one process, or on N ranks with `mpirun -np N darts-dist search ...`: \
            every rank holds a replica of the supernet and gradients are averaged by allreduce.
            """,
        version: versionLine,
        subcommands: [Search.self, RetrainCommand.self, EvaluateCommand.self, ExportCommand.self, BenchCommand.self, GenotypeCommand.self,
                      PicturesCommand.self])

    /// ArgumentParser's entry point, except that under mpirun only rank 0 prints what parsing the
    /// command line ends with (an unknown flag, a value that is not a number, `--help`,
    /// `--version`): every rank parses the same line, and the copies would interleave. The other
    /// ranks exit silently with status 0, so that rank 0's status (64 for a bad flag) ends the
    /// job and its message is never cut off by a faster rank's failure. Errors of a command's run
    /// are reported by the command itself.
    static func main() {
        let command: ParsableCommand
        let otherRank = MPICommunicator.launcherRank.map { $0 != 0 } ?? false
        do {
            command = try parseAsRoot()
        } catch {
            if otherRank { Foundation.exit(0) }
            exit(withError: error)
        }
        do {
            var command = command
            try command.run()
        } catch {
            // `--help` and `help SUBCOMMAND` parse into ArgumentParser's help command, whose run()
            // ends with a clean exit that prints the help.
            if otherRank && exitCode(for: error) == .success { Foundation.exit(0) }
            exit(withError: error)
        }
    }
}
