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
            the preset: --preset paper (the default for --dataset cifar10) is the paper's CIFAR-10 \
            evaluation (C=36, 20 cells, batch 96, 600 epochs, lr 0.025 cosine to 0, momentum 0.9, weight \
            decay 3e-4, clip 5, cutout 16, auxiliary 0.4, drop path 0.2); --preset fast (the default for every \
            other dataset: fashion-mnist, mnist, folder, numpy) is a retrain of under 30 minutes on 2 cores with `mpirun -np 2` (C=8, \
            5 cells, batch 64, 10 epochs, lr 0.05, flip only: no random crop, cutout, auxiliary head or \
            drop path).

            --batch-size is the GLOBAL batch: each of the N ranks of `mpirun -np N` takes batch-size / N.

            Writes to --out: config.json, genotype.txt/.json, metrics.jsonl, checkpoint.ckpt (every \
            epoch; continue an interrupted run with --resume OUT), and at the end model.bin (for \
            `darts-dist evaluate --model`) and result.json.

            --dry-run does everything before the first step and nothing after: the flags, genotype and \
            data are checked, the network is built and the memory estimate checked, and the opening lines \
            (data, genotype, network with its parameter count, schedule) are printed; nothing is written \
            and --out is only checked (new or empty, and creatable).
            """)

    @Option(help: ArgumentHelp("A genotype file (DARTS text, JSON or NNI epoch_N.json), a search run folder (its final genotype), DARTS_V1 or DARTS_V2.", valueName: "genotype"))
    var genotype: String?
    @Option(help: "Starting values of the training flags: paper or fast (default: paper for cifar10, fast for every other dataset); any flag given overrides its preset value.") var preset: RetrainPreset?
    @OptionGroup(title: "Data") var dataFlags: DataFlags
    @Option(parsing: .unconditional, help: "Measure on only the first N test images.", transform: wholeNumber) var testSubset: Int?
    @OptionGroup(title: "Network") var network: NetworkFlags
    @OptionGroup(title: "Batch") var batch: BatchFlags
    @OptionGroup(title: "Weights") var weightTraining: WeightTrainingFlags
    @Option(parsing: .unconditional, help: "Weight of the auxiliary head's loss; 0 builds no head (paper 0.4).", transform: finiteNumber) var auxWeight: Float?
    @Option(parsing: .unconditional, help: "Final drop path probability, ramped linearly from 0 (paper 0.2).", transform: finiteNumber) var dropPathProb: Float?
    @Option(parsing: .unconditional, help: "Cutout length in pixels, 0 for none (paper 16).", transform: wholeNumber) var cutout: Int?
    @Option(parsing: .unconditional, help: "Random crop padding in pixels, 0 for no crop (paper 4).", transform: wholeNumber) var cropPadding: Int?
    @Option(parsing: .unconditional, help: "Label smoothing of the training loss in [0, 1): targets (1 - e) onehot + e / classes, as PyTorch's CrossEntropyLoss(label_smoothing=e) (default 0; DARTS's ImageNet retrain 0.1).", transform: finiteNumber) var labelSmoothing: Float?
    @OptionGroup(title: "Run folder") var runFlags: RunFlags
    @Option(parsing: .unconditional, help: .hidden, transform: wholeNumber) var stopAfterEpochs: Int?
    @Flag(help: "Check the flags, genotype and data, build the network and print its opening lines (parameters, schedule), then stop: nothing is written.") var dryRun = false

    func run() throws {
        let given = givenFlags(of: self)
        let options = RetrainOptions.fromCommandLine(given)
        try runDistributed { communicator in
            Diagnostics.bootstrap(level: .warning, rank: communicator.rank, host: communicator.hostName)
            Diagnostics.reportStart(communicator)   // warns when ranks share a host without OPENBLAS_NUM_THREADS
            // Checked on every rank alike, so that rank 0 alone reports it (``CollectiveError``).
            if let stopAfterEpochs, stopAfterEpochs <= 0 {
                throw RetrainError.invalidOption("--stop-after-epochs \(stopAfterEpochs) must be positive")
            }
            if let resume = runFlags.resume {
                if dryRun { throw RetrainError.invalidOption("--dry-run checks a new retrain; leave it out with --resume") }
                try RetrainJob(resuming: resume, communicator: communicator, printEvery: runFlags.printEvery,
                               stopAfterEpochs: stopAfterEpochs, given: options, givenFlags: Set(given.keys)).run()
            } else {
                guard genotype != nil else {
                    throw RetrainError.invalidOption("Give --genotype (a file, a search run folder, DARTS_V1 or DARTS_V2), or --resume RUN_DIR.")
                }
                try RetrainJob(options: options, communicator: communicator, stopAfterEpochs: stopAfterEpochs, dryRun: dryRun).run()
            }
        }
    }
}
