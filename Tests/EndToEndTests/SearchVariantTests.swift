import DARTS
import DartsTensor
import Distributed
import Foundation
import Testing
import TestSupport
@testable import Training

/// The search variants of docs/algorithm.md §11 in the search step, the options, the pictures
/// and a whole search: warm-up epochs, beta-DARTS' regularization, the cap on parameter-free
/// edges, and how far the alphas moved from uniform.
@Suite struct SearchVariantUnitTests {
    static func state() -> SearchState {
        var rng = RandomGenerator(seed: 1)
        let network = SearchNetwork(SearchConfiguration(inputChannels: 1, imageSize: 8, channels: 4, layers: 3, classes: 10),
                                    rng: &rng)
        return SearchState(network: network)
    }

    static func batch(seed: UInt64) -> LabeledBatch {
        var rng = RandomGenerator(seed: seed)
        return LabeledBatch(images: .randomNormal(shape: [4, 1, 8, 8], using: &rng),
                            labels: (0..<4).map { _ in Int32(rng.nextInt(below: 10)) })
    }

    @Test(arguments: [false, true])
    func aStepWithoutArchitectureUpdateLeavesTheAlphasAndTheirAdamStateBitForBit(secondOrder: Bool) throws {
        let state = Self.state()
        let parallel = DataParallel(communicator: SingleProcessCommunicator())
        let step = SearchStep(state: state, architect: Architect(state: state, parallel: parallel), parallel: parallel,
                              gradClip: 5, secondOrder: secondOrder)
        let train = [Self.batch(seed: 2)], val = [Self.batch(seed: 3)]
        // One ordinary step first, so that Adam's moments are not zero.
        let first = try step.run(train: train, val: val, learningRate: 0.025)
        #expect(first.archLoss != nil && state.alphaOptimizer.stepCount == 1)
        let alphas = state.alphas.snapshot().map(\.bitPattern)
        let m = state.alphaOptimizer.firstMoment.map(\.bitPattern), v = state.alphaOptimizer.secondMoment.map(\.bitPattern)
        let alphaGrads = Array(state.alphas.grads!).map(\.bitPattern)
        let weights = state.weights.snapshot()
        #expect(m.contains { $0 != 0 })

        let frozen = try step.run(train: train, val: val, learningRate: 0.025,
                              architecture: ArchitectureUpdate(updatesAlphas: false, regularization: .beta(weight: 5)))
        #expect(frozen.archLoss == nil)
        #expect(state.alphas.snapshot().map(\.bitPattern) == alphas)
        #expect(state.alphaOptimizer.firstMoment.map(\.bitPattern) == m)
        #expect(state.alphaOptimizer.secondMoment.map(\.bitPattern) == v)
        #expect(state.alphaOptimizer.stepCount == 1)
        #expect(Array(state.alphas.grads!).map(\.bitPattern) == alphaGrads)
        #expect(state.weights.snapshot() != weights, "the weights still train")
    }

    @Test func theArchitectureUpdateOfEachEpoch() {
        var options = SearchOptions()
        options.epochs = 4
        options.warmupEpochs = 2
        options.archRegularization = .beta
        options.archRegularizationWeight = 2
        #expect(options.architectureUpdate(epoch: 0) == ArchitectureUpdate(updatesAlphas: false))
        #expect(options.architectureUpdate(epoch: 1) == ArchitectureUpdate(updatesAlphas: false))
        #expect(options.architectureUpdate(epoch: 2) == ArchitectureUpdate(regularization: .beta(weight: 1)))
        #expect(options.architectureUpdate(epoch: 3) == ArchitectureUpdate(regularization: .beta(weight: 1.5)))
        #expect(options.alphasFrozen(epoch: 1) && !options.alphasFrozen(epoch: 2))
        // The defaults: DARTS' step in every epoch.
        #expect((0..<50).allSatisfy { SearchOptions().architectureUpdate(epoch: $0) == ArchitectureUpdate() })
        #expect(SearchOptions().maxParameterFree == nil && SearchOptions().warmupEpochs == 0)
    }

