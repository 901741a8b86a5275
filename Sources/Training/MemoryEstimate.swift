import DARTS
import Datasets
import Foundation

/// The memory one rank needs for a network, estimated before anything is allocated, so that a
/// network that cannot fit (`--channels 100000`, `--layers 1000000`) is refused with the figure
/// instead of ending in an abort or a segfault halfway through building it.
///
/// All arithmetic is in Double (no integer overflow, whatever the flags say); figures are bytes.
/// The parts, each a formula over the network's shape:
///
/// - **weights**: the parameter count P, counted layer by layer as the networks build them
///   (``searchParameters(_:)``, ``retrainParameters(_:genotype:)``: convolutions in x out x k x k,
///   depthwise c x k x k, affine batch norm 2c, linear in x out + out), times 4 bytes for the
///   weights, their gradients and the SGD momentum (3 x 4 P). The second-order architecture step
///   keeps 5 more copies (the saved weights, the virtual step w', its gradient, the finite-difference
///   direction and the saved momentum: docs/algorithm.md §3).
/// - **activations**: what forward keeps for backward at the per-rank micro-batch b:
///   b x 4 bytes x sum over cells of C x H x W x (floats kept per C x H x W of the cell, counted
///   per operation as in docs/performance.md, "What the search network keeps for backward"). A
///   search edge keeps 8 outputs of its C x H x W (two per separable convolution, one per other
///   operation), 9 at stride 2 (the factorized skip), 1 with `--recompute` (only the edge's
///   output; one edge's intermediates at a time are alive besides), and 8 / K + 1 + 1 / K with
///   `--partial-channels K`; the cell keeps its two preprocessed inputs, its four nodes and their
///   concatenation. An evaluation-network cell keeps its preprocessed inputs, each operation's
///   fused blocks' normalized values and outputs (2 per separable-convolution half, 2 per dilated
///   convolution and stride-2 skip), 1 per pool, its nodes and the concatenation. Backward's
///   gradients fit in the memory it frees as it goes: the measured peaks match the kept tensors
///   alone (``backwardFactor`` 1), times the allocator's overhead (``searchOverhead`` and
///   ``retrainOverhead`` 1.2, fitted to the measurements).
/// - **evaluation**: the validation or test pass (no graph) at its chunk of images: the cell with
///   the most floats alive at once (a node's terms before their sum, and the cell's states). It
///   adds to the training step's memory: the tensor cache keeps the step's tensors until the pass
///   ends.
/// - **data**: the images held, as float32 (training, and test for a retrain). Reading the files
///   takes about 3 bytes per pixel more for a moment, before this check runs.
/// - **baseline**: the process itself (Swift runtime, OpenMPI, OpenBLAS): 32 MB.
///
/// Checked against the peak resident memory of short runs on Fashion-MNIST (docs/failures.md,
/// "Flags, outputs and ranks"): the estimate is within -4% and +19% of the measured peaks
/// (`MemoryEstimateMeasurementTests` keeps each within -10% and +30%).
public struct MemoryEstimate: Equatable, Sendable {
    public var parameters: Double
    public var weightBytes: Double
    public var activationBytes: Double
    public var evaluationBytes: Double
    public var dataBytes: Double
    public static let baselineBytes = 32.0 * 1_048_576

    /// The bytes one rank needs at its peak. The evaluation pass adds to the training step's
    /// memory: the tensor cache keeps the step's tensors (of another batch size) until the pass
    /// ends; the data and weights stay throughout.
    public var totalBytes: Double {
        Self.baselineBytes + dataBytes + weightBytes + activationBytes + evaluationBytes
    }

    /// Backward's gradients of the kept tensors, relative to the tensors themselves: measured
    /// (see the type's documentation).
    static let backwardFactor = 1.0
    /// The allocator's and the tensor cache's overhead over the tensors alive (blocks of other
    /// sizes kept for reuse), fitted to the measured peaks of the fused operations of the search
    /// and the evaluation network.
    static let searchOverhead = 1.2, retrainOverhead = 1.2

    // MARK: Search

