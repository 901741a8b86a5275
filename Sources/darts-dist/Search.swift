import ArgumentParser
import Distributed
import Foundation
import DARTS
import Logging
import Training

struct Search: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Search a cell on a dataset (first or second order DARTS).",
        discussion: """
            Flags follow the DARTS paper's train_search.py and NNI's DARTS example; the defaults are the \
            paper's; --preset small starts from a search of about 13 minutes on 2 cores instead (see --preset). \
            --batch-size is the GLOBAL batch: each of the N ranks takes batch-size / N images per step.

            Writes to --out: config.json, metrics.jsonl, per epoch epoch_N.genotype.txt / .genotype.json / \
            .alphas.json and epoch_N.json (NNI's exported-architecture format; N from 0), checkpoints/step_S.ckpt \
            (the newest --keep-checkpoints, at the end of every epoch and every --checkpoint-every steps; \
            checkpoint.ckpt is the newest), and at the end genotype.txt, genotype.json, result.json, the \
            pictures loss.svg, accuracy.svg, alphas_normal.svg, alphas_reduce.svg and both cells as \
            genotype_normal.dot / genotype_reduce.dot (and .svg with Graphviz).

            --resume RUN_DIR continues a stopped search from its newest checkpoint (or --resume FILE from one \
            checkpoint file) and ends with the weights, alphas and genotype the uninterrupted search would have \
            reached, bit for bit. The search's options come from the checkpoint; only --data, --accumulate, \
            --print-every, --check-every, --validate-every, --checkpoint-every and --keep-checkpoints may be given anew. Another \
            world size works when world size x --accumulate stays the same (--accumulate is then chosen for you).

            --dry-run does everything before the first step and nothing after: the flags and data are checked \
            on every rank, the network is built and its memory estimate checked on every host, and the opening \
            lines are printed; nothing is written and --out is only checked (new or empty, and creatable). A batch job \
            can be tried this way before it waits in a queue.
            """)

    static let defaults = SearchOptions()

    @Option(help: "Starting values of the flags: paper (the default: the DARTS paper's search) or small (about 13 minutes on 2 cores with mpirun -np 2: 16,000 images, C=8, 5 cells, 6 epochs; the best of the first study in the README, no better than random cells in the second); any flag given overrides its preset value.")
    var preset: SearchPreset?
    @OptionGroup(title: "Data") var dataFlags: DataFlags
    @OptionGroup(title: "Network") var network: NetworkFlags
    @OptionGroup(title: "Batch") var batch: BatchFlags
    @OptionGroup(title: "Weights") var weightTraining: WeightTrainingFlags
    @Option(parsing: .unconditional, help: "Adam learning rate of the alphas (default: \(defaults.archLearningRate)).", transform: finiteNumber) var archLr: Float?
    @Option(parsing: .unconditional, help: "Weight decay of the alphas (default: \(defaults.archWeightDecay)).", transform: finiteNumber) var archWeightDecay: Float?
    @Option(parsing: .unconditional, help: "Fraction of the training images that train the weights; the rest train the alphas (default: \(defaults.trainPortion)).",
            transform: finiteNumber)
    var trainPortion: Double?
    @Flag(name: [.customLong("second-order"), .customLong("unrolled")], help: "Second-order (unrolled) architecture gradient.")
    var secondOrder = false
    @Flag(help: "Recompute each edge's intermediate tensors during backward instead of keeping them: a fraction of the memory, about a third more time per step.")
    var recompute = false
    @Option(parsing: .unconditional, help: "Train only the weights for the first N epochs; the alphas and their Adam state stay frozen (PC-DARTS, NNI's warmup_epochs; default: 0).", transform: wholeNumber)
    var warmupEpochs: Int?
    @Option(help: "A term added to the architecture step's validation loss: none (default) or beta (beta-DARTS, Ye et al. CVPR 2022: mean over the 28 edges of logsumexp(alpha)).")
    var archRegularization: ArchRegularizationKind?
    @Option(parsing: .unconditional, help: "LAMBDA of --arch-regularization beta (required with it), a linear ramp from 0: the weight is LAMBDA x e / epochs in the 0-based epoch e.",
            transform: finiteNumber)
    var archRegularizationWeight: Float?
    @Option(parsing: .unconditional, help: "At most M of the normal cell's 8 edges may be parameter-free (pools, skip_connect) in the derived genotype; the weakest others take their best convolution (P-DARTS keeps M=2; default: no cap).", transform: wholeNumber)
    var maxParameterFree: Int?
    @Option(parsing: .unconditional, help: "The same cap on the reduction cell's 8 edges (default: no cap).", transform: wholeNumber)
    var maxParameterFreeReduce: Int?
    @OptionGroup(title: "Search space") var searchSpace: SearchSpaceFlags
    @OptionGroup(title: "Run folder") var runFlags: RunFlags
    @Option(parsing: .unconditional, help: "Compare weights, alphas and optimizer states across ranks every N steps (default: every epoch).", transform: wholeNumber) var checkEvery: Int?
    @Option(parsing: .unconditional, help: "Validate at the end of every N-th epoch and of the last (default: every epoch; --preset small: 6, the end only); the search itself is the same, bit for bit.", transform: wholeNumber) var validateEvery: Int?
    @Option(parsing: .unconditional, help: "A checkpoint every N steps as well as at the end of every epoch.", transform: wholeNumber) var checkpointEvery: Int?
    @Option(parsing: .unconditional, help: "Keep the newest K checkpoints in RUN_DIR/checkpoints (default: \(defaults.keepCheckpoints)).", transform: wholeNumber) var keepCheckpoints: Int?
    @Flag(help: "Check the flags and data, build the network, check its memory and print its opening lines, then stop: nothing is written.") var dryRun = false
    @Option(help: "Diagnostic messages on standard error from every rank, tagged with its rank and host, at this level and above: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .warning

    func run() throws {
        let given = givenFlags(of: self)
        let options = SearchOptions.fromCommandLine(given)
        let request = runFlags.resume.map { ResumeRequest(path: $0, given: options, givenFlags: Set(given.keys)) }
        try runDistributed { communicator in
            if dryRun && runFlags.resume != nil {
                throw SearchError.invalidOption("--dry-run checks a new search; leave it out with --resume")
            }
            Diagnostics.bootstrap(level: logLevel, rank: communicator.rank, host: communicator.hostName)
            Diagnostics.reportStart(communicator)
            var faults: FaultInjection?   // DARTS_DIST_FAULT, set by the tests
            try communicator.agree { faults = try FaultInjection.fromEnvironment() }
            try SearchJob(options: options, communicator: communicator, resume: request, hooks: faults, dryRun: dryRun).run()
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension ArchRegularizationKind: ExpressibleByArgument {}
extension SearchPreset: ExpressibleByArgument {}
