import ArgumentParser
import Foundation
import Training

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time DARTS search steps (first and second order) on synthetic data, alone or under mpirun.",
        discussion: "Prints seconds per step split into data, forward, backward, allreduce, wait and optimizer, images/s, "
            + "achieved GFLOP/s (convolutions and linear layers, counted, summed over the ranks) and the largest rank's peak resident memory (each rank's in --json); "
            + "--json writes the same as JSON. Run under mpirun -np N to measure N ranks.")

    static let defaults = BenchOptions()

    @OptionGroup(title: "Network") var network: NetworkFlags
    @OptionGroup(title: "Batch") var batch: BatchFlags
    @Option(parsing: .unconditional, help: "Image channels (1 for Fashion-MNIST, 3 for CIFAR-10; default: \(defaults.inputChannels)).", transform: wholeNumber) var inputChannels: Int?
    @Option(parsing: .unconditional, help: "Image height and width (default: \(defaults.imageSize)).", transform: wholeNumber) var imageSize: Int?
    @Option(parsing: .unconditional, help: "Measured steps per order (default: \(defaults.steps)).", transform: wholeNumber) var steps: Int?
    @Option(parsing: .unconditional, help: "Unmeasured warm-up steps per order (default: \(defaults.warmup)).", transform: wholeNumber) var warmup: Int?
    @Option(help: "first, second or both (default: \(defaults.order)).") var order: String?
    @Flag(help: "Recompute each edge's intermediate tensors during backward instead of keeping them.") var recompute = false
    @OptionGroup(title: "Search space") var searchSpace: SearchSpaceFlags
    @Option(help: "Write the results as JSON to this file.") var json: String?
    @Flag(name: .customLong("allreduce-timing"), help: .hidden) var allreduceTiming = false
    @Option(name: .customLong("allreduce-floats"), parsing: .upToNextOption, help: .hidden)
    var allreduceFloats = [1024, 16_384, 262_144, 1_048_576, 2_097_152]

    var options: BenchOptions { BenchOptions().applying(givenFlags(of: self)) }

    func validate() throws {
        if allreduceTiming {
            // Checked before any buffer is made: sizes and --steps x 10 calls stay far inside memory and Int.
            for n in allreduceFloats where n <= 0 || n > AllreduceTiming.largestFloatCount {
                throw ValidationError("--allreduce-floats \(n): each size must be from 1 to \(AllreduceTiming.largestFloatCount) floats (1 GiB)")
            }
            let steps = options.steps
            guard steps > 0 && steps <= AllreduceTiming.largestSteps else {
                throw ValidationError("--steps \(steps) with --allreduce-timing must be from 1 to \(AllreduceTiming.largestSteps) (x 10 calls per size)")
            }
        }
        if let json {
            // Checked before the measurements, so that a bad path does not waste them.
            do {
                try AtomicFile.checkWritable(json, flag: "--json", example: "bench.json")
            } catch {
                throw ValidationError("\(error)")
            }
        }
    }

    func run() throws {
        if allreduceTiming { return try runAllreduceTiming() }
        try runDistributed { communicator in
            Diagnostics.bootstrap(level: .warning, rank: communicator.rank, host: communicator.hostName)
            Diagnostics.reportStart(communicator)   // warns when ranks share a host without OPENBLAS_NUM_THREADS
            let results = try BenchJob(options: options, communicator: communicator).run()
            guard communicator.rank == 0 else { return }
            print(BenchJob.table(results, options: options))
            if let json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try AtomicFile.write(try encoder.encode(results) + Data("\n".utf8), to: URL(fileURLWithPath: json))
            }
        }
    }

    /// `--allreduce-timing` (hidden, for scripts/cost_model.py): times the search's allreduce for
    /// the `--allreduce-floats` sizes, `--steps` x 10 calls each, and prints the ring model's
    /// alpha and beta; --json writes an ``AllreduceTiming``.
    func runAllreduceTiming() throws {
        try runDistributed { communicator in
            let timing = try AllreduceTiming.measure(communicator: communicator, floatCounts: allreduceFloats,
                                                     repetitions: 10 * options.steps)
            guard communicator.rank == 0 else { return }
            print(timing.table)
            if let json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try AtomicFile.write(try encoder.encode(timing) + Data("\n".utf8), to: URL(fileURLWithPath: json))
            }
        }
    }
}
