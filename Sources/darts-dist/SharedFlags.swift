import ArgumentParser
import Foundation
import Training

// The flags that several commands share, each declared once. A command's flags are read into its
// options type by name (`givenFlags(of:)`): a property `batchSize` is the flag --batch-size, the
// row of that name in the options type's `flags` table (SearchOptions, RetrainOptions, BenchOptions).
// Adding a flag: a field and its row in the options type, and its @Option here or in the command.

/// Where the images come from: `search` and `retrain`.
struct DataFlags: ParsableArguments {
    @Option(help: "fashion-mnist, mnist, cifar10, folder (DIR/train/CLASS/*.png|*.jpg, DIR/test/CLASS/...) or numpy (DIR/train_images.npy, ... or FILE.npz) (default: fashion-mnist).") var dataset: String?
    @Option(help: "The data folder (default: the dataset's, /usr/share/datasets/fashion-mnist for Fashion-MNIST).") var data: String?
    @Option(parsing: .unconditional, help: "Use only the first N training images (search --preset small: 16000).", transform: wholeNumber) var subset: Int?
    @Option(parsing: .unconditional, help: "--dataset folder or numpy: resize every image to S x S, bilinear (default: the images' own size, one for all, square).", transform: wholeNumber)
    var imageSize: Int?
}

/// The network's size: `search`, `retrain` and `bench`.
struct NetworkFlags: ParsableArguments {
    @Option(parsing: .unconditional, help: "Cells in the network (search and bench: 8, search --preset small 5; retrain: the preset's, paper 20, fast 5).", transform: wholeNumber) var layers: Int?
    @Option(parsing: .unconditional, help: "Initial channels C (search and bench: 16, search --preset small 8; retrain: paper 36, fast 8).", transform: wholeNumber) var channels: Int?
}

/// Changes to the search network and step: `search` and `bench`.
struct SearchSpaceFlags: ParsableArguments {
    @Option(parsing: .unconditional, help: "PC-DARTS partial channel connections (Xu et al., ICLR 2020): each edge's operations see 1/K of its channels, with edge normalization; K must divide --channels (default: 1, plain DARTS).", transform: wholeNumber)
    var partialChannels: Int?
    @Flag(help: "DARTS- auxiliary skip connection (Chu et al., ICLR 2021) on every edge, its weight decaying linearly from 1 to 0 over the search's steps.")
    var auxiliarySkip = false
}

/// How a step's batch is split: `search`, `retrain` and `bench`.
struct BatchFlags: ParsableArguments {
    @Option(parsing: .unconditional, help: "Global batch size, split over the ranks (search and bench: 64; retrain: paper 96, fast 64).", transform: wholeNumber)
    var batchSize: Int?
    @Option(parsing: .unconditional, help: "Gradient accumulation: each rank's shard in K micro-batches, a larger global batch on fewer ranks (default: 1).", transform: wholeNumber)
    var accumulate: Int?
}

/// The weights' SGD and its schedule: `search` and `retrain`.
struct WeightTrainingFlags: ParsableArguments {
    @Option(parsing: .unconditional, help: "Epochs (search: 50, --preset small 6; retrain: paper 600, fast 10).", transform: wholeNumber) var epochs: Int?
    @Option(parsing: .unconditional, help: "Weight learning rate, cosine-annealed (search: 0.025; retrain: paper 0.025, fast 0.05).", transform: finiteNumber) var lr: Float?
    @Option(parsing: .unconditional, help: "Final weight learning rate (search: 0.001; retrain: 0).", transform: finiteNumber) var lrMin: Float?
    @Option(parsing: .unconditional, help: "SGD momentum (default: 0.9).", transform: finiteNumber) var momentum: Float?
    @Option(parsing: .unconditional, help: "Weight decay of the weights (default: 3e-4).", transform: finiteNumber) var weightDecay: Float?
    @Option(parsing: .unconditional, help: "Clip the weight gradients to this global L2 norm (default: 5).", transform: finiteNumber) var gradClip: Float?
    @Option(parsing: .unconditional, help: "Random seed, the same on every rank (search: 2; retrain: 0).", transform: wholeNumber) var seed: UInt64?
}

/// The run folder and the progress lines: `search` and `retrain`.
struct RunFlags: ParsableArguments {
    @Option(help: "The run folder to create, never overwritten (search: runs/search; retrain: runs/retrain).") var out: String?
    @Option(parsing: .unconditional, help: "A progress line every N steps (search: 10; retrain: paper 50, fast 100).", transform: wholeNumber) var printEvery: Int?
    @Option(help: ArgumentHelp("Continue the stopped run in this run folder, with its saved options.", valueName: "run-dir"))
    var resume: String?
}

