import DARTS
import DartsTensor
import Datasets
import Distributed
import Foundation
import NN

/// Trains the evaluation network of a genotype from scratch (docs/algorithm.md §6, official cnn/train.py)
/// on every rank of `communicator`: the same network everywhere (broadcast from rank 0), each
/// global batch split into one shard per rank, the weight gradients averaged by the rank-ordered
/// allreduce before every SGD step. Augmentation and drop path masks are keyed by (seed, epoch,
/// image index), so P ranks train the same weights as one process accumulating P micro-batches.
/// After every epoch the batch-norm statistics are averaged over the ranks, the test set is
/// measured (top-1, top-5, loss) and rank 0 writes the metrics and a checkpoint; at the end it
/// writes the saved model (model.bin) and result.json.
public final class RetrainJob {
    public let options: RetrainOptions
    /// The run folder to continue, when resuming (its checkpoint's options replace `options`).
    public let resume: String?
    /// Stop (with a checkpoint, without the final model) once this many epochs are complete.
    public let stopAfterEpochs: Int?
    /// Stop after the network is built and announced, before the run folder is created
    /// (`--dry-run`): nothing is written.
    public let dryRun: Bool
    /// Overrides the saved --print-every when resuming.
    public let printEvery: Int?
    /// When resuming: the options as given on the command line, and the flags given, which must
    /// have the checkpoint's values.
    let given: RetrainOptions
    let givenFlags: Set<String>
    let communicator: Communicator
    let parallel: DataParallel
    /// Where rank 0's progress lines go (stdout by default).
    public var printLine: (String) -> Void = { print($0); fflush(stdout) }

    /// A new retrain with `options`; with `dryRun`, only checked and announced (``dryRun``).
    public init(options: RetrainOptions, communicator: Communicator, stopAfterEpochs: Int? = nil, dryRun: Bool = false) {
        self.options = options
        self.dryRun = dryRun
        self.communicator = communicator
        self.resume = nil
        self.stopAfterEpochs = stopAfterEpochs
        self.printEvery = nil
        self.given = options
        self.givenFlags = []
        parallel = DataParallel(communicator: communicator)
    }

    /// Continues the retrain in the run folder `path` from its checkpoint, with its options.
    /// - Parameters:
    ///   - given: the options as given on the command line.
    ///   - givenFlags: the flags given ("--lr", "--out", ...): each must have the checkpoint's value.
    public init(resuming path: String, communicator: Communicator, printEvery: Int? = nil, stopAfterEpochs: Int? = nil,
                given: RetrainOptions = RetrainOptions(), givenFlags: Set<String> = []) {
        self.options = RetrainOptions()
        self.given = given
        self.givenFlags = givenFlags
        self.communicator = communicator
        self.resume = path
        self.dryRun = false
        self.stopAfterEpochs = stopAfterEpochs
        self.printEvery = printEvery
        parallel = DataParallel(communicator: communicator)
    }

    var isRoot: Bool { communicator.rank == 0 }

    func say(_ line: String) { if isRoot { printLine(line) } }

    /// The interrupt line once a checkpoint exists (rank 0): the command that resumes from it.
    func noteCheckpoint(folder: String) {
        InterruptNotice.install(InterruptNotice.afterCheckpoint("retrain", folder: folder,
            keeps: "its checkpoint of the last finished epoch", worldSize: communicator.worldSize))
    }

    func agree(_ body: () throws -> Void) throws { try communicator.agree(body) }

    /// Runs the retrain to the end, or to `stopAfterEpochs`, or (``dryRun``) to its announcement.
    /// - Returns: the result, or nil when it stopped early at `stopAfterEpochs` or was a dry run.
    /// - Throws: `RankFailure` (bad options, genotype, data, checkpoint or output folder on any
    ///   rank) and ``RetrainError`` (diverging loss or ranks), on every rank at the same point.
    @discardableResult
    public func run() throws -> RetrainResult? {
        let started = Date()
        guard let run = try prepare() else { return nil }
        defer { InterruptNotice.remove() }
        for epoch in run.startEpoch..<run.options.epochs {
            let epochSeconds = try trainEpoch(epoch, run)
            try finishEpoch(epoch, epochSeconds: epochSeconds, started: started, run)
            if let stop = stopAfterEpochs, epoch + 1 >= stop, epoch + 1 < run.options.epochs {
                say("stopped after epoch \(epoch + 1) of \(run.options.epochs); continue with: darts-dist retrain --resume \(run.options.out)")
                return nil
            }
        }
        return try finish(run, started: started)
    }

