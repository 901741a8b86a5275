import DARTS
import DartsTensor
import Datasets
import Distributed
import Foundation
import NN

/// The outcome of a search.
public struct SearchResult: Codable, Sendable {
    public let genotype: Genotype
    public let genotypeText: String
    /// Top-1 accuracy (0...1) of the search network on the validation half after the last epoch.
    public let validationAccuracy: Double
    public let validationLoss: Double
    public let epochs: Int
    public let steps: Int
    public let worldSize: Int
    /// Wall-clock seconds of the whole search, and of its training steps alone.
    public let seconds: Double
    public let stepSeconds: Double
    /// Training images (global) per second of step time.
    public let imagesPerSecond: Double
    /// Hashes of the exact bits of the final weights and alphas (equal on every rank).
    public let weightsChecksum: String
    public let alphasChecksum: String
    /// Every rank's "weights/alphas" checksum pair, indexed by rank, and its host.
    public let rankChecksums: [String]
    public let rankHosts: [String]
    /// How strongly the final alphas chose the final genotype's edges (``KeptEdgeWeights``).
    public let keptEdges: KeptEdgeWeights
    /// The name of each class, indexed by label (nil in a result.json written before they were recorded).
    public var classNames: [String]? = nil
}

/// A data-parallel DARTS search (the paper's Algorithm 1; docs/algorithm.md §3, §4 and §8) on
/// every rank of `communicator`: the same network and alphas everywhere (broadcast from rank 0),
/// each global batch split into one shard per rank, gradients averaged by allreduce before every
/// optimizer step. Rank 0 prints and writes the run folder; validation is sharded over the ranks
/// and reduced, so it equals one rank validating alone.
///
/// Rank 0 writes a checkpoint at the end of every epoch and every `checkpointEvery` steps; a search
/// resumed from one (``ResumeRequest``) takes exactly the steps the uninterrupted search would have
/// taken, and ends with the same weights, alphas and genotype, bit for bit.
///
/// The run is a few named steps: ``prepare()`` (options, data, network, run folder), then per
/// epoch ``trainEpoch(_:_:)`` and ``finishEpoch(_:_:)`` (validation, epoch files, checkpoint), then
/// ``finish(_:started:)``.
public final class SearchJob {
    /// The search's options (for a resumed search, its checkpoint's, once ``run()`` has read it).
    public private(set) var options: SearchOptions
    let resume: ResumeRequest?
    let parallel: DataParallel
    let communicator: Communicator
    /// Where rank 0's progress lines go (stdout by default).
    public var printLine: (String) -> Void = { print($0); fflush(stdout) }
    /// Failures a test injects (``FaultInjection``); nil in a normal search.
    let hooks: SearchHooks?
    /// The global step and position of the last checkpoint written or resumed from.
    var lastCheckpoint: (step: Int, position: String)?
    /// Stop after the network is built and announced, before the run folder is created
    /// (`--dry-run`): nothing is written.
    public let dryRun: Bool

    public init(options: SearchOptions, communicator: Communicator, resume: ResumeRequest? = nil,
                hooks: SearchHooks? = nil, dryRun: Bool = false) {
        self.options = resume?.given ?? options
        self.resume = resume
        self.dryRun = dryRun
        self.communicator = communicator
        self.hooks = hooks
        parallel = DataParallel(communicator: communicator)
    }

    var isRoot: Bool { communicator.rank == 0 }

    func say(_ line: String) { if isRoot { printLine(line) } }

    func agree(_ body: () throws -> Void) throws { try communicator.agree(body) }

    /// Runs the search to the end, or from its checkpoint to the end when resuming; a dry run
    /// (``dryRun``) stops after the announcement and returns nil.
    /// - Throws: `RankFailure` (bad options, data, checkpoint or output folder on any rank) and
    ///   ``SearchError`` (a loss or gradient that is not finite, diverging ranks), on every rank at
    ///   the same point.
    @discardableResult
    public func run() throws -> SearchResult? {
        let started = Date()
        guard let run = try prepare() else { return nil }
        defer { InterruptNotice.remove() }
        for epoch in run.progress.epoch..<options.epochs {
            try trainEpoch(epoch, run)
            try finishEpoch(epoch, run)
        }
        return try finish(run, started: started)
    }

