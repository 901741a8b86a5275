import ArgumentParser

@main
struct DartsDist: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "darts-dist",
        abstract: "Differentiable Architecture Search (DARTS), data-parallel over MPI, for CPU machines and clusters.",
        discussion: """
            Run a search on one process, or on N ranks with `mpirun -np N darts-dist search ...`:
            every rank holds a replica of the supernet and gradients are averaged by allreduce.
            """,
        subcommands: [Search.self, RetrainCommand.self, EvaluateCommand.self, BenchCommand.self, GenotypeCommand.self,
                      PicturesCommand.self])
}