    /// The options made final (the checkpoint's when resuming) and checked on every rank, the
    /// genotype and data loaded, the network built (identical on every rank) or restored, the run
    /// folder created or reopened (rank 0), and the retrain announced; nil after a dry run's
    /// announcement, with no folder created.
    func prepare() throws -> RetrainRun? {
        var options = self.options
        var checkpoint: RetrainCheckpoint?
        if let resume {
            checkpoint = try readCheckpoint(resume)
            options = checkpoint!.manifest.options
            let saved = options, savedRanks = checkpoint!.manifest.worldSize
            try agree {
                try checkResumeFlags(saved: saved, folder: resume)
                // Another number of ranks continues with the same micro-batches (weights bit-identical).
                options.accumulate = try MicroBatchSplit.resumedAccumulate(
                    savedRanks: savedRanks, savedAccumulate: saved.accumulate, batchSize: saved.batchSize,
                    worldSize: communicator.worldSize, givenAccumulate: givenFlags.contains("--accumulate") ? given.accumulate : nil,
                    error: RetrainError.resume)
            }
            options.out = resume
            if let printEvery { options.printEvery = printEvery }
        }
        var kind = DatasetKind.fashionMNIST
        try agree {
            try options.validate(worldSize: communicator.worldSize)
            kind = try options.datasetKind()
            // A new run's --out is checked before the data are read, so that a bad one is reported at once.
            if resume == nil && isRoot { try RunFolder.checkCanCreate(path: options.out) }
        }
        var genotype = Genotype.dartsV2
        try agree { genotype = try checkpoint?.manifest.genotype ?? resolveGenotype(options.genotype) }
        var data: RetrainData!
        try agree { data = try RetrainData(options: options, kind: kind, rank: communicator.rank, worldSize: communicator.worldSize) }
        try checkSameDataOnEveryRank(communicator, sets: [("training images", data.train), ("test images", data.test)],
                                     checksums: data.checksums, folder: data.folder, error: RetrainError.invalidOption)
        try agree {
            guard let recorded = checkpoint?.manifest.dataChecksum, recorded != hexChecksum(data.checksum) else { return }
            throw RetrainError.resume("the data in \(data.folder) are not the images and labels the retrain read (checksum "
                + "\(hexChecksum(data.checksum)), the retrain's \(recorded); \(dataChecksumCaveat)): restore the files it read, or start a new retrain with another --out")
        }

        // The network, identical on every rank: same seed, then rank 0's values broadcast.
        let configuration = AugmentConfiguration(inputChannels: data.train.channels, imageSize: data.train.height,
                                                 channels: options.channels, layers: options.layers,
                                                 classes: data.train.classCount, auxiliary: options.auxWeight > 0)
        let hosts = communicator.allgather(communicator.hostName)
        try agree {
            try AugmentNetwork.validate(configuration, genotype: genotype)
            let microBatch = options.batchSize / communicator.worldSize / max(1, options.accumulate)
            try MemoryEstimate.retrain(configuration, genotype: genotype, microBatch: microBatch, evaluationChunk: min(100, data.test.count),
                                       images: data.train.count + data.test.count)
                .check(ranksOnHost: MemoryEstimate.ranksOnThisHost(hosts, rank: communicator.rank), host: communicator.hostName,
                       what: "the evaluation network (C=\(options.channels), \(options.layers) cells, \(microBatch) images per micro-batch)",
                       fix: "lower --channels, --layers or the per-rank batch (--batch-size, more ranks, --accumulate)",
                       error: RetrainError.invalidOption)
        }
        var network: AugmentNetwork!
        try agree {
            var rng = RandomGenerator(seed: options.seed)
            network = try AugmentNetwork(configuration, genotype: genotype, rng: &rng)
        }
        let run = RetrainRun(options: options, genotype: genotype, configuration: configuration, network: network,
                             data: data, hosts: hosts, worldSize: communicator.worldSize)
        parallel.broadcastFromRoot(run.weights.values)
        parallel.broadcastFromRoot(run.buffers.values)
        if let checkpoint {
            try agree {
                try checkpoint.restore(weights: run.weights, buffers: run.buffers, optimizer: run.optimizer,
                                       path: URL(fileURLWithPath: options.out).appendingPathComponent(RetrainCheckpoint.fileName).path)
            }
            run.restore(checkpoint.manifest)
        }
        if dryRun {
            announce(run)
            say("dry run: nothing written; the same command without --dry-run starts this retrain")
            return nil
        }
        try openRunFolder(run, resuming: checkpoint != nil)
        if isRoot {
            if checkpoint == nil {
                InterruptNotice.install(InterruptNotice.beforeFirstCheckpoint("retrain", folder: options.out))
            } else {
                noteCheckpoint(folder: options.out)
            }
        } else {
            InterruptNotice.deferOtherRanksExit()
        }
        announce(run)
        return run
    }