    /// The search network of `configuration` trained with micro-batches of `microBatch` images per
    /// rank, validated in chunks of `evaluationChunk`, on `images` training images held in memory.
    public static func search(_ configuration: SearchConfiguration, microBatch: Int, secondOrder: Bool, recompute: Bool,
                              evaluationChunk: Int, images: Int) -> MemoryEstimate {
        let p = searchParameters(configuration)
        let k = Double(max(1, configuration.partialChannels))
        var kept = 0.0, evaluationPeak = 0.0, recomputed = 0.0
        let s0 = Double(configuration.imageSize) * Double(configuration.imageSize)
        kept += 2 * Double(configuration.stemMultiplier) * Double(configuration.channels) * s0
        for run in cellRuns(layers: configuration.layers, channels: configuration.channels,
                            stemMultiplier: configuration.stemMultiplier, imageSize: configuration.imageSize,
                            multiplier: { _ in 4 }) {
            let cs = run.c * run.outputArea, inputRatio = run.inputArea / run.outputArea
            let strided = run.reduction ? 8.0 : 0, plain = 14 - strided
            let skip = configuration.auxiliarySkip ? 1.0 : 0
            let perEdge: (Double) -> Double = { stride2 in
                if recompute { return 1 }
                if k > 1 { return (8 + stride2) / k + 1 + inputRatio / k + skip }
                return 8 + stride2 + skip
            }
            let edges = plain * perEdge(0) + strided * perEdge(1)
            kept += run.count * cs * (2 * inputRatio + edges + 4 + 4)
            // With recomputation one edge's intermediate tensors are alive at a time, besides.
            if recompute { recomputed = max(recomputed, cs * (8 + inputRatio)) }
            // Evaluation: the last node's terms (5 edges x 8 operations, or one edge's at a time)
            // and the cell's states, at the chunk.
            let terms = recompute || k > 1 ? 5 + 8 / k : 5 * 8
            evaluationPeak = max(evaluationPeak, cs * (terms + 2 * inputRatio + 4 + 4))
        }
        var estimate = MemoryEstimate(parameters: p, weightBytes: 4 * p * (3 + (secondOrder ? 5 : 0)),
                                      activationBytes: 4 * Double(microBatch) * (kept + recomputed) * backwardFactor * searchOverhead,
                                      evaluationBytes: 4 * Double(evaluationChunk) * evaluationPeak * searchOverhead,
                                      dataBytes: 0)
        estimate.dataBytes = Double(images) * Double(configuration.inputChannels) * s0 * 4
        return estimate
    }

    /// The parameters of the search network (``SearchNetwork``): stem, cells (affine-free batch
    /// norm), classifier; the alphas and betas (a few hundred) are left out.
    public static func searchParameters(_ configuration: SearchConfiguration) -> Double {
        let c = Double(configuration.channels), stem = Double(configuration.stemMultiplier) * c
        let k = Double(max(1, configuration.partialChannels))
        var total = Double(configuration.inputChannels) * stem * 9 + 2 * stem
        var last = 0.0
        for run in cellRuns(layers: configuration.layers, channels: configuration.channels,
                            stemMultiplier: configuration.stemMultiplier, imageSize: configuration.imageSize,
                            multiplier: { _ in 4 }) {
            let e = run.c / k
            // sep 3x3, sep 5x5 (two halves each), dil 3x3, dil 5x5: depthwise c k^2 + pointwise c^2.
            let edge = 2 * (9 * e + e * e) + 2 * (25 * e + e * e) + (9 * e + e * e) + (25 * e + e * e)
            let strided = run.reduction ? 8.0 : 0
            let auxiliarySkip = configuration.auxiliarySkip ? strided * run.c * run.c : 0
            let cell = run.cpp * run.c + run.cp * run.c + 14 * edge + strided * e * e + auxiliarySkip
            total += run.count * cell
            last = 4 * run.c
        }
        return total + last * Double(configuration.classes) + Double(configuration.classes)
    }

    // MARK: Retrain