    /// The options made final (the checkpoint's when resuming) and checked on every rank, the data
    /// loaded, the network built (identical on every rank) or restored, the run folder created or
    /// reopened (rank 0), and the search announced; nil after a dry run's announcement, with no
    /// folder created.
    func prepare() throws -> SearchRun? {
        // Options are checked once: a new search's as given, on every rank (a rank started with
        // other arguments is named), then compared across ranks; a resumed search's once they
        // come from its checkpoint.
        if resume == nil { try agree { try options.validate(worldSize: communicator.worldSize) } }
        try checkSameOptionsOnEveryRank()
        let resumed = try resume.map(loadResume)
        if let resumed {
            options = resumed.options
            try agree { try options.validate(worldSize: communicator.worldSize) }
        }
        var kind = DatasetKind.fashionMNIST
        try agree {
            kind = try options.datasetKind()
            if resumed == nil && isRoot { try RunFolder.checkCanCreate(path: options.out) }
        }
        var data: SearchData!
        try agree { data = try SearchData(options: options, kind: kind, rank: communicator.rank, worldSize: communicator.worldSize) }
        try checkSameDataOnEveryRank(communicator, sets: [("training images", data.dataset)], checksums: [data.checksum],
                                     folder: data.folder, error: SearchError.invalidOption)

        // The network, identical on every rank: same seed, then rank 0's values broadcast, or the checkpoint's.
        let config = options.searchConfiguration(inputChannels: data.dataset.channels, imageSize: data.dataset.height,
                                                 classes: data.dataset.classCount)
        let hosts = communicator.allgather(communicator.hostName)
        try agree { try checkMemory(config, images: data.dataset.count, validationImages: data.valIndices.count, hosts: hosts) }
        var rng = RandomGenerator(seed: options.seed)
        let network = SearchNetwork(config, rng: &rng)
        network.recomputesActivations = options.recompute
        let state = SearchState(network: network, learningRate: options.learningRate, momentum: options.momentum,
                                weightDecay: options.weightDecay, alphaLearningRate: options.archLearningRate,
                                alphaWeightDecay: options.archWeightDecay)
        var progress = SearchProgress()
        if let resumed {
            try agree { try checkResume(resumed, data: data, state: state) }
            progress = resumed.checkpoint.manifest.progress
            lastCheckpoint = (progress.globalStep, resumed.checkpoint.manifest.position)
        } else {
            for arena in [state.weights, state.alphas, state.buffers] { parallel.broadcastFromRoot(arena.values) }
        }
        let folder = dryRun ? nil
            : try openRunFolder(resumed: resumed, completedEpochs: progress.epoch, data: data, state: state, hosts: hosts)
        let step = SearchStep(state: state, architect: Architect(state: state, parallel: parallel), parallel: parallel,
                              gradClip: options.gradClip, secondOrder: options.secondOrder)
        let run = SearchRun(data: data, state: state, step: step, folder: folder, hosts: hosts, progress: progress,
                            options: options, worldSize: communicator.worldSize)
        if dryRun {
            announce(run, resumed: resumed)
            say("dry run: nothing written; the same command without --dry-run starts this search")
            return nil
        }
        if isRoot {
            if resumed == nil {
                InterruptNotice.install(InterruptNotice.beforeFirstCheckpoint("search", folder: options.out))
            } else {
                noteCheckpoint()
            }
        } else {
            InterruptNotice.deferOtherRanksExit()
        }
        announce(run, resumed: resumed)
        return run
    }

    /// Refuses a network this host cannot hold (``MemoryEstimate``), before it is built.
    /// - Throws: ``SearchError/invalidOption(_:)`` with the figure and the host's memory.
    func checkMemory(_ config: SearchConfiguration, images: Int, validationImages: Int, hosts: [String]) throws {
        let microBatch = options.batchSize / communicator.worldSize / max(1, options.accumulate)
        let estimate = MemoryEstimate.search(config, microBatch: microBatch, secondOrder: options.secondOrder,
                                             recompute: options.recompute, evaluationChunk: min(256, validationImages),
                                             images: images)
        try estimate.check(ranksOnHost: MemoryEstimate.ranksOnThisHost(hosts, rank: communicator.rank),
                           host: communicator.hostName,
                           what: "the search network (C=\(options.channels), \(options.layers) cells, \(microBatch) images per micro-batch)",
                           fix: "lower --channels, --layers or the per-rank batch (--batch-size, more ranks, --accumulate), "
                               + "or add --recompute or --partial-channels", error: SearchError.invalidOption)
    }

    /// Rank 0 creates the run folder and writes config.json, or reopens a resumed search's folder
    /// with the epochs after its checkpoint dropped; nil on the other ranks.
    func openRunFolder(resumed: ResumeState?, completedEpochs: Int, data: SearchData, state: SearchState,
                       hosts: [String]) throws -> RunFolder? {
        var folder: RunFolder?
        try agree {
            guard isRoot else { return }
            if let resumed {
                folder = try RunFolder(resuming: resumed.runFolder, completedEpochs: completedEpochs)
                return
            }
            folder = try RunFolder(path: options.out)
            try folder!.writeJSON(RunFile.config, RunConfig(options: options, worldSize: communicator.worldSize, hosts: hosts,
                dataFolder: data.folder, trainImages: data.trainIndices.count, valImages: data.valIndices.count,
                augmentation: data.augmentation.description, weights: state.weights.count, alphas: state.alphas.count,
                stepsPerEpoch: data.stepsPerEpoch, classNames: data.classNames, normalization: data.dataset.normalization))
        }
        return folder
    }

