import DARTS
import DartsTensor
import Datasets
import Distributed
import Foundation
import NN

/// What `darts-dist bench` measures: search steps at a given configuration on synthetic data.
public struct BenchOptions: Codable, Sendable {
    public var layers = 8
    public var channels = 16
    /// Global batch, split over the ranks.
    public var batchSize = 64
    public var inputChannels = 1
    public var imageSize = 28
    public var classes = 10
    /// Measured steps per order, after `warmup` unmeasured ones.
    public var steps = 3
    public var warmup = 1
    /// "first", "second" or "both".
    public var order = "both"
    public var accumulate = 1
    /// Activation recomputation on every edge.
    public var recompute = false
    /// PC-DARTS' partial channels K and DARTS-' auxiliary skip, as in the search.
    public var partialChannels = 1
    public var auxiliarySkip = false
    public var seed: UInt64 = 2
    public init() {}

    /// The search network measured.
    public var configuration: SearchConfiguration {
        var config = SearchConfiguration(inputChannels: inputChannels, imageSize: imageSize, channels: channels,
                                         layers: layers, classes: classes)
        config.partialChannels = partialChannels
        config.auxiliarySkip = auxiliarySkip
        return config
    }

    /// The orders measured, in this order.
    public var orders: [String] { order == "both" ? ["first", "second"] : [order] }

    /// Checks every value a user can get wrong, with a message naming the flag and the fix.
    /// - Throws: ``SearchError/invalidOption(_:)``.
    public func validate(worldSize: Int) throws {
        let check = OptionCheck(SearchError.invalidOption)
        try check.network(layers: layers, channels: channels, what: "a search network")
        try check.partialChannels(partialChannels, network: configuration)
        try check.batch(batchSize: batchSize, accumulate: accumulate, worldSize: worldSize)
        try check.require(inputChannels > 0, "--input-channels \(inputChannels) must be positive")
        try check.require(imageSize >= 4 && imageSize % 4 == 0 && imageSize <= OptionCheck.largestImageSide,
                          "--image-size \(imageSize) must be a multiple of 4 from 4 to \(OptionCheck.largestImageSide) (two reduction cells)")
        try check.require(steps > 0, "--steps \(steps) must be positive")
        try check.require(warmup >= 0, "--warmup \(warmup) must not be negative")
        try check.require(["first", "second", "both"].contains(order), "--order \(order): use first, second or both")
    }
}

extension BenchOptions: CommandLineOptions {
    /// Every bench flag that sets a field, in `--help` order.
    public static let flags: [OptionFlag<BenchOptions>] = [
        OptionFlag("--layers", \.layers),
        OptionFlag("--channels", \.channels),
        OptionFlag("--batch-size", \.batchSize),
        OptionFlag("--input-channels", \.inputChannels),
        OptionFlag("--image-size", \.imageSize),
        OptionFlag("--steps", \.steps),
        OptionFlag("--warmup", \.warmup),
        OptionFlag("--order", \.order),
        OptionFlag("--accumulate", \.accumulate),
        OptionFlag("--recompute", \.recompute),
        OptionFlag("--partial-channels", \.partialChannels),
        OptionFlag("--auxiliary-skip", \.auxiliarySkip),
    ]
}

/// The measurements of one order (first or second).
public struct BenchResult: Codable, Sendable {
    public let order: String
    public let worldSize: Int
    public let globalBatch: Int
    /// Mean and fastest wall-clock seconds of one whole search step.
    public let secondsPerStep: Double
    public let fastestStep: Double
    /// Rank 0's seconds per step in each phase (data, forward, backward, allreduce, wait, optimizer).
    public let phaseSeconds: [String: Double]
    /// Global training images per second.
    public let imagesPerSecond: Double
    /// Counted floating-point operations of convolutions and linear layers per step, all ranks.
    public let flopsPerStep: Double
    public let gigaflopsPerSecond: Double
    /// CPU seconds (user + system) per step of every rank: the step's cost independent of other
    /// load on the machine (wall-clock seconds grow when ranks share a core, CPU seconds do not).
    public let cpuSecondsPerStep: [Double]
    /// Peak resident memory of every rank, bytes.
    public let peakResidentBytes: [Int]
    public let hosts: [String]
    /// Floats in the weight and in the alpha buffers: the sizes of the step's allreduces.
    public let weightCount: Int
    public let alphaCount: Int
}