    /// Rank 0 creates the run folder (config.json, the genotype) or reopens a resumed one with
    /// its metrics up to the checkpoint.
    func openRunFolder(_ run: RetrainRun, resuming: Bool) throws {
        let options = run.options, data = run.data
        try agree {
            guard isRoot else { return }
            if resuming {
                run.folder = try RunFolder(resuming: options.out, metricsLines: try Self.metricsLines(run.history))
                return
            }
            let folder = try RunFolder(path: options.out)
            try folder.writeJSON(RunFile.config, RetrainRunConfig(options: options, genotype: run.genotype,
                genotypeText: run.genotype.dartsText, configuration: run.configuration, worldSize: communicator.worldSize,
                hosts: run.hosts, dataFolder: data.folder, trainImages: data.train.count, testImages: data.test.count,
                augmentation: data.augmentation.description, parameters: run.weights.count,
                auxiliaryParameters: run.auxiliaryParameters, stepsPerEpoch: data.stepsPerEpoch,
                classNames: data.classNames, normalization: data.train.normalization))
            try folder.write(Genotype.textFileName, text: run.genotype.dartsText)
            try folder.writeJSON(Genotype.fileName, run.genotype)
            run.folder = folder
        }
    }

    /// The lines that open a retrain: data, ranks and hosts, genotype, network and schedule.
    func announce(_ run: RetrainRun) {
        let options = run.options, data = run.data, train = data.train, worldSize = communicator.worldSize
        say("darts-dist retrain: \(data.kind.rawValue) \(train.channels)x\(train.height)x\(train.width), "
            + "\(train.count) train / \(data.test.count) test images, \(worldSize) rank(s) on \(Set(run.hosts).sorted().joined(separator: ", "))")
        say("genotype = \(run.genotype.dartsText)")
        say("network: C=\(options.channels), \(options.layers) cells, \(run.weights.count - run.auxiliaryParameters) parameters"
            + (run.auxiliaryParameters > 0 ? " (+\(run.auxiliaryParameters) auxiliary head, weight \(options.auxWeight))" : "")
            + "; global batch \(options.batchSize) (\(options.batchSize / worldSize) per rank"
            + (options.accumulate > 1 ? " in \(options.accumulate) micro-batches" : "") + "), \(counted(data.stepsPerEpoch, "step")) per epoch, "
            + "\(counted(options.epochs, "epoch")), lr \(options.learningRate) cosine to \(options.learningRateMin); "
            + "augmentation \(data.augmentation.description), drop path \(options.dropPathProb)"
            + (options.labelSmoothingInEffect > 0 ? ", label smoothing \(options.labelSmoothingInEffect)" : "") + "; output in \(options.out)")
        if !dryRun, let hint = InterruptNotice.startHint("retrain", folder: options.out, worldSize: worldSize) { say(hint) }
        if run.startEpoch > 0 {
            say("resuming \(options.out) after epoch \(run.startEpoch) of \(options.epochs) (step \(run.totalSteps))")
        }
    }

