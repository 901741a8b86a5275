import DARTS
import Datasets
import Foundation
import InputText
import NN

/// The largest networks a checkpoint or model file may describe: far above any DARTS network
/// (the paper's are C = 16 to 48 with 8 to 20 cells), so that a damaged or crafted file is
/// refused before anything of its size is allocated.
enum NetworkBounds {
    /// --channels (C of the first cells).
    static let channels = 4096
    /// --layers (cells).
    static let layers = 1000
    /// The stem's output channels are stemMultiplier x C (3 in DARTS).
    static let stemMultiplier = 16
    /// Classes of the classifier.
    static let classes = 100_000
    /// Input channels (1 grey, 3 colour) and image side, in pixels.
    static let inputChannels = 16
    static let imageSize = 4096
    /// Ranks a file may say wrote it.
    static let worldSize = 1 << 20

    /// Why `configuration` is out of bounds, nil when it is within them.
    static func problem(_ configuration: AugmentConfiguration) -> String? {
        let c = configuration
        let checks: [(Bool, String)] = [
            ((1...inputChannels).contains(c.inputChannels), "input channels \(c.inputChannels) outside 1...\(inputChannels)"),
            ((1...imageSize).contains(c.imageSize), "image size \(c.imageSize) outside 1...\(imageSize)"),
            ((2...channels).contains(c.channels) && c.channels % 2 == 0, "channels \(c.channels) not an even number in 2...\(channels)"),
            ((3...layers).contains(c.layers), "layers \(c.layers) outside 3...\(layers)"),
            ((1...classes).contains(c.classes), "classes \(c.classes) outside 1...\(classes)"),
            ((1...stemMultiplier).contains(c.stemMultiplier), "stem multiplier \(c.stemMultiplier) outside 1...\(stemMultiplier)"),
        ]
        return checks.first { !$0.0 }.map { "its network has \($0.1)" }
    }

    /// Why a search's --channels and --layers are out of bounds, nil when within them.
    static func problem(channels c: Int, layers l: Int) -> String? {
        if !(2...channels).contains(c) { return "its --channels \(c) is outside 2...\(channels)" }
        if !(3...layers).contains(l) { return "its --layers \(l) is outside 3...\(layers)" }
        return nil
    }
}

/// Why a checkpoint's recorded data checksum is not one darts-dist writes (``hexChecksum(_:)``:
/// 16 lowercase hexadecimal digits), nil when it is or is absent.
private func dataChecksumProblem(_ value: String?) -> String? {
    guard let value, UInt64(value, radix: 16).map(hexChecksum) != value else { return nil }
    return "its data checksum \(InputText.quote(value)) is not 16 lowercase hexadecimal digits"
}

/// Whether every value is finite and not negative.
private func finiteNonNegative(_ values: [Double]) -> Bool { values.allSatisfy { $0.isFinite && $0 >= 0 } }

extension Checkpoint.Manifest {
    /// Why the fields of a decoded search checkpoint do not describe a search that can go on,
    /// nil when they do: the options valid and the network within ``NetworkBounds``; world size
    /// and --accumulate positive and splitting the batch; the data sizes and steps per epoch
    /// positive; the position within the schedule (epoch in 0...epochs, step in epoch below the
    /// steps per epoch, the global step epoch x steps per epoch + step in epoch); the epoch sums
    /// and times finite; the sections exactly those the manifest's tensors and buffer copies need.
    /// Arithmetic on values from the file is overflow-checked.
    func problem(sections: [String: [Float]]) -> String? {
        guard (1...NetworkBounds.worldSize).contains(worldSize) else {
            return "world size \(worldSize) is outside 1...\(NetworkBounds.worldSize)"
        }
        if let problem = NetworkBounds.problem(channels: options.channels, layers: options.layers) { return problem }
        do { try options.validate(worldSize: worldSize) } catch { return "its options are invalid: \(error)" }
        if let problem = dataChecksumProblem(dataChecksum) { return problem }
        guard stepsPerEpoch >= 1, trainImages >= 1, valImages >= 1 else {
            return "its data sizes (\(trainImages) train, \(valImages) val images, \(stepsPerEpoch) steps per epoch) are not positive"
        }
        let p = progress
        guard (0...options.epochs).contains(p.epoch) else {
            return "its position, \(p.epoch) completed epochs, is outside the schedule of \(options.epochs) epochs"
        }
        guard (0..<stepsPerEpoch).contains(p.stepInEpoch), p.epoch < options.epochs || p.stepInEpoch == 0 else {
            return "its position, step \(p.stepInEpoch) of epoch \(p.epoch + 1), is outside the \(stepsPerEpoch) steps per epoch"
        }
        let (done, o2) = p.epoch.multipliedReportingOverflow(by: stepsPerEpoch)
        let (global, o3) = done.addingReportingOverflow(p.stepInEpoch)
        guard !o2, !o3, global == p.globalStep else {
            return "its global step \(p.globalStep) is not \(p.epoch) epochs x \(stepsPerEpoch) steps + \(p.stepInEpoch)"
        }
        guard p.epochSums.count == 4, finiteNonNegative([p.epochSums[1], p.epochSums[2], p.epochSeconds, p.stepSeconds]),
              p.epochSums.allSatisfy(\.isFinite), p.validationLoss.isFinite, (0...1).contains(p.validationAccuracy) else {
            return "its sums of the epoch in progress, times or validation results are not finite numbers of the right sign"
        }
        guard learningRate.isFinite, learningRate >= 0 else { return "its learning rate \(learningRate) is not a finite number" }
        guard adamStepCount >= 0 else { return "its Adam step count \(adamStepCount) is negative" }
        let buffers: [String]
        if bufferCopies == 1 {
            buffers = ["buffers"]
        } else if bufferCopies == worldSize, p.stepInEpoch > 0 {
            buffers = (0..<worldSize).map { "buffers.rank\($0)" }
        } else {
            return "it holds \(bufferCopies) copies of the batch-norm statistics; 1, or one per rank (\(worldSize)) in the middle of an epoch"
        }
        let expected = ["weights", "alphas", "sgd.momentum", "adam.m", "adam.v"] + buffers
        guard Set(sections.keys) == Set(expected), sections.count == expected.count else {
            return "its sections are \(sections.keys.sorted().prefix(10).map(GenotypeError.escaped).joined(separator: ", ")); expected "
                + expected.prefix(10).joined(separator: ", ") + (expected.count > 10 ? ", ..." : "")
        }
        let sizes: [(String, [ParameterArena.Entry], [String])] = [
            ("weight", weightEntries, ["weights", "sgd.momentum"]),
            ("alpha", alphaEntries, ["alphas", "adam.m", "adam.v"]),
            ("buffer", bufferEntries, buffers),
        ]
        for (arena, entries, names) in sizes {
            for name in names {
                if let problem = SectionFile.entriesProblem(entries, floats: sections[name]!.count, of: arena) {
                    return problem + " (section \(name))"
                }
            }
        }
        return nil
    }
}

