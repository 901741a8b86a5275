import ArgumentParser
import Distributed
import Foundation
import Logging
import Training

struct Search: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Search a cell on a dataset (first or second order DARTS).",
        discussion: """
            Flags follow the DARTS paper's train_search.py and NNI's DARTS example; the defaults are the paper's.
            --batch-size is the GLOBAL batch: each of the N ranks takes batch-size / N images per step.
            Writes to --out: config.json, metrics.jsonl, per epoch epoch_N.genotype.txt / .genotype.json /
            .alphas.json (N from 0), and at the end genotype.txt, genotype.json and result.json.
            """)

    @Option(help: "fashion-mnist, mnist or cifar10.") var dataset = "fashion-mnist"
    @Option(help: "The data folder (default: the dataset's, /usr/share/datasets/fashion-mnist for Fashion-MNIST).") var data: String?
    @Option(help: "Cells in the search network.") var layers = 8
    @Option(help: "Initial channels C.") var channels = 16
    @Option(name: .customLong("batch-size"), help: "Global batch size, split over the ranks.") var batchSize = 64
    @Option(help: "Epochs.") var epochs = 50
    @Option(help: "Weight learning rate (cosine-annealed).") var lr: Float = 0.025
    @Option(name: .customLong("lr-min"), help: "Final weight learning rate.") var lrMin: Float = 0.001
    @Option(help: "SGD momentum.") var momentum: Float = 0.9
    @Option(name: .customLong("weight-decay"), help: "Weight decay of the weights.") var weightDecay: Float = 3e-4
    @Option(name: .customLong("arch-lr"), help: "Adam learning rate of the alphas.") var archLr: Float = 3e-4
    @Option(name: .customLong("arch-weight-decay"), help: "Weight decay of the alphas.") var archWeightDecay: Float = 1e-3
    @Option(name: .customLong("grad-clip"), help: "Clip the weight gradients to this global L2 norm.") var gradClip: Float = 5
    @Option(name: .customLong("train-portion"), help: "Fraction of the training images that train the weights; the rest train the alphas.") var trainPortion = 0.5
    @Option(help: "Use only the first N training images.") var subset: Int?
    @Option(help: "Random seed (the same on every rank).") var seed: UInt64 = 2
    @Flag(name: [.customLong("second-order"), .customLong("unrolled")], help: "Second-order (unrolled) architecture gradient.") var secondOrder = false
    @Option(help: "The run folder to create (never overwritten).") var out = "runs/search"
    @Option(name: .customLong("print-every"), help: "A progress line every N steps.") var printEvery = 10
    @Option(help: "Gradient accumulation: each rank's shard in K micro-batches (a larger global batch on fewer ranks).") var accumulate = 1
    @Option(name: .customLong("check-every"), help: "Compare weights, alphas and optimizer states across ranks every N steps (default: every epoch).") var checkEvery: Int?
    @Option(name: .customLong("log-level"), help: "Diagnostic messages on standard error from every rank, tagged with its rank and host, at this level and above: trace, debug, info, notice, warning, error, critical.") var logLevel: Logger.Level = .warning

    var options: SearchOptions {
        var o = SearchOptions()
        o.dataset = dataset; o.data = data; o.layers = layers; o.channels = channels; o.batchSize = batchSize
        o.epochs = epochs; o.learningRate = lr; o.learningRateMin = lrMin; o.momentum = momentum
        o.weightDecay = weightDecay; o.archLearningRate = archLr; o.archWeightDecay = archWeightDecay
        o.gradClip = gradClip; o.trainPortion = trainPortion; o.subset = subset; o.seed = seed
        o.secondOrder = secondOrder; o.out = out; o.printEvery = printEvery
        o.accumulate = accumulate; o.checkEvery = checkEvery
        return o
    }

    func validate() throws {
        do {
            try options.validate(worldSize: launcherWorldSize())
        } catch {
            // Every rank validates; only rank 0 says why, the others exit quietly.
            if launcherRank() != 0 { throw ExitCode(64) }
            throw ValidationError("\(error)")
        }
    }

    func run() throws {
        Diagnostics.bootstrap(level: logLevel, rank: launcherRank(), host: currentHostName())
        try runDistributed { communicator in
            Diagnostics.reportStart(communicator)
            try SearchJob(options: options, communicator: communicator).run()
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
