import ArgumentParser
import Testing
import Training
@testable import darts_dist

/// Every numeric flag of every command refuses `inf`, `nan` and values outside its type's range
/// when the command line is parsed, before anything is read or written, with the value as typed.
@Suite struct NumberFlagTests {
    /// Texts no numeric flag may take, each given as `--flag=TEXT` (so that "-inf" is a value).
    static let nonFinite = ["inf", "-inf", "+inf", "infinity", "Inf", "nan", "NaN", "-nan"]

    /// The message argument-parser prints for `arguments`, nil when they parse.
    static func refusal<Command: ParsableCommand>(_ command: Command.Type, _ arguments: [String]) -> String? {
        do {
            _ = try Command.parseAsRoot(arguments)
            return nil
        } catch {
            return Command.message(for: error)
        }
    }

    /// Walks the numeric rows of `Options.flags` on `command` and expects every non-finite text
    /// refused with a message that quotes it; returns the number of rows walked.
    static func walk<Command: ParsableCommand, Options: CommandLineOptions>(
        _ command: Command.Type, _ options: Options.Type, before: [String] = []) -> Int {
        var rows = 0
        for row in Options.flags where row.isNumber {
            rows += 1
            for text in nonFinite {
                let message = refusal(command, before + ["\(row.name)=\(text)"])
                #expect(message != nil, "\(Command.self) accepted \(row.name)=\(text)")
                #expect(message?.contains("'\(text)'") == true, "\(row.name)=\(text): \(message ?? "")")
            }
        }
        return rows
    }

    @Test func everyNumericSearchFlagRefusesInfAndNaN() {
        // --layers --channels --batch-size --epochs --lr --lr-min --momentum --weight-decay --arch-lr
        // --arch-weight-decay --grad-clip --train-portion --subset --seed --warmup-epochs
        // --arch-regularization-weight --max-parameter-free --max-parameter-free-reduce --partial-channels
        // --print-every --accumulate --check-every --validate-every --checkpoint-every --keep-checkpoints --image-size
        #expect(Self.walk(Search.self, SearchOptions.self) == 26)
    }

    @Test func everyNumericRetrainFlagRefusesInfAndNaN() {
        // --layers --channels --batch-size --epochs --lr --lr-min --momentum --weight-decay --aux-weight
        // --drop-path-prob --cutout --crop-padding --grad-clip --label-smoothing --seed --subset --test-subset
        // --print-every --accumulate --image-size
        #expect(Self.walk(RetrainCommand.self, RetrainOptions.self) == 20)
    }

    /// `-0` reads as 0, so that a run started with `--label-smoothing -0` resumes with `0` (flags are
    /// compared as text: "-0.0" against "0.0").
    @Test func negativeZeroReadsAsZero() throws {
        let command = try RetrainCommand.parseAsRoot(["--label-smoothing=-0", "--lr-min=-0"]) as! RetrainCommand
        #expect(command.labelSmoothing?.sign == .plus && command.labelSmoothing == 0)
        let options = RetrainOptions.fromCommandLine(givenFlags(of: command))
        #expect(options.flagValues.first { $0.flag == "--label-smoothing" }?.value == "0.0")
        #expect(options.flagValues.first { $0.flag == "--lr-min" }?.value == "0.0")
    }

    @Test func everyNumericBenchFlagRefusesInfAndNaN() {
        #expect(Self.walk(BenchCommand.self, BenchOptions.self) == 9)
    }

    @Test func theNumericFlagsOfEvaluateAndGenotypeRefuseInfAndNaN() {
        for text in Self.nonFinite {
            for flag in ["--batch-size", "--test-subset"] {
                let message = Self.refusal(EvaluateCommand.self, ["--model", "m.bin", "\(flag)=\(text)"])
                #expect(message?.contains("'\(text)'") == true, "evaluate \(flag)=\(text): \(message ?? "accepted")")
            }
            let seed = Self.refusal(GenotypeCommand.self, ["--random", "--seed=\(text)"])
            #expect(seed?.contains("'\(text)'") == true, "genotype --seed=\(text): \(seed ?? "accepted")")
            let cap = Self.refusal(GenotypeCommand.self, ["runs/x", "--max-parameter-free=\(text)"])
            #expect(cap?.contains("'\(text)'") == true, "genotype --max-parameter-free=\(text): \(cap ?? "accepted")")
            let reduceCap = Self.refusal(GenotypeCommand.self, ["runs/x", "--max-parameter-free-reduce=\(text)"])
            #expect(reduceCap?.contains("'\(text)'") == true, "genotype --max-parameter-free-reduce=\(text): \(reduceCap ?? "accepted")")
        }
        #expect(Self.refusal(BenchCommand.self, ["--allreduce-timing", "--allreduce-floats", "inf"])?.contains("'inf'") == true)
    }

