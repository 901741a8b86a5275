import ArgumentParser
import Distributed
import Foundation
import Training

extension RetrainPreset: ExpressibleByArgument {}

struct RetrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrain",
        abstract: "Train the evaluation network of a genotype from scratch and report its test accuracy.",
        discussion: """
            The second half of DARTS (official cnn/train.py, NNI's retrain.py): the network built from \
            the genotype's cells is trained on the training set and measured on the test set (top-1, \
            top-5) after every epoch. Flags are those of train.py and NNI's retrain.py; they override \
            the preset: --preset paper (the default) is the paper's CIFAR-10 evaluation (C=36, 20 cells, \
            batch 96, 600 epochs, lr 0.025 cosine to 0, momentum 0.9, weight decay 3e-4, clip 5, \
            cutout 16, auxiliary 0.4, drop path 0.2); --preset fast is a Fashion-MNIST retrain of under \
            30 minutes on 2 cores with `mpirun -np 2` (C=8, 5 cells, batch 64, 10 epochs, lr 0.05, \
            flip only: no random crop, cutout, auxiliary head or drop path).
            --batch-size is the GLOBAL batch: each of the N ranks of `mpirun -np N` takes batch-size / N.
            Writes to --out: config.json, genotype.txt/.json, metrics.jsonl, checkpoint.ckpt (every \
            epoch; continue an interrupted run with --resume OUT), and at the end model.bin (for \
            `darts-dist evaluate --model`) and result.json.
            """)

    @Option(help: ArgumentHelp("A genotype file (DARTS text, JSON or NNI epoch_N.json), a search run folder (its final genotype), DARTS_V1 or DARTS_V2.", valueName: "genotype"))
    var genotype: String?
    @Option(help: "Starting values of every flag below: paper (the default) or fast.") var preset: RetrainPreset?
    @Option(help: "fashion-mnist, mnist or cifar10.") var dataset: String?
    @Option(help: "The data folder (default: the dataset's, /usr/share/datasets/fashion-mnist for Fashion-MNIST).") var data: String?
    @Option(help: "Cells in the network (paper 20).") var layers: Int?
    @Option(help: "Initial channels C (paper 36).") var channels: Int?
    @Option(name: .customLong("batch-size"), help: "Global batch size, split over the ranks (paper 96).") var batchSize: Int?
    @Option(help: "Epochs (paper 600).") var epochs: Int?
    @Option(help: "Initial learning rate, cosine-annealed (paper 0.025).") var lr: Float?
    @Option(name: .customLong("lr-min"), help: "Final learning rate (paper 0).") var lrMin: Float?
    @Option(help: "SGD momentum (0.9).") var momentum: Float?
    @Option(name: .customLong("weight-decay"), help: "Weight decay (3e-4).") var weightDecay: Float?
    @Option(name: .customLong("aux-weight"), help: "Weight of the auxiliary head's loss; 0 builds no head (paper 0.4).") var auxWeight: Float?
    @Option(name: .customLong("drop-path-prob"), help: "Final drop path probability, ramped linearly from 0 (paper 0.2).") var dropPathProb: Float?
    @Option(help: "Cutout length in pixels, 0 for none (paper 16).") var cutout: Int?
    @Option(name: .customLong("crop-padding"), help: "Random crop padding in pixels, 0 for no crop (paper 4).") var cropPadding: Int?
    @Option(name: .customLong("grad-clip"), help: "Clip the gradients to this global L2 norm (5).") var gradClip: Float?
    @Option(help: "Random seed, the same on every rank (0).") var seed: UInt64?
    @Option(help: "Use only the first N training images.") var subset: Int?
    @Option(name: .customLong("test-subset"), help: "Measure on only the first N test images.") var testSubset: Int?
    @Option(help: "The run folder to create (never overwritten; default runs/retrain).") var out: String?
    @Option(name: .customLong("print-every"), help: "A progress line every N steps.") var printEvery: Int?
    @Option(help: "Gradient accumulation: each rank's shard in K micro-batches (a larger global batch on fewer ranks).") var accumulate: Int?
    @Option(help: ArgumentHelp("Continue the interrupted retrain in this run folder, with its saved options.", valueName: "run-dir"))
    var resume: String?
    @Option(name: .customLong("stop-after-epochs"), help: .hidden) var stopAfterEpochs: Int?

    /// The preset with every given flag applied.
    var options: RetrainOptions {
        var o = RetrainOptions(preset: preset ?? .paper)
        if let genotype { o.genotype = genotype }
        if let dataset { o.dataset = dataset }
        if let data { o.data = data }
        if let layers { o.layers = layers }
        if let channels { o.channels = channels }
        if let batchSize { o.batchSize = batchSize }
        if let epochs { o.epochs = epochs }
        if let lr { o.learningRate = lr }
        if let lrMin { o.learningRateMin = lrMin }
        if let momentum { o.momentum = momentum }
        if let weightDecay { o.weightDecay = weightDecay }
        if let auxWeight { o.auxWeight = auxWeight }
        if let dropPathProb { o.dropPathProb = dropPathProb }
        if let cutout { o.cutout = cutout }
        if let cropPadding { o.cropPadding = cropPadding }
        if let gradClip { o.gradClip = gradClip }
        if let seed { o.seed = seed }
        if let subset { o.subset = subset }
        if let testSubset { o.testSubset = testSubset }
        if let out { o.out = out }
        if let printEvery { o.printEvery = printEvery }
        if let accumulate { o.accumulate = accumulate }
        return o
    }

    /// The flags that define the training, which --resume takes from the checkpoint instead: given
    /// with --resume, they must have the checkpoint's values.
    var trainingFlagsGiven: [String] {
        let flags: [(String, Any?)] = [
            ("--preset", preset), ("--genotype", genotype), ("--dataset", dataset), ("--data", data), ("--layers", layers),
            ("--channels", channels), ("--batch-size", batchSize), ("--epochs", epochs), ("--lr", lr), ("--lr-min", lrMin),
            ("--momentum", momentum), ("--weight-decay", weightDecay), ("--aux-weight", auxWeight),
            ("--drop-path-prob", dropPathProb), ("--cutout", cutout), ("--crop-padding", cropPadding), ("--grad-clip", gradClip), ("--seed", seed),
            ("--subset", subset), ("--test-subset", testSubset), ("--out", out), ("--accumulate", accumulate),
        ]
        return flags.filter { $0.1 != nil }.map(\.0)
    }

    func validate() throws {
        do {
            if resume == nil {
                if genotype == nil {
                    throw ValidationError("Give --genotype (a file, a search run folder, DARTS_V1 or DARTS_V2), or --resume RUN_DIR.")
                }
                try options.validate(worldSize: launcherWorldSize())
            }
            if let stopAfterEpochs, stopAfterEpochs <= 0 {
                throw ValidationError("--stop-after-epochs \(stopAfterEpochs) must be positive")
            }
        } catch {
            // Every rank validates; only rank 0 says why. The others exit quietly with status 0:
            // a non-zero exit would make mpirun kill rank 0 before its message is printed, and
            // rank 0's own non-zero exit already fails the job.
            if launcherRank() != 0 { throw ExitCode.success }
            if let error = error as? ValidationError { throw error }
            throw ValidationError("\(error)")
        }
    }

    func run() throws {
        try runDistributed { communicator in
            if let resume {
                try RetrainJob(resuming: resume, communicator: communicator, printEvery: printEvery,
                               stopAfterEpochs: stopAfterEpochs, given: options, givenFlags: Set(trainingFlagsGiven)).run()
            } else {
                try RetrainJob(options: options, communicator: communicator, stopAfterEpochs: stopAfterEpochs).run()
            }
        }
    }
}