extension RetrainCheckpoint.Manifest {
    /// Why the fields of a decoded retrain checkpoint do not describe a retrain that can go on,
    /// nil when they do: world size positive and the options valid for it, the network within
    /// ``NetworkBounds`` and built with the options' C and layers, the genotype valid, the
    /// completed epochs within the schedule with one history entry each, the steps the same in
    /// every epoch, the times finite, the sections those of the tensors listed.
    func problem(sections: [String: [Float]]) -> String? {
        guard (1...NetworkBounds.worldSize).contains(worldSize) else {
            return "world size \(worldSize) is outside 1...\(NetworkBounds.worldSize)"
        }
        if let problem = NetworkBounds.problem(configuration) { return problem }
        guard configuration.channels == options.channels, configuration.layers == options.layers else {
            return "its network (C=\(configuration.channels), \(configuration.layers) cells) is not the one its options "
                + "build (--channels \(options.channels), --layers \(options.layers))"
        }
        do { try options.validate(worldSize: worldSize) } catch { return "its options are invalid: \(error)" }
        do { try genotype.validate() } catch { return "its genotype is invalid: \(error)" }
        guard (0...options.epochs).contains(epoch) else {
            return "its position, \(epoch) completed epochs, is outside the schedule of \(options.epochs) epochs"
        }
        guard history.count == epoch else {
            return "it holds the metrics of \(history.count) epochs, but \(epoch) are completed"
        }
        guard epoch == 0 ? step == 0 : (step >= epoch && step % epoch == 0) else {
            return "its step \(step) is not a whole number of steps for each of its \(epoch) completed epochs"
        }
        guard finiteNonNegative([seconds, stepSeconds]) else { return "its times are not finite" }
        if let problem = dataChecksumProblem(dataChecksum) { return problem }
        guard Set(sections.keys) == ["weights", "buffers", "sgd.momentum"], sections.count == 3 else {
            return "its sections are \(sections.keys.sorted().prefix(10).map(GenotypeError.escaped).joined(separator: ", ")); expected weights, buffers, sgd.momentum"
        }
        for (arena, entries, name) in [("weight", weightEntries, "weights"), ("weight", weightEntries, "sgd.momentum"),
                                       ("buffer", bufferEntries, "buffers")] {
            if let problem = SectionFile.entriesProblem(entries, floats: sections[name]!.count, of: arena) {
                return problem + " (section \(name))"
            }
        }
        return nil
    }
}

extension SavedModel.Manifest {
    /// Why the fields of a decoded model do not describe a network that can be built, nil when
    /// they do: the network within ``NetworkBounds``, the genotype valid, the data set known,
    /// the epochs not negative, the sections those of the tensors listed.
    func problem(sections: [String: [Float]]) -> String? {
        if let problem = NetworkBounds.problem(configuration) { return problem }
        do { try genotype.validate() } catch { return "its genotype is invalid: \(error)" }
        guard DatasetKind(rawValue: dataset) != nil else {
            return "its data set \(GenotypeError.quote(dataset)) is not one of "
                + DatasetKind.allCases.map(\.rawValue).joined(separator: ", ")
        }
        guard epochs >= 0 else { return "its epochs \(epochs) are negative" }
        let c = configuration
        if let normalization {
            let (mean, std) = (normalization.mean, normalization.std)
            guard mean.count == c.inputChannels, std.count == c.inputChannels else {
                return "its normalization has \(mean.count) mean(s) and \(std.count) standard deviation(s) for \(c.inputChannels) input channel(s)"
            }
            guard mean.allSatisfy(\.isFinite), std.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                return "its normalization is not finite or has a standard deviation that is not positive"
            }
        }
        if let classNames, classNames.count != c.classes {
            return "it names \(classNames.count) class(es) for \(c.classes) outputs"
        }
        if let imageSize = options?.imageSize, imageSize != c.imageSize {
            return "its retrain options resize images to \(imageSize) pixels, but its network takes \(c.imageSize)"
        }
        guard Set(sections.keys) == ["weights", "buffers"], sections.count == 2 else {
            return "its sections are \(sections.keys.sorted().prefix(10).map(GenotypeError.escaped).joined(separator: ", ")); expected weights, buffers"
        }
        for (arena, entries, name) in [("weight", weightEntries, "weights"), ("buffer", bufferEntries, "buffers")] {
            if let problem = SectionFile.entriesProblem(entries, floats: sections[name]!.count, of: arena) {
                return problem + " (section \(name))"
            }
        }
        return nil
    }
}
