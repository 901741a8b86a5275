import ArgumentParser

@main
struct DartsDist: ParsableCommand {
    /// The release, printed by `darts-dist --version`.
    static let version = "0.9.0"

    static let configuration = CommandConfiguration(
        commandName: "darts-dist",
        abstract: "Differentiable Architecture Search (DARTS), data-parallel over MPI, for CPU machines and clusters.",
        discussion: """
            Run a search on one process, or on N ranks with `mpirun -np N darts-dist search ...`: \
            every rank holds a replica of the supernet and gradients are averaged by allreduce.
            """,
        version: version,
        subcommands: [Search.self, RetrainCommand.self, EvaluateCommand.self, ExportCommand.self, BenchCommand.self, GenotypeCommand.self,
                      PicturesCommand.self])
}
