import DartsTensor
import Datasets
import Foundation
import NN
import Testing
import TestSupport
@testable import DARTS
@testable import Training

/// The memory estimate counts the parameters the networks really have, grows as the networks
/// do, and refuses networks that cannot fit before they are built, with the figure and the
/// machine's memory.
@Suite struct MemoryEstimateTests {
    static func parameterCount(_ module: Module) -> Double {
        Double(module.namedParameters().map(\.tensor.count).reduce(0, +))
    }

    @Test func searchParametersAreThoseOfTheBuiltNetwork() {
        for (channels, layers, k, skip, input, size) in [(4, 3, 1, false, 1, 28), (8, 5, 2, false, 3, 32), (8, 8, 4, true, 1, 28),
                                                         (6, 4, 1, true, 3, 32), (16, 8, 1, false, 1, 28), (4, 11, 2, false, 1, 12)] {
            var config = SearchConfiguration(inputChannels: input, imageSize: size, channels: channels, layers: layers, classes: 10)
            config.partialChannels = k
            config.auxiliarySkip = skip
            var rng = RandomGenerator(seed: 1)
            let network = SearchNetwork(config, rng: &rng)
            #expect(MemoryEstimate.searchParameters(config) == Self.parameterCount(network),
                    "C=\(channels) L=\(layers) K=\(k) skip \(skip)")
        }
    }

    @Test func retrainParametersAreThoseOfTheBuiltNetwork() throws {
        for (genotype, channels, layers, auxiliary) in [(Genotype.dartsV2, 8, 5, false), (.dartsV1, 12, 8, true),
                                                        (.random(seed: 3), 6, 6, true), (.random(seed: 9), 16, 4, false)] {
            let config = AugmentConfiguration(inputChannels: 3, imageSize: 32, channels: channels, layers: layers, classes: 10,
                                              auxiliary: auxiliary)
            var rng = RandomGenerator(seed: 1)
            let network = try AugmentNetwork(config, genotype: genotype, rng: &rng)
            #expect(MemoryEstimate.retrainParameters(config, genotype: genotype) == Self.parameterCount(network),
                    "\(genotype.dartsText) C=\(channels) L=\(layers) auxiliary \(auxiliary)")
        }
    }

    @Test func aMillionCellsOrAHundredThousandChannelsAreEstimatedAtOnceAndFinite() {
        let clock = ContinuousClock()
        let start = clock.now
        var wide = SearchConfiguration(inputChannels: 1, imageSize: 28, channels: 100_000, layers: 8)
        var deep = SearchConfiguration(inputChannels: 1, imageSize: 28, channels: 16, layers: 1_000_000)
        var absurd = SearchConfiguration(inputChannels: 1, imageSize: 28, channels: Int.max / 2, layers: Int.max)
        for config in [wide, deep, absurd] {
            let estimate = MemoryEstimate.search(config, microBatch: 32, secondOrder: true, recompute: false, evaluationChunk: 256,
                                                 images: 60_000)
            #expect(estimate.totalBytes.isFinite && estimate.totalBytes > 1e12, "\(config): \(estimate.totalBytes)")
        }
        #expect(clock.now - start < .seconds(1))
        wide.channels = 16
        deep.layers = 8
        absurd = wide
        // More of anything needs more memory.
        let base = MemoryEstimate.search(wide, microBatch: 32, secondOrder: false, recompute: false, evaluationChunk: 256, images: 0)
        let secondOrder = MemoryEstimate.search(wide, microBatch: 32, secondOrder: true, recompute: false, evaluationChunk: 256, images: 0)
        let recompute = MemoryEstimate.search(wide, microBatch: 32, secondOrder: false, recompute: true, evaluationChunk: 256, images: 0)
        absurd.partialChannels = 4
        let partial = MemoryEstimate.search(absurd, microBatch: 32, secondOrder: false, recompute: false, evaluationChunk: 256, images: 0)
        let bigger = MemoryEstimate.search(wide, microBatch: 64, secondOrder: false, recompute: false, evaluationChunk: 256, images: 0)
        #expect(secondOrder.weightBytes > base.weightBytes && secondOrder.activationBytes == base.activationBytes)
        #expect(recompute.activationBytes < base.activationBytes / 3)
        #expect(partial.activationBytes < base.activationBytes && partial.activationBytes > recompute.activationBytes)
        #expect(bigger.activationBytes == 2 * base.activationBytes)
    }

    @Test func aNetworkThatDoesNotFitIsRefusedWithTheFigureAndTheMachinesMemory() throws {
        let config = SearchConfiguration(inputChannels: 1, imageSize: 28, channels: 16, layers: 8)
        let estimate = MemoryEstimate.search(config, microBatch: 32, secondOrder: false, recompute: false, evaluationChunk: 256,
                                             images: 60_000)
        try estimate.check(ranksOnHost: 2, host: "node1", what: "x", fix: "y", available: 2 * estimate.totalBytes + 1,
                           error: SearchError.invalidOption)
        do {
            try estimate.check(ranksOnHost: 2, host: "node1", what: "the search network", fix: "lower --channels",
                               available: 1.5 * estimate.totalBytes, error: SearchError.invalidOption)
            Issue.record("2 ranks fitted in the memory of 1.5")
        } catch {
            let text = "\(error)"
            #expect(text.hasPrefix("the search network needs about \(MemoryEstimate.format(estimate.totalBytes)) of memory per rank "
                                   + "x 2 ranks on node1 = \(MemoryEstimate.format(2 * estimate.totalBytes))"), "\(text)")
            #expect(text.contains("but node1 has \(MemoryEstimate.format(1.5 * estimate.totalBytes)) available"), "\(text)")
            #expect(text.hasSuffix("lower --channels"), "\(text)")
        }
        #expect(HostMemory.availableBytes() > 1e8)
        #expect(MemoryEstimate.ranksOnThisHost(["a", "b", "a", "a"], rank: 2) == 3)
    }

    @Test func searchRetrainAndBenchRefuseAHugeNetworkBeforeBuildingIt() throws {
        let tmp = try TemporaryFolder(prefix: "darts-dist-memory")
        defer { tmp.remove() }
        let out = tmp.url.appendingPathComponent("run").path
        for (arguments, network) in [
            (["search", "--channels", "100000", "--subset", "64", "--batch-size", "16", "--out", out], "the search network (C=100000, 8 cells"),
            (["search", "--layers", "1000000", "--subset", "64", "--batch-size", "16", "--out", out], "the search network (C=16, 1000000 cells"),
            (["retrain", "--genotype", "DARTS_V2", "--preset", "fast", "--channels", "100000", "--subset", "64", "--test-subset", "64",
              "--out", out], "the evaluation network (C=100000, 5 cells"),
            (["bench", "--layers", "1000000"], "the search network (C=16, 1000000 cells"),
        ] {
            let result = try CommandRunner.run(arguments, timeout: 300)
            #expect(result.status == 1, "\(arguments): \(result.all)")
            #expect(result.stderr.contains("error: \(network)") && result.stderr.contains("of memory per rank"), "\(result.all)")
            #expect(result.stderr.contains("available (MemAvailable in /proc/meminfo)"), "\(result.all)")
            #expect(!FileManager.default.fileExists(atPath: out), "\(arguments) created --out")
        }
    }

    @Test func sizesBeyondAnyMemoryAreRefusedBeforeTheirArithmeticCanOverflow() throws {
        let tmp = try TemporaryFolder(prefix: "darts-dist-bounds")
        defer { tmp.remove() }
        let out = tmp.url.appendingPathComponent("run").path
        let huge = "4611686018427387904"   // 2^62: 2 x, 4 x or a product of it overflows Int
        let search = ["search", "--subset", "64", "--batch-size", "16", "--out", out]
        let retrain = ["retrain", "--genotype", "DARTS_V2", "--preset", "fast", "--subset", "64", "--test-subset", "64", "--out", out]
        for (arguments, message) in [
            (search + ["--channels", huge], "--channels \(huge) is more than 1048576, far beyond the memory of any machine; use fewer"),
            (search + ["--layers", huge], "--layers \(huge) is more than 1048576 cells, far beyond the memory of any machine; use fewer"),
            (search + ["--epochs", huge], "--epochs \(huge) is more than 1000000; use fewer"),
            (search + ["--dataset", "numpy", "--data", tmp.url.path, "--image-size", huge],
             "--image-size \(huge) must be a multiple of 4 from 4 to 4096 (the network halves the image twice)"),
            (retrain + ["--layers", huge], "--layers \(huge) is more than 1048576 cells"),
            (retrain + ["--epochs", huge], "--epochs \(huge) is more than 1000000; use fewer"),
            (retrain + ["--crop-padding", huge], "--crop-padding \(huge) is more than 4096 pixels; use less than the images' side"),
            (["bench", "--channels", huge], "--channels \(huge) is more than 1048576"),
            (["bench", "--image-size", "8192"], "--image-size 8192 must be a multiple of 4 from 4 to 4096 (two reduction cells)"),
        ] {
            let result = try CommandRunner.run(arguments, timeout: 120)
            #expect(result.status == 1, "\(arguments): exit status \(result.status) (a trap ends in 132 or more): \(result.all)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.all)")
            #expect(!FileManager.default.fileExists(atPath: out), "\(arguments) created --out")
        }
        // The bound itself still reaches the memory estimate, which refuses it with its figure.
        let largest = try CommandRunner.run(search + ["--layers", "1048576"], timeout: 300)
        #expect(largest.status == 1 && largest.stderr.contains("of memory per rank"), "\(largest.all)")
    }
}