    static func message(_ change: (inout SearchOptions) -> Void) -> String? {
        var options = SearchOptions()
        options.epochs = 3
        change(&options)
        do {
            try options.validate(worldSize: 1)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func nonsenseIsRefusedWithAMessageNamingTheFlag() {
        #expect(Self.message { $0.warmupEpochs = 3 } == "--warmup-epochs 3 must be at least 0 and less than --epochs (3): at least one epoch must train the alphas")
        #expect(Self.message { $0.warmupEpochs = -1 }?.hasPrefix("--warmup-epochs -1 must be at least 0 and less than --epochs") == true)
        #expect(Self.message { $0.warmupEpochs = 2 } == nil)
        #expect(Self.message { $0.archRegularizationWeight = 2 }
                == "--arch-regularization-weight 2.0 needs --arch-regularization beta (with --arch-regularization none there is no term to weigh)")
        #expect(Self.message { $0.archRegularization = .beta }
                == "--arch-regularization beta needs --arch-regularization-weight LAMBDA (the term's weight is LAMBDA x e / epochs in the 0-based epoch e)")
        #expect(Self.message { $0.archRegularization = .beta; $0.archRegularizationWeight = -1 }
                == "--arch-regularization-weight -1.0 must be a number, not negative")
        #expect(Self.message { $0.archRegularization = .beta; $0.archRegularizationWeight = .nan }?.contains("must be a number") == true)
        #expect(Self.message { $0.archRegularization = .beta; $0.archRegularizationWeight = 0 } == nil)
        #expect(Self.message { $0.maxParameterFree = 9 } == "--max-parameter-free 9 must be in 0...8 (the normal cell has 8 edges)")
        #expect(Self.message { $0.maxParameterFree = -1 }?.hasPrefix("--max-parameter-free -1 must be in 0...8") == true)
        #expect(Self.message { $0.maxParameterFree = 0 } == nil && Self.message { $0.maxParameterFree = 8 } == nil)
        #expect(Self.message { $0.maxParameterFreeReduce = 9 }
                == "--max-parameter-free-reduce 9 must be in 0...8 (the reduction cell has 8 edges)")
        #expect(Self.message { $0.maxParameterFreeReduce = 0 } == nil)
    }

    @Test func theNewOptionsDefineTheSearch() {
        let names = ["--warmup-epochs", "--arch-regularization", "--arch-regularization-weight", "--max-parameter-free",
                     "--max-parameter-free-reduce"]
        for name in names {
            let row = SearchOptions.flag(name)
            #expect(row != nil && row?.resumable == false, "\(name)")
        }
        #expect(Set(SearchOptions().definingValues.map(\.flag)).isSuperset(of: names))
        #expect(SearchOptions().flagValues.first { $0.flag == "--max-parameter-free" }?.value == "(no cap)")
        #expect(SearchOptions().flagValues.first { $0.flag == "--max-parameter-free-reduce" }?.value == "(no cap)")
    }

    // MARK: Pictures and the kept edges

    @Test func theHeatmapScaleIsCentredOnUniformWithAMinimumRange() {
        // Two epochs of a search that has not chosen anything: all within 0.001 of 1/8.
        let tiny = AlphaHeatmap.ColourScale(values: [0.1242, 0.1258, 0.125], operations: 8)
        #expect(tiny.uniform == 0.125 && tiny.halfRange == AlphaHeatmap.minimumHalfRange)
        #expect(tiny.colour(0.125) == "#ffffff")
        #expect(abs(tiny.position(0.1258) - 0.508) < 1e-9)   // nearly white, not the darkest blue
        #expect(tiny.colour(0.1258) != redWhiteBlue(1) && tiny.colour(0.1242) != redWhiteBlue(0))
        // A search that chose: the largest deviation sets the range, symmetric around uniform.
        let chosen = AlphaHeatmap.ColourScale(values: [0.02, 0.125, 0.425], operations: 8)
        #expect(abs(chosen.halfRange - 0.3) < 1e-12)
        #expect(chosen.colour(0.425) == redWhiteBlue(1) && abs(chosen.position(0.02) - 0.325) < 1e-12)
        #expect(redWhiteBlue(0.5) == "#ffffff" && redWhiteBlue(1) == "#053061" && redWhiteBlue(0) == "#67001f")
        #expect(redWhiteBlue(.nan) == "#ffffff")
    }

    @Test func theHeatmapMarksFrozenEpochsAndPrintsItsRange() {
        let primitives = Primitive.allCases.map(\.rawValue)
        let uniform = [[[Float]]](repeating: [[Float]](repeating: [Float](repeating: 0.125, count: 8), count: 14), count: 3)
        let map = AlphaHeatmap(cell: "normal", primitives: primitives, epochs: [0, 1, 2], weights: uniform,
                               frozen: [true, true, false])
        let svg = map.svg()
        let counts = SVGCounts(Data(svg.utf8))
        #expect(counts.wellFormed, "\(counts.error ?? "")")
        #expect(counts.classes["rect.cell"] == 14 * 8 * 3)
        #expect(counts.classes["rect.frozen"] == 14 * 2)
        #expect(svg.contains("grey bar: alphas frozen (warm-up), epoch(s) 0-1"))
        #expect(svg.contains("+0.0500") && svg.contains("-0.0500") && svg.contains("white = uniform (1/8)"))
        // Uniform weights are white everywhere.
        #expect(svg.components(separatedBy: "fill=\"#ffffff\"").count - 1 >= 14 * 8 * 3)
        #expect(AlphaHeatmap.ranges([0, 1, 2, 5, 7, 8]) == "0-2, 5, 7-8")
    }

    @Test func keptEdgeWeightsAreTheKeptOperationsSoftmaxWeights() {
        var normal = [[Float]](repeating: [Float](repeating: 0.125, count: 8), count: 14)
        let reduce = normal
        normal[0][Primitive.sepConv3x3.index] = 0.204
        normal[1][Primitive.sepConv5x5.index] = 0.131
        for e in 2..<14 { normal[e][Primitive.dilConv3x3.index] = 0.15 }
        let genotype = Genotype(weightsNormal: normal, weightsReduce: reduce)
        let kept = KeptEdgeWeights(genotype: genotype, weightsNormal: normal, weightsReduce: reduce)
        #expect(kept.normal == .init(min: 0.131, max: 0.204) && kept.reduce == .init(min: 0.125, max: 0.125) && kept.uniform == 0.125)
        #expect(kept.description == "kept edges: normal softmax(alpha) 0.1310-0.2040, reduce 0.1250-0.1250 (uniform 0.1250)")
    }
}