/// Times the DARTS search step (the same ``SearchStep`` the search runs) on every rank.
public final class BenchJob {
    let options: BenchOptions
    let communicator: Communicator
    public var printLine: (String) -> Void = { print($0); fflush(stdout) }

    public init(options: BenchOptions, communicator: Communicator) {
        self.options = options
        self.communicator = communicator
    }

    /// - Throws: `RankFailure` for options that do not fit the world size.
    public func run() throws -> [BenchResult] {
        let worldSize = communicator.worldSize
        try communicator.agree { try options.validate(worldSize: worldSize) }
        let hosts = communicator.allgather(communicator.hostName)
        try communicator.agree {
            let microBatch = options.batchSize / worldSize / max(1, options.accumulate)
            try MemoryEstimate.search(options.configuration, microBatch: microBatch, secondOrder: options.orders.contains("second"),
                                      recompute: options.recompute, evaluationChunk: 0, images: 0)
                .check(ranksOnHost: MemoryEstimate.ranksOnThisHost(hosts, rank: communicator.rank), host: communicator.hostName,
                       what: "the search network (C=\(options.channels), \(options.layers) cells, \(microBatch) images per micro-batch)",
                       fix: "lower --channels, --layers or --batch-size, or add --recompute or --partial-channels",
                       error: SearchError.invalidOption)
        }
        var results: [BenchResult] = []
        for order in options.orders {
            results.append(measure(secondOrder: order == "second", hosts: hosts))
        }
        return results
    }

    func measure(secondOrder: Bool, hosts: [String]) -> BenchResult {
        let o = options
        let worldSize = communicator.worldSize
        var rng = RandomGenerator(seed: o.seed)
        let network = SearchNetwork(o.configuration, rng: &rng)
        network.recomputesActivations = o.recompute
        let state = SearchState(network: network)
        let parallel = DataParallel(communicator: communicator)
        parallel.broadcastFromRoot(state.weights.values)
        parallel.broadcastFromRoot(state.alphas.values)
        parallel.separatesWaiting = true
        let step = SearchStep(state: state, architect: Architect(state: state, parallel: parallel), parallel: parallel,
                              gradClip: 5, secondOrder: secondOrder)

        // Synthetic data: random pixels, random labels, crop and flip as in the search.
        let micro = o.batchSize / worldSize / o.accumulate
        let imageCount = 4 * micro * o.accumulate
        let pixels = o.inputChannels * o.imageSize * o.imageSize
        var dataRng = RandomGenerator(seed: o.seed &+ UInt64(communicator.rank))
        let dataset = ImageDataset(name: "synthetic", images: (0..<(imageCount * pixels)).map { _ in dataRng.nextNormal() },
                                   labels: (0..<imageCount).map { _ in Int32(dataRng.nextInt(below: o.classes)) },
                                   channels: o.inputChannels, height: o.imageSize, width: o.imageSize, classCount: o.classes,
                                   normalization: .identity(channels: o.inputChannels))
        let augmentation = Augmentation(randomCropPadding: 4, horizontalFlip: true)
        func batches(_ offset: Int) -> [LabeledBatch] {
            (0..<o.accumulate).map { k in
                let images = Tensor(shape: [micro, o.inputChannels, o.imageSize, o.imageSize])
                var labels = [Int32](repeating: 0, count: micro)
                let indices = (0..<micro).map { (offset + k * micro + $0) % imageCount }
                Profiler.measure(.data) {
                    labels.withUnsafeMutableBufferPointer {
                        fillBatch(dataset, indices: indices, images: images.data, labels: $0.baseAddress!,
                                  augmentation: augmentation, rng: &dataRng)
                    }
                }
                return LabeledBatch(images: images, labels: labels)
            }
        }

        var times: [Double] = []
        var cpuStart = 0.0
        for i in 0..<(o.warmup + o.steps) {
            if i == o.warmup { Profiler.reset(); cpuStart = processCPUSeconds() }
            communicator.barrier()
            let start = Profiler.now()
            let train = batches(0), val = batches(2 * micro * o.accumulate)
            _ = step.run(train: train, val: val, learningRate: 0.025, afterBackward: { _ in }, beforeUpdate: { _ in })
            communicator.barrier()
            if i >= o.warmup { times.append(Profiler.now() - start) }
        }
        let cpu = communicator.allgather(UInt64((processCPUSeconds() - cpuStart) / Double(o.steps) * 1e6))
            .map { Double($0) / 1e6 }
        let seconds = Profiler.seconds
        var flops = [Double(Profiler.flops) / Double(o.steps)]
        communicator.allreduceSum(&flops)
        let rss = communicator.allgather(UInt64(peakResidentBytes())).map(Int.init)
        let mean = times.reduce(0, +) / Double(times.count)
        return BenchResult(order: secondOrder ? "second" : "first", worldSize: worldSize, globalBatch: o.batchSize,
                           secondsPerStep: mean, fastestStep: times.min()!,
                           phaseSeconds: Dictionary(uniqueKeysWithValues: seconds.map { ($0.key.name, $0.value / Double(o.steps)) }),
                           imagesPerSecond: Double(o.batchSize) / mean, flopsPerStep: flops[0],
                           gigaflopsPerSecond: flops[0] / mean / 1e9, cpuSecondsPerStep: cpu, peakResidentBytes: rss, hosts: hosts,
                           weightCount: state.weights.count, alphaCount: state.alphas.count)
    }