    /// Rank 0 reads `folder`'s checkpoint and every rank decodes the same bytes.
    func readCheckpoint(_ folder: String) throws -> RetrainCheckpoint {
        let url = URL(fileURLWithPath: folder).appendingPathComponent(RetrainCheckpoint.fileName)
        var bytes: [UInt8] = []
        try agree {
            guard isRoot else { return }
            let folderURL = URL(fileURLWithPath: folder)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) else {
                throw RetrainError.resume("--resume \(folder): no such folder; give the --out folder of the retrain to continue")
            }
            guard isDirectory.boolValue else {
                var parent = folderURL.deletingLastPathComponent()
                if parent.lastPathComponent == RunFile.checkpoints { parent = parent.deletingLastPathComponent() }
                if RunKind.of(file: folderURL) == .search || RunKind.of(folder: parent) == .search {
                    throw RetrainError.resume("--resume \(folder) belongs to the search run folder \(parent.path), not to a "
                        + "retrain; " + RunKind.search.whatToDo(with: parent.path, finished: RunKind.isFinished(parent)))
                }
                throw RetrainError.resume("--resume \(folder) is a file; give the retrain's run folder (its --out"
                    + (RunKind.of(folder: parent) == .retrain ? ", here --resume \(parent.path))" : ")"))
            }
            if RunKind.of(folder: folderURL) == .search {
                throw RetrainError.resume("--resume \(folder) is a search run folder, not a retrain's; "
                    + RunKind.search.whatToDo(with: folder, finished: RunKind.isFinished(folderURL)))
            }
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw RetrainError.resume("--resume \(folder) holds no \(RetrainCheckpoint.fileName): it is not a retrain run folder, "
                    + "or it stopped before its first epoch ended (start it again without --resume, with a new --out)")
            }
            if RunKind.isFinished(folderURL) {
                throw RetrainError.resume("--resume \(folder): that retrain already finished (result.json); its model is "
                    + folderURL.appendingPathComponent(SavedModel.fileName).path)
            }
            do {
                bytes = [UInt8](try SectionFile.contents(of: url))
            } catch {
                throw SectionFileError.unreadable(RetrainCheckpoint.what, url.path, "\(error)")
            }
        }
        communicator.broadcast(bytes: &bytes, root: 0)
        var checkpoint: RetrainCheckpoint!
        try agree { checkpoint = try RetrainCheckpoint(data: Data(bytes), path: url.path) }
        return checkpoint
    }

    /// Refuses the flags given with --resume that would change the retrain its checkpoint defines;
    /// a flag given with the checkpoint's value is accepted, as on a resumed search. --accumulate is
    /// checked by ``MicroBatchSplit/resumedAccumulate(savedRanks:savedAccumulate:batchSize:worldSize:givenAccumulate:error:)``.
    /// - Throws: ``RetrainError/resume(_:)`` naming each flag, both values and the fix.
    func checkResumeFlags(saved: RetrainOptions, folder: String) throws {
        let savedValues = Dictionary(saved.definingValues.map { ($0.flag, $0.value) }, uniquingKeysWith: { a, _ in a })
        // --accumulate may change with the number of ranks (MicroBatchSplit).
        let changed = given.definingValues.filter {
            givenFlags.contains($0.flag) && $0.flag != "--accumulate" && savedValues[$0.flag] != $0.value
        }
        guard changed.isEmpty else {
            throw RetrainError.resume("--resume continues the retrain its checkpoint defines, but "
                + changed.map { "\($0.flag) \($0.value) differs from its \(savedValues[$0.flag] ?? "(none)")" }.joined(separator: ", ")
                + "; drop these flags to resume, or start a new retrain with another --out")
        }
        if givenFlags.contains("--out") && URL(fileURLWithPath: given.out).standardized != URL(fileURLWithPath: folder).standardized {
            throw RetrainError.resume("--out \(given.out) and --resume \(folder) name different run folders; "
                + "a resumed retrain writes to the folder it resumes: drop --out")
        }
    }

    /// The metrics.jsonl lines of `history`, as ``RunFolder/appendMetrics(_:)`` writes them.
    static func metricsLines(_ history: [RetrainEpochMetrics]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var data = Data()
        for record in history { data += try encoder.encode(record) + Data("\n".utf8) }
        return data
    }

    /// Compares a hash of the weights, batch-norm statistics and momentum buffer across ranks.
    /// - Throws: ``RetrainError/diverged(_:)`` naming the ranks that differ.
    func checkConsistency(_ run: RetrainRun) throws {
        try checkRanksAgree(parallel, arenas: [run.weights, run.buffers], optimizerState: [run.optimizer.momentumBuffer],
                            what: "weights, batch-norm statistics and momentum buffers", error: RetrainError.diverged)
    }
}