/// The estimate against the peak resident memory (GNU time's maximum RSS) of short runs of
/// darts-dist on Fashion-MNIST, one process, one OpenBLAS thread: search `--subset 128 --epochs 1`
/// (2 steps and a validation of 64 images) and retrain `--genotype DARTS_V2 --subset 64
/// --test-subset 100 --epochs 1`. Reading the 60,000 (70,000) images takes 330 MB for a moment
/// before the check; the runs below are those whose training needs more than that.
@Suite struct MemoryEstimateMeasurementTests {
    struct Measured: CustomStringConvertible {
        let name: String, megabytes: Double, estimate: MemoryEstimate
        var ratio: Double { estimate.totalBytes / (megabytes * 1_048_576) }
        var description: String { "\(name): measured \(Int(megabytes)) MB, estimated \(Int(estimate.totalBytes / 1_048_576)) MB" }
    }

    static func search(_ name: String, _ megabytes: Double, channels: Int = 16, layers: Int = 8, batch: Int,
                       secondOrder: Bool = false, recompute: Bool = false, k: Int = 1) -> Measured {
        var config = SearchConfiguration(inputChannels: 1, imageSize: 28, channels: channels, layers: layers)
        config.partialChannels = k
        return Measured(name: name, megabytes: megabytes,
                        estimate: .search(config, microBatch: batch, secondOrder: secondOrder, recompute: recompute,
                                          evaluationChunk: 64, images: 128))
    }