    /// The evaluation network of `configuration` and `genotype` trained with micro-batches of
    /// `microBatch` images per rank, tested in chunks of `evaluationChunk`, with `images` training
    /// and test images held in memory.
    /// - Parameter trains: false for `evaluate` (no gradients, no optimizer state).
    public static func retrain(_ configuration: AugmentConfiguration, genotype: Genotype, microBatch: Int,
                               evaluationChunk: Int, images: Int, trains: Bool = true) -> MemoryEstimate {
        let p = retrainParameters(configuration, genotype: genotype)
        let s0 = Double(configuration.imageSize) * Double(configuration.imageSize)
        var kept = 2 * Double(configuration.stemMultiplier) * Double(configuration.channels) * s0
        var evaluationPeak = 0.0
        for run in cellRuns(layers: configuration.layers, channels: configuration.channels,
                            stemMultiplier: configuration.stemMultiplier, imageSize: configuration.imageSize,
                            multiplier: { $0 ? Double(genotype.reduceConcat.count) : Double(genotype.normalConcat.count) }) {
            let edges = run.reduction ? genotype.reduce : genotype.normal
            let concat = Double(run.reduction ? genotype.reduceConcat.count : genotype.normalConcat.count)
            let inputRatio = run.inputArea / run.outputArea
            // The fused blocks keep x̂ and y: two per separable half, and for a stride-2 skip (a
            // factorized reduce).
            let ops = edges.map { edge -> Double in
                let stride2 = run.reduction && edge.input < 2
                switch edge.operation {
                case .sepConv3x3, .sepConv5x5: return 4
                case .dilConv3x3, .dilConv5x5: return 2
                case .skipConnect: return stride2 ? 2 : 0
                case .maxPool3x3, .avgPool3x3, .none: return 1
                }
            }.reduce(0, +)
            let cs = run.c * run.outputArea
            kept += run.count * cs * (4 * inputRatio + ops + Double(edges.count / 2) * 2 + concat)
            evaluationPeak = max(evaluationPeak, cs * (2 * inputRatio + 8 + Double(edges.count / 2) + concat))
        }
        return MemoryEstimate(parameters: p, weightBytes: 4 * p * (trains ? 3 : 1),
                              activationBytes: 4 * Double(microBatch) * kept * backwardFactor * retrainOverhead,
                              evaluationBytes: 4 * Double(evaluationChunk) * evaluationPeak * retrainOverhead,
                              dataBytes: Double(images) * Double(configuration.inputChannels) * s0 * 4)
    }

    /// The parameters of the evaluation network (``AugmentNetwork``): stem, cells (affine batch
    /// norm, bare pools), auxiliary head, classifier.
    public static func retrainParameters(_ configuration: AugmentConfiguration, genotype: Genotype) -> Double {
        let stem = Double(configuration.stemMultiplier) * Double(configuration.channels)
        var total = Double(configuration.inputChannels) * stem * 9 + 2 * stem
        var last = 0.0, auxiliaryChannels = 0.0
        let runs = cellRuns(layers: configuration.layers, channels: configuration.channels,
                            stemMultiplier: configuration.stemMultiplier, imageSize: configuration.imageSize,
                            multiplier: { $0 ? Double(genotype.reduceConcat.count) : Double(genotype.normalConcat.count) })
        for run in runs {
            let c = run.c
            let edges = run.reduction ? genotype.reduce : genotype.normal
            let ops = edges.map { edge -> Double in
                let stride2 = run.reduction && edge.input < 2
                switch edge.operation {
                case .sepConv3x3: return 2 * (9 * c + c * c + 2 * c)
                case .sepConv5x5: return 2 * (25 * c + c * c + 2 * c)
                case .dilConv3x3: return 9 * c + c * c + 2 * c
                case .dilConv5x5: return 25 * c + c * c + 2 * c
                case .skipConnect: return stride2 ? c * c + 2 * c : 0
                case .maxPool3x3, .avgPool3x3, .none: return 0
                }
            }.reduce(0, +)
            total += run.count * (run.cpp * c + 2 * c + run.cp * c + 2 * c + ops)
            last = run.outputChannels
            if run.first <= Double(configuration.auxiliaryCell) && Double(configuration.auxiliaryCell) < run.first + run.count {
                auxiliaryChannels = run.outputChannels
            }
        }
        let classes = Double(configuration.classes)
        if configuration.auxiliary {
            total += auxiliaryChannels * 128 + 2 * 128 + 128 * 768 * 4 + 2 * 768 + 768 * classes + classes
        }
        return total + last * classes + classes
    }