/// A whole search with every variant on, one process, and the genotype command on its folder.
@Suite(.serialized) struct SearchVariantRunTests {
    static let flags = ["--warmup-epochs", "1", "--arch-regularization", "beta", "--arch-regularization-weight", "4",
                        "--max-parameter-free", "1", "--max-parameter-free-reduce", "0"]

    @Test func aSearchWithWarmUpBetaAndTheCapRecordsAllOfThem() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let result = try CommandRunner.run(["search", "--subset", "128", "--layers", "3", "--channels", "4", "--batch-size", "16",
                                            "--epochs", "2", "--print-every", "4", "--out", out.path] + Self.flags)
        #expect(result.status == 0, "\(result.all)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        // The epoch lines: the first says the alphas were frozen, the second does not.
        let epochLines = lines.filter { $0.hasPrefix("epoch ") && $0.contains(" done in ") }
        #expect(epochLines.count == 2)
        #expect(epochLines.first?.hasSuffix("; alphas frozen (warm-up)") == true && epochLines.last?.contains("frozen") == false,
                "\(epochLines)")
        // epoch_N.alphas.json says so too; the frozen epoch's alphas are the initial ones.
        let alphas0 = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("epoch_0.alphas.json"))) as! [String: Any]
        let alphas1 = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("epoch_1.alphas.json"))) as! [String: Any]
        #expect(alphas0["frozen"] as? Bool == true && alphas1["frozen"] as? Bool == false)
        let epoch0 = try Checkpoint(contentsOf: out.appendingPathComponent("checkpoints/step_00000004.ckpt"))
        let final = try Checkpoint(contentsOf: out.appendingPathComponent("checkpoint.ckpt"))
        var rng = RandomGenerator(seed: 2)
        let initial = SearchNetwork(SearchConfiguration(inputChannels: 1, imageSize: 28, channels: 4, layers: 3, classes: 10), rng: &rng)
        #expect(RunComparison.bits(epoch0.sections["alphas"]) == (Array(initial.alphaNormal.values) + Array(initial.alphaReduce.values)).map(\.bitPattern))
        #expect(epoch0.manifest.adamStepCount == 0 && final.manifest.adamStepCount == 4)
        #expect(epoch0.sections["adam.m"]!.allSatisfy { $0 == 0 } && epoch0.sections["adam.v"]!.allSatisfy { $0 == 0 })
        #expect(final.sections["alphas"] != epoch0.sections["alphas"])
        // metrics.jsonl: no architect loss in the warm-up epoch, one afterwards.
        let metrics = try RunComparison.metrics(out)
        #expect(metrics.count == 2 && metrics[0]["archLoss"] == nil && metrics[1]["archLoss"] is Double)
        // The options, in config.json and in every checkpoint.
        for checkpoint in [epoch0, final] {
            let o = checkpoint.manifest.options
            #expect(o.warmupEpochs == 1 && o.archRegularization == .beta && o.archRegularizationWeight == 4 && o.maxParameterFree == 1
                    && o.maxParameterFreeReduce == 0)
        }
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("config.json"))) as! [String: Any]
        let options = config["options"] as! [String: Any]
        #expect(options["warmupEpochs"] as? Int == 1 && options["archRegularization"] as? String == "beta"
                && options["archRegularizationWeight"] as? Double == 4 && options["maxParameterFree"] as? Int == 1
                && options["maxParameterFreeReduce"] as? Int == 0)
        // The cap: at most one parameter-free edge in every normal cell written.
        let genotype = try Genotype.load(path: out.path)
        #expect(genotype.normal.filter { $0.operation.isParameterFree }.count <= 1)
        #expect(!genotype.reduce.contains { $0.operation.isParameterFree })
        // The kept edges: printed and in result.json, from the final alphas.
        let searchResult = try readJSON(SearchResult.self, out.appendingPathComponent("result.json"))
        let weights = try LastEpochAlphas(folder: out)
        #expect(searchResult.keptEdges == KeptEdgeWeights(genotype: genotype, weightsNormal: weights.normal, weightsReduce: weights.reduce))
        #expect(lines.contains(searchResult.keptEdges.description), "\(result.stdout)")
        #expect(searchResult.keptEdges.normal.min <= searchResult.keptEdges.normal.max)

        // genotype RUN_DIR --max-parameter-free 1 derives the search's own genotype again; no cap
        // allows more parameter-free edges than the cap.
        let again = try CommandRunner.run(["genotype", out.path, "--max-parameter-free", "1", "--max-parameter-free-reduce", "0"])
        #expect(again.status == 0, "\(again.all)")
        #expect(again.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == genotype.dartsText)
        #expect(again.stderr.contains("derived from \(out.path)/epoch_1.alphas.json with at most 1 parameter-free edge(s) "
                                      + "in the normal cell and 0 in the reduction cell"), "\(again.all)")
        let zero = try CommandRunner.run(["genotype", out.path, "--max-parameter-free", "0", "--max-parameter-free-reduce", "0",
                                          "--format", "json"])
        #expect(zero.status == 0, "\(zero.all)")
        let zeroGenotype = try Genotype.parse(zero.stdout)
        #expect(!zeroGenotype.normal.contains { $0.operation.isParameterFree } && zeroGenotype.reduce == genotype.reduce)
        // Without the reduction cap the reduction cell is derived as DARTS does.
        let weightsAgain = try LastEpochAlphas(folder: out)
        let reduceFree = try CommandRunner.run(["genotype", out.path, "--max-parameter-free", "1"])
        #expect(reduceFree.status == 0 && reduceFree.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                == Genotype(weightsNormal: weightsAgain.normal, weightsReduce: weightsAgain.reduce, maxParameterFree: 1).dartsText,
                "\(reduceFree.all)")
        #expect(reduceFree.stderr.contains("with at most 1 parameter-free edge(s) in the normal cell\n"), "\(reduceFree.all)")
    }

    @Test func theGenotypeCommandRefusesACapWithoutARunFolderOrOutOfRange() throws {
        let outOfRange = try CommandRunner.run(["genotype", "DARTS_V2", "--max-parameter-free", "9"])
        #expect(outOfRange.status != 0 && outOfRange.stderr.contains("--max-parameter-free 9 must be in 0...8"), "\(outOfRange.all)")
        let named = try CommandRunner.run(["genotype", "DARTS_V2", "--max-parameter-free", "2"])
        #expect(named.status != 0 && named.stderr.contains("--max-parameter-free needs a search run folder"), "\(named.all)")
        let reduceOutOfRange = try CommandRunner.run(["genotype", "DARTS_V2", "--max-parameter-free-reduce", "9"])
        #expect(reduceOutOfRange.status != 0 && reduceOutOfRange.stderr.contains("--max-parameter-free-reduce 9 must be in 0...8 (the reduction cell has 8 edges)"),
                "\(reduceOutOfRange.all)")
        let reduceNamed = try CommandRunner.run(["genotype", "DARTS_V2", "--max-parameter-free-reduce", "2"])
        #expect(reduceNamed.status != 0 && reduceNamed.stderr.contains("--max-parameter-free-reduce needs a search run folder"),
                "\(reduceNamed.all)")
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let empty = try CommandRunner.run(["genotype", tmp.path, "--max-parameter-free", "2"])
        #expect(empty.status != 0 && empty.stderr.contains("holds no epoch_N.alphas.json"), "\(empty.all)")
    }

    @Test func aSearchRefusesNonsenseBeforeItStarts() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("run")
        let warmup = try CommandRunner.run(["search", "--subset", "128", "--epochs", "2", "--warmup-epochs", "2", "--out", out.path])
        #expect(warmup.status != 0 && warmup.stderr.contains("--warmup-epochs 2 must be at least 0 and less than --epochs (2)"), "\(warmup.all)")
        let weight = try CommandRunner.run(["search", "--subset", "128", "--arch-regularization-weight", "2", "--out", out.path])
        #expect(weight.status != 0 && weight.stderr.contains("needs --arch-regularization beta"), "\(weight.all)")
        let kind = try CommandRunner.run(["search", "--subset", "128", "--arch-regularization", "gamma", "--out", out.path])
        #expect(kind.status != 0 && kind.stderr.contains("gamma"), "\(kind.all)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }
}