    /// The table printed by rank 0.
    public static func table(_ results: [BenchResult], options: BenchOptions) -> String {
        var lines: [String] = []
        let o = options
        lines.append("darts-dist bench: C=\(o.channels), \(o.layers) cells, \(o.inputChannels)x\(o.imageSize)x\(o.imageSize), "
            + "global batch \(o.batchSize), \(results.first?.worldSize ?? 1) rank(s), \(o.steps) measured step(s) after \(o.warmup) warm-up"
            + (o.recompute ? ", activations recomputed" : "")
            + (o.partialChannels > 1 ? ", partial channels K=\(o.partialChannels)" : "")
            + (o.auxiliarySkip ? ", auxiliary skip" : ""))
        let phases = Profiler.Phase.allCases.map(\.name)
        func cell(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(width - text.count, 0)) + text }
        let header = ["order".padding(toLength: 7, withPad: " ", startingAt: 0), cell("s/step", 9), cell("img/s", 9)]
            + phases.map { cell($0, 10) } + [cell("GFLOP/s", 9), cell("CPU s", 7), cell("peak RSS", 11)]
        lines.append(header.joined(separator: " "))
        for r in results {
            let rss = Double(r.peakResidentBytes.max() ?? 0) / 1_073_741_824
            let row = [r.order.padding(toLength: 7, withPad: " ", startingAt: 0),
                       cell(String(format: "%.3f", r.secondsPerStep), 9), cell(String(format: "%.1f", r.imagesPerSecond), 9)]
                + phases.map { cell(String(format: "%.4f", r.phaseSeconds[$0] ?? 0), 10) }
                + [cell(String(format: "%.1f", r.gigaflopsPerSecond), 9),
                   cell(String(format: "%.3f", r.cpuSecondsPerStep.max() ?? 0), 7), cell(String(format: "%.2f GB", rss), 11)]
            lines.append(row.joined(separator: " "))
        }
        lines.append("phases are rank 0's seconds per step; wait = time in a barrier before each allreduce (load imbalance); "
            + "CPU s is the busiest rank's CPU seconds per step; peak RSS is the largest rank's")
        return lines.joined(separator: "\n")
    }
}

/// The CPU seconds (user + system) this process has used so far (getrusage).
public func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// The peak resident set size of this process, bytes (getrusage: ru_maxrss is in KiB on Linux).
public func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss) * 1024
}