    static func retrain(_ name: String, _ megabytes: Double, channels: Int, layers: Int, batch: Int, auxiliary: Bool) -> Measured {
        let config = AugmentConfiguration(inputChannels: 1, imageSize: 28, channels: channels, layers: layers, auxiliary: auxiliary)
        return Measured(name: name, megabytes: megabytes,
                        estimate: .retrain(config, genotype: .dartsV2, microBatch: batch, evaluationChunk: 100, images: 164))
    }

    static let runs: [Measured] = [
        search("search C=16, 8 cells, batch 32", 1076476 / 1024, batch: 32),
        search("search C=16, 8 cells, batch 32, second order", 1085204 / 1024, batch: 32, secondOrder: true),
        search("search C=16, 8 cells, batch 32, --partial-channels 4", 561856 / 1024, batch: 32, k: 4),
        search("search C=16, 8 cells, batch 32, --recompute", 387400 / 1024, batch: 32, recompute: true),
        search("search C=32, 5 cells, batch 16", 1047904 / 1024, channels: 32, layers: 5, batch: 16),
        search("search C=8, 5 cells, batch 64", 707148 / 1024, channels: 8, layers: 5, batch: 64),
        retrain("retrain C=16, 8 cells, batch 64", 726748 / 1024, channels: 16, layers: 8, batch: 64, auxiliary: false),
        retrain("retrain C=36, 20 cells, batch 16, auxiliary head", 1214348 / 1024, channels: 36, layers: 20, batch: 16, auxiliary: true),
    ]

    @Test func theEstimateIsNeitherFarBelowNorFarAboveTheMeasuredPeaks() {
        for run in Self.runs {
            print("memory estimate: \(run)")
            #expect(run.ratio > 0.9 && run.ratio < 1.3, "\(run) (x\(run.ratio))")
        }
        let paper = MemoryEstimate.search(SearchConfiguration(inputChannels: 1, imageSize: 28), microBatch: 32, secondOrder: false,
                                          recompute: false, evaluationChunk: 256, images: 60_000)
        print("memory estimate: paper configuration, batch 32 per rank, validation chunks of 256: "
              + "\(Int(paper.totalBytes / 1_048_576)) MB")
    }
}
