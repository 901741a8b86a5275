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
            .alphas.json (N from 0), checkpoints/step_S.ckpt (the newest --keep-checkpoints, at the end of every
            epoch and every --checkpoint-every steps; checkpoint.ckpt is the newest), and at the end genotype.txt,
            genotype.json and result.json.

            --resume RUN_DIR continues a stopped search from its newest checkpoint (or --resume FILE from one
            checkpoint file) and ends with the weights, alphas and genotype the uninterrupted search would have
            reached, bit for bit. The search's options come from the checkpoint; only --data, --accumulate,
            --print-every, --check-every, --checkpoint-every and --keep-checkpoints may be given anew. Another
            world size works when world size x --accumulate stays the same (--accumulate is then chosen for you).
            """)

    static let defaults = SearchOptions()

    @Option(help: "fashion-mnist, mnist or cifar10 (default: \(defaults.dataset)).") var dataset: String?
    @Option(help: "The data folder (default: the dataset's, /usr/share/datasets/fashion-mnist for Fashion-MNIST).") var data: String?
    @Option(help: "Cells in the search network (default: \(defaults.layers)).") var layers: Int?
    @Option(help: "Initial channels C (default: \(defaults.channels)).") var channels: Int?
    @Option(name: .customLong("batch-size"), help: "Global batch size, split over the ranks (default: \(defaults.batchSize)).") var batchSize: Int?
    @Option(help: "Epochs (default: \(defaults.epochs)).") var epochs: Int?
    @Option(help: "Weight learning rate, cosine-annealed (default: \(defaults.learningRate)).") var lr: Float?
    @Option(name: .customLong("lr-min"), help: "Final weight learning rate (default: \(defaults.learningRateMin)).") var lrMin: Float?
    @Option(help: "SGD momentum (default: \(defaults.momentum)).") var momentum: Float?
    @Option(name: .customLong("weight-decay"), help: "Weight decay of the weights (default: \(defaults.weightDecay)).") var weightDecay: Float?
    @Option(name: .customLong("arch-lr"), help: "Adam learning rate of the alphas (default: \(defaults.archLearningRate)).") var archLr: Float?
    @Option(name: .customLong("arch-weight-decay"), help: "Weight decay of the alphas (default: \(defaults.archWeightDecay)).") var archWeightDecay: Float?
    @Option(name: .customLong("grad-clip"), help: "Clip the weight gradients to this global L2 norm (default: \(defaults.gradClip)).") var gradClip: Float?
    @Option(name: .customLong("train-portion"), help: "Fraction of the training images that train the weights; the rest train the alphas (default: \(defaults.trainPortion)).") var trainPortion: Double?
    @Option(help: "Use only the first N training images.") var subset: Int?
    @Option(help: "Random seed, the same on every rank (default: \(defaults.seed)).") var seed: UInt64?
    @Flag(name: [.customLong("second-order"), .customLong("unrolled")], help: "Second-order (unrolled) architecture gradient.") var secondOrder = false
    @Flag(help: "Recompute each edge's intermediate tensors during backward instead of keeping them: a fraction of the memory, about a third more time per step.") var recompute = false
    @Option(help: "The run folder to create, never overwritten (default: \(defaults.out)).") var out: String?
    @Option(name: .customLong("print-every"), help: "A progress line every N steps (default: \(defaults.printEvery)).") var printEvery: Int?
    @Option(help: "Gradient accumulation: each rank's shard in K micro-batches, a larger global batch on fewer ranks (default: 1).") var accumulate: Int?
    @Option(name: .customLong("check-every"), help: "Compare weights, alphas and optimizer states across ranks every N steps (default: every epoch).") var checkEvery: Int?
    @Option(name: .customLong("checkpoint-every"), help: "A checkpoint every N steps as well as at the end of every epoch.") var checkpointEvery: Int?
    @Option(name: .customLong("keep-checkpoints"), help: "Keep the newest K checkpoints in RUN_DIR/checkpoints (default: \(defaults.keepCheckpoints)).") var keepCheckpoints: Int?
    @Option(help: ArgumentHelp("Continue the search stopped in this run folder (or from this checkpoint file of it).", valueName: "run-dir"))
    var resume: String?
    @Option(name: .customLong("log-level"), help: "Diagnostic messages on standard error from every rank, tagged with its rank and host, at this level and above: trace, debug, info, notice, warning, error, critical.") var logLevel: Logger.Level = .warning

    /// The flags given on the command line.
    var givenFlags: Set<String> {
        let given: [(String, Bool)] = [
            ("--dataset", dataset != nil), ("--data", data != nil), ("--layers", layers != nil), ("--channels", channels != nil),
            ("--batch-size", batchSize != nil), ("--epochs", epochs != nil), ("--lr", lr != nil), ("--lr-min", lrMin != nil),
            ("--momentum", momentum != nil), ("--weight-decay", weightDecay != nil), ("--arch-lr", archLr != nil),
            ("--arch-weight-decay", archWeightDecay != nil), ("--grad-clip", gradClip != nil),
            ("--train-portion", trainPortion != nil), ("--subset", subset != nil), ("--seed", seed != nil),
            ("--second-order", secondOrder), ("--recompute", recompute), ("--out", out != nil), ("--print-every", printEvery != nil),
            ("--accumulate", accumulate != nil), ("--check-every", checkEvery != nil),
            ("--checkpoint-every", checkpointEvery != nil), ("--keep-checkpoints", keepCheckpoints != nil),
        ]
        return Set(given.filter(\.1).map(\.0))
    }

    /// The options given, with the defaults where a flag was not given.
    var options: SearchOptions {
        var o = SearchOptions()
        if let dataset { o.dataset = dataset }
        o.data = data
        if let layers { o.layers = layers }
        if let channels { o.channels = channels }
        if let batchSize { o.batchSize = batchSize }
        if let epochs { o.epochs = epochs }
        if let lr { o.learningRate = lr }
        if let lrMin { o.learningRateMin = lrMin }
        if let momentum { o.momentum = momentum }
        if let weightDecay { o.weightDecay = weightDecay }
        if let archLr { o.archLearningRate = archLr }
        if let archWeightDecay { o.archWeightDecay = archWeightDecay }
        if let gradClip { o.gradClip = gradClip }
        if let trainPortion { o.trainPortion = trainPortion }
        o.subset = subset
        if let seed { o.seed = seed }
        o.secondOrder = secondOrder
        o.recompute = recompute
        if let out { o.out = out }
        if let printEvery { o.printEvery = printEvery }
        if let accumulate { o.accumulate = accumulate }
        o.checkEvery = checkEvery
        o.checkpointEvery = checkpointEvery
        if let keepCheckpoints { o.keepCheckpoints = keepCheckpoints }
        return o
    }

    func validate() throws {
        // A resumed search's options come from its checkpoint, and under mpirun each rank may have
        // been given other arguments (an MPMD launch): in both cases the job checks the options on
        // every rank together, and rank 0 reports the first rank whose options are wrong.
        guard resume == nil, launcherWorldSize() == 1 else { return }
        do {
            try options.validate(worldSize: 1)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func run() throws {
        Diagnostics.bootstrap(level: logLevel, rank: launcherRank(), host: currentHostName())
        let request = resume.map { ResumeRequest(path: $0, given: options, givenFlags: givenFlags) }
        try runDistributed { communicator in
            Diagnostics.reportStart(communicator)
            try SearchJob(options: options, communicator: communicator, resume: request).run()
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