    /// The lines that open a search: data, ranks and hosts, network and step, resumed position.
    func announce(_ run: SearchRun, resumed: ResumeState?) {
        let data = run.data, dataset = data.dataset, worldSize = communicator.worldSize
        say("darts-dist search: \(data.kind.rawValue) \(dataset.channels)x\(dataset.height)x\(dataset.width), "
            + "\(data.trainIndices.count) train / \(data.valIndices.count) val images, \(worldSize) rank(s) on "
            + Set(run.hosts).sorted().joined(separator: ", "))
        say("network: C=\(options.channels), \(options.layers) cells, \(run.state.weights.count) weights, \(run.state.alphas.count) alphas; "
            + "global batch \(options.batchSize) (\(options.batchSize / worldSize) per rank"
            + (options.accumulate > 1 ? " in \(options.accumulate) micro-batches" : "") + "), "
            + "\(counted(data.stepsPerEpoch, "step")) per epoch, " + (options.secondOrder ? "second order" : "first order")
            + (options.recompute ? ", activations recomputed" : "")
            + (options.partialChannels > 1 ? ", partial channels K=\(options.partialChannels)" : "")
            + (options.auxiliarySkip ? ", auxiliary skip" : "") + "; output in \(options.out)")
        if !dryRun, let hint = InterruptNotice.startHint("search", folder: options.out, worldSize: worldSize) { say(hint) }
        if let resumed {
            let m = resumed.checkpoint.manifest
            say("resuming from \(resumed.checkpointPath): \(m.position), written by \(m.worldSize) rank(s)"
                + (m.options.accumulate > 1 ? " x \(m.options.accumulate) micro-batches" : ""))
        }
    }

    /// The final genotype and checksums, written to the run folder (genotype.txt, genotype.json,
    /// result.json) and printed with every rank's time and the pictures.
    func finish(_ run: SearchRun, started: Date) throws -> SearchResult {
        let state = run.state, progress = run.progress, worldSize = communicator.worldSize
        let genotype = run.network.genotype(maxParameterFree: options.maxParameterFree,
                                            maxParameterFreeReduce: options.maxParameterFreeReduce)
        let keptEdges = KeptEdgeWeights(genotype: genotype, network: run.network)
        let checksums = (hexChecksum(state.weights.checksum()), hexChecksum(state.alphas.checksum()))
        let rankChecksums = communicator.allgather(checksums.0 + "/" + checksums.1)
        let result = SearchResult(genotype: genotype, genotypeText: genotype.dartsText,
            validationAccuracy: progress.validationAccuracy, validationLoss: progress.validationLoss, epochs: options.epochs,
            steps: progress.globalStep, worldSize: worldSize, seconds: Date().timeIntervalSince(started),
            stepSeconds: progress.stepSeconds,
            imagesPerSecond: Double(progress.globalStep * options.batchSize) / max(progress.stepSeconds, 1e-9),
            weightsChecksum: checksums.0, alphasChecksum: checksums.1, rankChecksums: rankChecksums, rankHosts: run.hosts,
            keptEdges: keptEdges, classNames: run.data.classNames)
        try agree {
            guard let folder = run.folder else { return }
            try folder.write(Genotype.textFileName, text: genotype.dartsText)
            try folder.writeJSON(Genotype.fileName, genotype)
            try folder.writeJSON(RunFile.result, result)
        }
        InterruptNotice.remove()   // finished: nothing to resume (`darts-dist pictures` redraws the pictures)
        say(String(format: "search finished in %@: final validation accuracy %.2f%%", formatDuration(result.seconds),
                   100 * result.validationAccuracy))
        say("final genotype = \(genotype.dartsText)")
        say(keptEdges.description)
        let identical = Set(rankChecksums).count == 1
        say("weights/alphas checksums: " + (identical ? "\(rankChecksums[0]), identical on all \(worldSize) rank(s)"
                                            : "DIFFER across ranks: \(rankChecksums.joined(separator: ", "))"))
        RankSummary.gather(parallel: parallel, steps: run.stepsThisRun, stepSeconds: run.secondsThisRun).lines.forEach(say)
        if let folder = run.folder { say(RunPictures.draw(in: folder)) }
        return result
    }
}

/// A checksum as 16 hex digits, zero-padded ("00c3f2...").
func hexChecksum(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}

/// "1 epoch", "2 epochs": `count` and `noun`, plural unless `count` is 1.
func counted(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}

/// "1h02m", "3m05s", "12s".
func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
}
