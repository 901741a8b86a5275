import ArgumentParser
import Testing
import Training
@testable import darts_dist

/// The flags each command declares and the rows of its options type's table agree: every row is
/// a flag of the command whose parsed value sets that row's field, and every flag of the command
/// is a row or one of the few that set no option.
@Suite struct FlagTableTests {
    /// Parses `name` alone (a Boolean flag) or with the first of a few values its type accepts,
    /// and returns the options the command derives.
    static func optionsWith<Command: ParsableCommand, Options: CommandLineOptions>(
        _ command: Command.Type, _ name: String, derive: (Command) -> Options) -> (Options, String)? {
        for arguments in [[name], [name, "7"], [name, "0.5"], [name, "fast"], [name, "small"], [name, "second"], [name, "beta"]] {
            if let parsed = try? Command.parseAsRoot(arguments) as? Command { return (derive(parsed), arguments.last!) }
        }
        return nil
    }

    static func checkEveryRowIsAFlag<Command: ParsableCommand, Options: CommandLineOptions>(
        _ command: Command.Type, defaults: Options, derive: (Command) -> Options) {
        for row in Options.flags {
            guard let (options, value) = optionsWith(command, row.name, derive: derive) else {
                Issue.record("\(Command.self) does not accept \(row.name)")
                continue
            }
            #expect(row.text(options) != row.text(defaults), "\(row.name) \(value) did not set its field")
        }
    }

    static func declaredFlags<Command: ParsableCommand>(_ command: Command.Type) throws -> Set<String> {
        Set(allDeclaredFlags(of: try Command.parseAsRoot([]) as! Command))
    }

    @Test func everySearchRowIsAFlagThatSetsItsField() {
        Self.checkEveryRowIsAFlag(Search.self, defaults: SearchOptions()) { SearchOptions.fromCommandLine(givenFlags(of: $0)) }
    }

    @Test func everyRetrainRowIsAFlagThatSetsItsField() {
        // --preset fast changes the preset row; the other rows are compared with the paper preset.
        Self.checkEveryRowIsAFlag(RetrainCommand.self, defaults: RetrainOptions()) {
            RetrainOptions.fromCommandLine(givenFlags(of: $0))
        }
    }

    @Test func everyBenchRowIsAFlagThatSetsItsField() {
        Self.checkEveryRowIsAFlag(BenchCommand.self, defaults: BenchOptions()) { BenchOptions().applying(givenFlags(of: $0)) }
    }

    @Test func everyDeclaredFlagIsARowOrSetsNoOption() throws {
        let search = try Self.declaredFlags(Search.self)
        #expect(search.subtracting(SearchOptions.flags.map(\.name)) == ["--resume", "--log-level", "--dry-run"])
        let retrain = try Self.declaredFlags(RetrainCommand.self)
        #expect(retrain.subtracting(RetrainOptions.flags.map(\.name)) == ["--resume", "--stop-after-epochs", "--dry-run"])
        let bench = try Self.declaredFlags(BenchCommand.self)
        #expect(bench.subtracting(BenchOptions.flags.map(\.name)) == ["--json", "--allreduce-timing", "--allreduce-floats"])
    }

    @Test func givenFlagsAreTheOnesOnTheCommandLine() throws {
        let parsed = try #require(try Search.parseAsRoot(["--layers", "5", "--lr=0.1", "--unrolled", "--data", "/d"]) as? Search)
        let given = givenFlags(of: parsed)
        #expect(Set(given.keys) == ["--layers", "--lr", "--second-order", "--data", "--log-level"])
        let options = SearchOptions().applying(given)
        #expect(options.layers == 5 && options.learningRate == 0.1 && options.secondOrder && options.data == "/d")
        var expected = options
        expected.layers = 8; expected.learningRate = 0.025; expected.secondOrder = false; expected.data = nil
        #expect(expected == SearchOptions(), "only the given flags change the defaults")
    }

    @Test func retrainFlagsOverrideThePreset() throws {
        let parsed = try #require(try RetrainCommand.parseAsRoot(["--preset", "fast", "--epochs", "3"]) as? RetrainCommand)
        let options = RetrainOptions.fromCommandLine(givenFlags(of: parsed))
        var expected = RetrainOptions(preset: .fast)
        expected.epochs = 3
        #expect(options == expected)
    }

    @Test func searchPresetSmallAndFlagsOverIt() throws {
        let parsed = try #require(try Search.parseAsRoot(["--preset", "small", "--epochs", "12"]) as? Search)
        let options = SearchOptions.fromCommandLine(givenFlags(of: parsed))
        #expect(options.preset == .small)
        #expect(options.subset == 16_000 && options.layers == 5 && options.channels == 8 && options.partialChannels == 1)
        #expect(options.warmupEpochs == 0 && options.archLearningRate == 3e-4 && options.maxParameterFree == nil)
        #expect(options.epochs == 12, "a given flag overrides the preset")
        let preset = SearchOptions.fromCommandLine(givenFlags(of: try #require(try Search.parseAsRoot(["--preset", "small"]) as? Search)))
        #expect(preset.epochs == 6 && preset.validateEvery == 6, "validated at the end only")
        #expect(!preset.validates(epoch: 4) && preset.validates(epoch: 5))
        #expect(options.validateEvery == 6 && options.validates(epoch: 5) && !options.validates(epoch: 6) && options.validates(epoch: 11))
        #expect(options.batchSize == 64 && options.learningRate == 0.025 && !options.secondOrder, "the rest stays the paper's")
        let plain = try #require(try Search.parseAsRoot([]) as? Search)
        var paper = SearchOptions.fromCommandLine(givenFlags(of: plain))
        #expect(paper.preset == .paper)
        paper.preset = nil
        #expect(paper == SearchOptions(), "no --preset: the paper's search")
    }

    @Test func retrainPresetFollowsTheDatasetUnlessGiven() throws {
        func options(_ arguments: [String]) throws -> RetrainOptions {
            RetrainOptions.fromCommandLine(givenFlags(of: try #require(try RetrainCommand.parseAsRoot(arguments) as? RetrainCommand)))
        }
        #expect(try options([]) == RetrainOptions(preset: .fast), "Fashion-MNIST (the default dataset): fast")
        #expect(try options(["--dataset", "mnist"]).preset == .fast)
        var cifar = RetrainOptions(preset: .paper)
        cifar.dataset = "cifar10"
        #expect(try options(["--dataset", "cifar10"]) == cifar)
        #expect(try options(["--preset", "paper"]).epochs == 600, "a given preset wins")
        #expect(try options(["--dataset", "cifar10", "--preset", "fast"]).channels == 8)
    }

    @Test func flagNamesFollowArgumentParser() {
        #expect(flagName(property: "batchSize") == "--batch-size")
        #expect(flagName(property: "lr") == "--lr")
        #expect(flagName(property: "archWeightDecay") == "--arch-weight-decay")
    }
}
