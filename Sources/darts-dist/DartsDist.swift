import ArgumentParser
import CPUCheck

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
}