/// The value of a floating-point flag (Float or Double), as `transform:` of its `@Option`: a
/// finite number within the type's range. argument-parser reports a refusal with the value as
/// typed: "The value '1e40' is invalid for '--lr <lr>': 1e40 is outside the range of a 32-bit
/// float (...)".
/// - Throws: ``NumberFlagError`` for text that is not a number, `inf`, `nan`, a value that
///   overflows the type (1e40 for a Float) or a non-zero value that underflows to 0 (1e-50).
func finiteNumber<Value: BinaryFloatingPoint & LosslessStringConvertible>(_ text: String) throws -> Value {
    guard let value = Value(text) else { throw NumberFlagError.anotherFlag(text) ?? NumberFlagError("'\(text)' is not a number") }
    let bits = Value.significandBitCount == Float.significandBitCount ? "32-bit float" : "64-bit double"
    let name = text.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "+-"))
    if !value.isFinite {
        if name.hasPrefix("inf") || name.hasPrefix("nan") {
            throw NumberFlagError("\(text) is not a finite number; give a number such as 0.025")
        }
        throw NumberFlagError("\(text) is outside the range of a \(bits) (at most \(Value.greatestFiniteMagnitude) in magnitude)")
    }
    if value == 0, let wide = Double(text), wide != 0 {
        throw NumberFlagError("\(text) is too small for a \(bits): it would be 0 (the smallest is about \(Value.leastNonzeroMagnitude))")
    }
    return value + 0   // -0 becomes 0: a flag's value is compared as text on --resume ("-0.0" against "0.0")
}

/// The value of an integer flag, as `transform:` of its `@Option` (declared with `parsing:
/// .unconditional`, so that `--lr -1` reaches the options' range check as the number -1 rather than
/// failing as "Missing value"). argument-parser reports a refusal with the value as typed: "The
/// value '2.5' is invalid for '--epochs <epochs>': 2.5 is not a whole number".
/// - Throws: ``NumberFlagError`` for another flag where the value belongs (`--seed --epochs 3`),
///   text that is not a number, a fraction, a negative value for an unsigned flag, or a value
///   outside the type's range.
func wholeNumber<Value: FixedWidthInteger>(_ text: String) throws -> Value {
    if let value = Value(text) { return value }
    if let flag = NumberFlagError.anotherFlag(text) { throw flag }
    guard let number = Double(text), number.isFinite else { throw NumberFlagError("'\(text)' is not a whole number") }
    if number.rounded() != number { throw NumberFlagError("\(text) is not a whole number") }
    if !Value.isSigned, text.hasPrefix("-") { throw NumberFlagError("\(text) is negative; give 0 or more") }
    if text.contains(where: { "eE.".contains($0) }) { throw NumberFlagError("\(text): write it as a whole number, without a point or exponent") }
    throw NumberFlagError("\(text) is outside the range of a \(Value.bitWidth)-bit integer (\(Value.min) to \(Value.max))")
}

/// Why the text of a numeric flag was refused.
struct NumberFlagError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }

    /// The refusal of a value that is another flag (`--seed --epochs 3` gives --seed "--epochs"),
    /// nil for text that is not a flag (a negative number is not one).
    static func anotherFlag(_ text: String) -> NumberFlagError? {
        text.hasPrefix("-") && Double(text) == nil ? NumberFlagError("\(text) is another flag; give this flag a number first") : nil
    }
}

/// The parsed values of a command's arguments, by flag name.
protocol ParsedArgument {
    /// The value parsed, nil when the flag was not given (an optional option left out, or a
    /// Boolean flag left off).
    var parsedValue: Any? { get }
}

extension Option: ParsedArgument {
    var parsedValue: Any? { unwrapped(wrappedValue) }
}

extension Flag: ParsedArgument {
    var parsedValue: Any? {
        if let on = wrappedValue as? Bool { return on ? true : nil }
        return unwrapped(wrappedValue)
    }
}

/// The nested groups of a command (`@OptionGroup`).
protocol ParsedArgumentGroup {
    var group: Any { get }
}

extension OptionGroup: ParsedArgumentGroup {
    var group: Any { wrappedValue }
}

/// The flags given on the command line of `command` (a parsed `ParsableCommand` or
/// `ParsableArguments`), keyed by flag name ("--batch-size" for the property `batchSize`), with
/// their values; flags left out are absent. Option groups are read as if their flags were the
/// command's own.
func givenFlags(of command: Any) -> [String: Any] {
    var given: [String: Any] = [:]
    for (name, value) in declaredArguments(of: command) {
        if let value { given[name] = value }
    }
    return given
}

/// Every flag `command` declares, given or not, by name.
func allDeclaredFlags(of command: Any) -> [String] {
    declaredArguments(of: command).map(\.name)
}

/// The flags and their parsed values (nil when not given) of `command` and its option groups,
/// in declaration order.
private func declaredArguments(of command: Any) -> [(name: String, value: Any?)] {
    Mirror(reflecting: command).children.flatMap { child -> [(name: String, value: Any?)] in
        guard let label = child.label, label.hasPrefix("_") else { return [] }
        if let group = child.value as? ParsedArgumentGroup { return declaredArguments(of: group.group) }
        guard let argument = child.value as? ParsedArgument else { return [] }
        return [(flagName(property: String(label.dropFirst())), argument.parsedValue)]
    }
}

/// "--batch-size" for the property `batchSize`, as argument-parser names a long option.
func flagName(property: String) -> String {
    var name = "--"
    for character in property {
        if character.isUppercase {
            name += "-" + character.lowercased()
        } else {
            name.append(character)
        }
    }
    return name
}

/// The value an optional holds, nil for nil; other values as they are.
private func unwrapped(_ value: Any) -> Any? {
    let mirror = Mirror(reflecting: value)
    guard mirror.displayStyle == .optional else { return value }
    return mirror.children.first.map(\.value)
}