    // MARK: Cells

    /// Consecutive cells with the same shape: `count` cells from index `first`, with input
    /// channels cpp and cp, C channels on their edges, output channels, and input and output areas
    /// (H x W) per image.
    struct CellRun {
        var first: Double, count: Double
        var cpp: Double, cp: Double, c: Double, outputChannels: Double
        var inputArea: Double, outputArea: Double
        var reduction: Bool
    }

    /// The cells of a network of `layers` cells (reductions at layers / 3 and 2 layers / 3, C
    /// doubled and the side halved, rounded up, at each), grouped into runs of identical cells, so
    /// that a million cells cost a few steps. `multiplier(reduction)`: the nodes a cell concatenates.
    static func cellRuns(layers: Int, channels: Int, stemMultiplier: Int, imageSize: Int,
                         multiplier: (Bool) -> Double) -> [CellRun] {
        // 2 * layers / 3 without overflow for any Int (a flag or file may say Int.max).
        let reductions = [layers / 3, layers > Int.max / 2 ? Int(Double(layers) / 3 * 2) : 2 * layers / 3]
        var runs: [CellRun] = []
        var c = Double(channels), side = Double(imageSize)
        var cpp = Double(stemMultiplier) * c, cp = cpp
        var previousReduction = false
        var i = 0
        while i < max(0, layers) {
            let reduction = reductions.contains(i)
            let inputArea = side * side
            if reduction { c *= 2; side = (side / 2).rounded(.up) }
            let out = multiplier(reduction) * c
            // A normal cell whose inputs are the outputs of normal cells like it repeats up to the next reduction.
            let next = reductions.first { $0 > i } ?? layers
            let repeats = !reduction && !previousReduction && cpp == out && cp == out ? next - i : 1
            runs.append(CellRun(first: Double(i), count: Double(repeats), cpp: cpp, cp: cp, c: c, outputChannels: out,
                                inputArea: inputArea, outputArea: side * side, reduction: reduction))
            (cpp, cp) = (cp, out)
            previousReduction = reduction
            i += repeats
        }
        return runs
    }

    // MARK: The machine

    /// The ranks of `communicator` on this rank's host (its name among every rank's). Collective:
    /// every rank must call it.
    public static func ranksOnThisHost(_ hosts: [String], rank: Int) -> Int {
        hosts.filter { $0 == hosts[rank] }.count
    }

    /// "706.7 TB", "3.21 GB", "512 MB" (powers of 1000).
    public static func format(_ bytes: Double) -> String {
        bytes >= 1e12 ? String(format: "%.1f TB", bytes / 1e12)
            : bytes >= 1e9 ? String(format: "%.2f GB", bytes / 1e9) : String(format: "%.0f MB", bytes / 1e6)
    }

    /// Refuses a network that does not fit: `ranksOnHost` ranks of this host each need
    /// ``totalBytes``, against ``HostMemory/availableBytes()`` (or `available`, for tests).
    /// - Parameters:
    ///   - what: "the search network (C=16, 8 cells, batch 32 per rank)".
    ///   - fix: the flags that lower the figure.
    /// - Throws: `error(message)` with the figure, its parts and the machine's memory.
    public func check(ranksOnHost: Int, host: String, what: String, fix: String, available: Double? = nil,
                      error: (String) -> Error) throws {
        let free = available ?? HostMemory.availableBytes()
        let need = totalBytes * Double(max(1, ranksOnHost))
        guard need > free else { return }
        throw error("\(what) needs about \(Self.format(totalBytes)) of memory per rank"
            + (ranksOnHost > 1 ? " x \(ranksOnHost) ranks on \(host) = \(Self.format(need))" : "")
            + " (\(String(format: "%.4g", parameters)) weights: \(Self.format(weightBytes)) with their gradients and optimizer state; "
            + "activations kept for backward \(Self.format(activationBytes)); evaluation \(Self.format(evaluationBytes)); "
            + "data \(Self.format(dataBytes))), but \(host) has \(Self.format(free)) available (MemAvailable in /proc/meminfo); "
            + fix)
    }
}