    @Test func theHiddenAllreduceTimingBoundsItsSizesAndSteps() {
        let huge = Self.refusal(BenchCommand.self, ["--allreduce-timing", "--allreduce-floats", "1024", "4611686018427387904"])
        #expect(huge?.contains("--allreduce-floats 4611686018427387904: each size must be from 1 to 268435456 floats (1 GiB)") == true,
                "\(huge ?? "accepted")")
        let negative = Self.refusal(BenchCommand.self, ["--allreduce-timing", "--allreduce-floats", "1024", "0"])
        #expect(negative?.contains("--allreduce-floats 0: each size must be from 1") == true, "\(negative ?? "accepted")")
        let steps = Self.refusal(BenchCommand.self, ["--allreduce-timing", "--steps", "922337203685477580"])
        #expect(steps?.contains("--steps 922337203685477580 with --allreduce-timing must be from 1 to 100000") == true,
                "\(steps ?? "accepted")")
        #expect(Self.refusal(BenchCommand.self, ["--allreduce-timing", "--allreduce-floats", "1024", "268435456"]) == nil)
    }

    @Test func aValueOutsideFloat32IsReportedAsTypedNotAsInf() throws {
        let large = try #require(Self.refusal(Search.self, ["--lr", "1e40"]))
        #expect(large.contains("'1e40'") && large.contains("1e40 is outside the range of a 32-bit float"), "\(large)")
        #expect(!large.contains("inf"), "\(large)")
        let small = try #require(Self.refusal(RetrainCommand.self, ["--weight-decay", "1e-50"]))
        #expect(small.contains("1e-50 is too small for a 32-bit float: it would be 0"), "\(small)")
        let double = try #require(Self.refusal(Search.self, ["--train-portion", "1e400"]))
        #expect(double.contains("1e400 is outside the range of a 64-bit double"), "\(double)")
        let word = try #require(Self.refusal(Search.self, ["--grad-clip", "five"]))
        #expect(word.contains("'five' is not a number"), "\(word)")
    }

    @Test func integerFlagsSayWhyAValueIsNotAWholeNumber() throws {
        let fraction = try #require(Self.refusal(Search.self, ["--epochs", "2.5"]))
        #expect(fraction.contains("'2.5'") && fraction.contains("2.5 is not a whole number"), "\(fraction)")
        let exponent = try #require(Self.refusal(RetrainCommand.self, ["--genotype", "DARTS_V2", "--batch-size", "1e3"]))
        #expect(exponent.contains("1e3: write it as a whole number, without a point or exponent"), "\(exponent)")
        let seed = try #require(Self.refusal(Search.self, ["--seed=-1"]))
        #expect(seed.contains("'-1'") && seed.contains("-1 is negative; give 0 or more"), "\(seed)")
        let huge = try #require(Self.refusal(Search.self, ["--layers", "99999999999999999999"]))
        #expect(huge.contains("outside the range of a 64-bit integer"), "\(huge)")
        let word = try #require(Self.refusal(EvaluateCommand.self, ["--model", "m.bin", "--batch-size", "many"]))
        #expect(word.contains("'many' is not a whole number"), "\(word)")
    }

    @Test func aNegativeNumberAfterAFlagIsItsValueNotAMissingValue() throws {
        let parsed = try #require(try Search.parseAsRoot(["--lr", "-1", "--subset", "-2"]) as? Search)
        let options = SearchOptions().applying(givenFlags(of: parsed))
        #expect(options.learningRate == -1 && options.subset == -2)
        let error = #expect(throws: SearchError.self) { try options.validate(worldSize: 1) }
        #expect(error.map { "\($0)" }?.contains("--lr -1.0 must be positive") == true, "\(String(describing: error))")
        let flag = try #require(Self.refusal(Search.self, ["--seed", "--epochs", "3"]))
        #expect(flag.contains("--epochs is another flag; give this flag a number first"), "\(flag)")
        let floatFlag = try #require(Self.refusal(RetrainCommand.self, ["--genotype", "DARTS_V2", "--lr", "--epochs", "3"]))
        #expect(floatFlag.contains("--epochs is another flag"), "\(floatFlag)")
    }

    @Test func finiteValuesStillParseToTheirNumbers() throws {
        let parsed = try #require(try Search.parseAsRoot(["--lr", "3e38", "--weight-decay", "1e-40", "--train-portion=0.25",
                                                           "--arch-lr=-0"]) as? Search)
        let options = SearchOptions().applying(givenFlags(of: parsed))
        #expect(options.learningRate == 3e38 && options.weightDecay == Float("1e-40")! && options.trainPortion == 0.25)
        #expect(options.archLearningRate == 0)
    }

    @Test func theRowsThatAreNotNumbersAreTheTextAndSwitchFlags() {
        #expect(Set(SearchOptions.flags.filter { !$0.isNumber }.map(\.name))
                == ["--preset", "--dataset", "--data", "--second-order", "--recompute", "--arch-regularization", "--auxiliary-skip", "--out"])
        #expect(Set(RetrainOptions.flags.filter { !$0.isNumber }.map(\.name)) == ["--genotype", "--preset", "--dataset", "--data", "--out"])
        #expect(Set(BenchOptions.flags.filter { !$0.isNumber }.map(\.name)) == ["--order", "--recompute", "--auxiliary-skip"])
    }
}
