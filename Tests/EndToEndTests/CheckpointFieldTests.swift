import DARTS
import DartsTensor
import Foundation
import NN
import Testing
@testable import Training

/// Checkpoints and models whose checksum matches (it can be recomputed by anyone) but whose
/// fields do not describe a run that can go on: each is refused as damaged, naming the field,
/// before any value of it is used.
@Suite struct CheckpointFieldTests {
    /// `data` (a section file) with its manifest edited by `edit` and the checksum recomputed.
    static func tampered(_ data: Data, _ edit: (inout [String: Any]) -> Void) throws -> Data {
        let length = Int(data[8..<16].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian)
        var manifest = try #require(try JSONSerialization.jsonObject(with: data[16..<(16 + length)]) as? [String: Any])
        edit(&manifest)
        let json = try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys])
        var out = Data(data.prefix(8))
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        out.append(data[(16 + length)..<(data.count - 8)])
        return resealed(out)
    }

    /// `body` followed by its FNV-1a checksum, as the writers end a file.
    static func resealed(_ body: Data) -> Data {
        var out = body
        withUnsafeBytes(of: fnv1a(body).littleEndian) { out.append(contentsOf: $0) }
        return out
    }

    /// The search checkpoint of CheckpointFileTests (epoch 2/50, step 2/4 on 2 ranks).
    static func search() throws -> Data {
        try CheckpointFileTests.checkpoint(CheckpointFileTests.state()).encoded()
    }

    /// The reason `Checkpoint(data:)` gives for `data`, which must be a ``CheckpointError/corrupt(_:_:)``.
    static func damage(_ data: Data) -> String {
        do {
            _ = try Checkpoint(data: data, path: "step.ckpt")
            return "accepted"
        } catch CheckpointError.corrupt(_, let why) {
            return why
        } catch {
            return "not corrupt: \(error)"
        }
    }

    static func progress(_ edit: @escaping (inout [String: Any]) -> Void) -> (inout [String: Any]) -> Void {
        { manifest in
            var progress = manifest["progress"] as! [String: Any]
            edit(&progress)
            manifest["progress"] = progress
        }
    }

    static func options(_ key: String, _ value: Any) -> (inout [String: Any]) -> Void {
        { manifest in
            var options = manifest["options"] as! [String: Any]
            options[key] = value
            manifest["options"] = options
        }
    }

    @Test func theUntamperedFixtureIsAccepted() throws {
        #expect(Self.damage(try Self.tampered(Self.search()) { _ in }) == "accepted")
    }

    @Test(arguments: [
        (51, 2, 206, "its position, 51 completed epochs, is outside the schedule of 50 epochs"),
        (-1, 2, -2, "its position, -1 completed epochs, is outside the schedule of 50 epochs"),
        (1, 4, 8, "its position, step 4 of epoch 2, is outside the 4 steps per epoch"),
        (1, -3, 1, "its position, step -3 of epoch 2, is outside the 4 steps per epoch"),
        (1, 2, 7, "its global step 7 is not 1 epochs x 4 steps + 2"),
        (50, 2, 202, "its position, step 2 of epoch 51, is outside the 4 steps per epoch"),
    ])
    func aPositionOutsideTheScheduleIsDamage(epoch: Int, step: Int, global: Int, why: String) throws {
        let data = try Self.tampered(Self.search(), Self.progress {
            $0["epoch"] = epoch
            $0["stepInEpoch"] = step
            $0["globalStep"] = global
        })
        #expect(Self.damage(data) == why)
    }

    @Test func worldSizeAndAccumulateMustBePositiveAndSplitTheBatch() throws {
        for worldSize in [-1, 0, 1 << 40] {
            let data = try Self.tampered(Self.search()) { $0["worldSize"] = worldSize }
            #expect(Self.damage(data).hasPrefix("world size \(worldSize) is outside 1...1048576"))
        }
        let zero = try Self.tampered(Self.search(), Self.options("accumulate", 0))
        #expect(Self.damage(zero) == "its options are invalid: --accumulate 0 must be at least 1")
        let huge = try Self.tampered(Self.search(), Self.options("accumulate", 4_611_686_018_427_387_904))
        #expect(Self.damage(huge).contains("splits the batch of 64 into more micro-batches than it has images"))
    }

    @Test func networkDimensionsAreBounded() throws {
        let wide = try Self.tampered(Self.search(), Self.options("channels", 100_000))
        #expect(Self.damage(wide) == "its --channels 100000 is outside 2...4096")
        let deep = try Self.tampered(Self.search(), Self.options("layers", 1_000_000))
        #expect(Self.damage(deep) == "its --layers 1000000 is outside 3...1000")
    }

    @Test func bufferCopiesSumsAndDataSizesAreChecked() throws {
        let copies = try Self.tampered(Self.search()) { $0["bufferCopies"] = 3 }
        #expect(Self.damage(copies).hasPrefix("it holds 3 copies of the batch-norm statistics"))
        let sums = try Self.tampered(Self.search(), Self.progress { $0["epochSums"] = [1.0, 2.0] })
        #expect(Self.damage(sums).hasPrefix("its sums of the epoch in progress"))
        let steps = try Self.tampered(Self.search()) { $0["stepsPerEpoch"] = 0 }
        #expect(Self.damage(steps).hasSuffix("are not positive"))
        let accuracy = try Self.tampered(Self.search(), Self.progress { $0["validationAccuracy"] = 3.5 })
        #expect(Self.damage(accuracy).hasPrefix("its sums of the epoch in progress, times or validation results"))
    }

    @Test func aDataChecksumIsSixteenLowercaseHexDigitsOrAbsent() throws {
        for good in ["00c3f2a91b7e4d60", "ffffffffffffffff"] {
            #expect(Self.damage(try Self.tampered(Self.search()) { $0["dataChecksum"] = good }) == "accepted")
        }
        for bad in ["00C3F2A91B7E4D60", "c3f2a91b7e4d60", "+0c3f2a91b7e4d60", "00c3f2a91b7e4d6g", "0\u{FF10}c3f2a91b7e4d", ""] {
            let why = Self.damage(try Self.tampered(Self.search()) { $0["dataChecksum"] = bad })
            #expect(why.hasPrefix("its data checksum '") && why.hasSuffix("' is not 16 lowercase hexadecimal digits"), "\(bad): \(why)")
        }
    }

    @Test func sectionLengthsThatOverflowOrDisagreeWithTheTensorsAreDamage() throws {
        let overflow = try Self.tampered(Self.search()) { manifest in
            var sections = manifest["sections"] as! [[String: Any]]
            sections[0]["count"] = 4_611_686_018_427_387_904
            manifest["sections"] = sections
        }
        #expect(Self.damage(overflow) == "section weights truncated")
        let shape = try Self.tampered(Self.search()) { manifest in
            var entries = manifest["weightEntries"] as! [[String: Any]]
            entries[0]["shape"] = [4_611_686_018_427_387_904, 4]
            manifest["weightEntries"] = entries
        }
        #expect(Self.damage(shape).contains("has the shape [4611686018427387904, 4]"))
        let offset = try Self.tampered(Self.search()) { manifest in
            var entries = manifest["alphaEntries"] as! [[String: Any]]
            entries[1]["offset"] = -5
            manifest["alphaEntries"] = entries
        }
        #expect(Self.damage(offset).contains("is not where the tensors before it end"))
    }

    @Test func aManifestLengthBeyondTheFileIsDamageNotACrash() throws {
        var body = Data(try Self.search().dropLast(8))
        for length in [UInt64(1) << 63 + 1, UInt64.max, UInt64(body.count)] {
            withUnsafeBytes(of: length.littleEndian) { body.replaceSubrange(8..<16, with: $0) }
            #expect(Self.damage(Self.resealed(body)) == "manifest length out of range")
        }
    }

    @Test func aResumeFromAFieldDamagedCheckpointListsTheEarlierIntactOnes() throws {
        let folder = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let checkpoints = folder.appendingPathComponent("checkpoints")
        try FileManager.default.createDirectory(at: checkpoints, withIntermediateDirectories: true)
        let options = SearchOptions()
        let config: [String: Any] = [
            "options": try JSONSerialization.jsonObject(with: JSONEncoder().encode(options)),
            "worldSize": 2,
        ]
        try JSONSerialization.data(withJSONObject: config).write(to: folder.appendingPathComponent("config.json"))
        try Self.search().write(to: checkpoints.appendingPathComponent("step_00000006.ckpt"))
        try Self.tampered(Self.search(), Self.progress {
            $0["epoch"] = 5000
            $0["globalStep"] = 20002
        }).write(to: checkpoints.appendingPathComponent("step_00000008.ckpt"))
        let error = #expect(throws: SearchError.self) {
            try ResumeState.locate(ResumeRequest(path: folder.path, given: options, givenFlags: []))
        }
        let message = "\(error.map { "\($0)" } ?? "")"
        #expect(message.contains("step_00000008.ckpt is damaged: its position, 5000 completed epochs, is outside the schedule"))
        #expect(message.contains("earlier intact checkpoints, newest first: \(checkpoints.path)/step_00000006.ckpt (epoch 2/50, step 2/4)"))
        #expect(message.hasSuffix("Nothing was changed"))
    }

    // MARK: Retrain checkpoints and saved models

    static func retrain() throws -> Data {
        let network = try RetrainFilesTests.tinyNetwork()
        let weights = ParameterArena(network.namedParameters())
        let buffers = ParameterArena(network.namedBuffers(), keepsGradients: false)
        var options = RetrainOptions()
        options.channels = 4
        options.layers = 3
        let record = RetrainEpochMetrics(epoch: 0, learningRate: 0.1, dropPathProbability: 0, trainLoss: 2, trainAccuracy: 0.2,
                                         testLoss: 1.5, testTop1: 0.4, testTop5: 0.9, seconds: 1, evaluationSeconds: 0.5,
                                         steps: 10, imagesPerSecond: 100)
        return try RetrainCheckpoint(options: options, genotype: .dartsV2, configuration: network.configuration, worldSize: 1,
                                     epoch: 2, step: 20, seconds: 3, stepSeconds: 2, history: [record, record],
                                     weights: weights, buffers: buffers, optimizer: SGD(arena: weights, learningRate: 0.1)).encoded()
    }

    static func model() throws -> Data {
        let network = try RetrainFilesTests.tinyNetwork()
        let saved = SavedModel(network: network, weights: ParameterArena(network.namedParameters()),
                               buffers: ParameterArena(network.namedBuffers(), keepsGradients: false), dataset: "fashion-mnist",
                               dataFolder: "/data", options: nil, epochs: 2, testTop1: 0.5, testTop5: 0.9)
        return try SectionFile.encode(magic: SavedModel.magic, manifest: saved.manifest, order: saved.manifest.sections,
                                      sections: saved.sections)
    }

    /// The reason a retrain checkpoint or model decoder gives, which must be "damaged".
    static func sectionDamage(_ decode: () throws -> Void) -> String {
        do {
            try decode()
            return "accepted"
        } catch SectionFileError.corrupt(_, _, let why) {
            return why
        } catch {
            return "not corrupt: \(error)"
        }
    }

    @Test func aRetrainCheckpointsEpochHistoryAndStepMustAgree() throws {
        func damage(_ edit: (inout [String: Any]) -> Void) throws -> String {
            let data = try Self.tampered(Self.retrain(), edit)
            return Self.sectionDamage { _ = try RetrainCheckpoint(data: data, path: "checkpoint.ckpt") }
        }
        #expect(try damage { _ in } == "accepted")
        #expect(try damage { $0["epoch"] = 3; $0["step"] = 30 } == "it holds the metrics of 2 epochs, but 3 are completed")
        #expect(try damage { $0["epoch"] = -1 } == "its position, -1 completed epochs, is outside the schedule of 600 epochs")
        #expect(try damage { $0["step"] = 21 } == "its step 21 is not a whole number of steps for each of its 2 completed epochs")
        #expect(try damage { $0["worldSize"] = -1 } == "world size -1 is outside 1...1048576")
        #expect(try damage { manifest in
            var configuration = manifest["configuration"] as! [String: Any]
            configuration["stemMultiplier"] = 1000
            manifest["configuration"] = configuration
        } == "its network has stem multiplier 1000 outside 1...16")
        #expect(try damage { $0["dataChecksum"] = "00c3f2a91b7e4d60" } == "accepted")
        #expect(try damage { $0["dataChecksum"] = "00C3F2A91B7E4D60" } == "its data checksum '00C3F2A91B7E4D60' is not 16 lowercase hexadecimal digits")
    }

    @Test func aModelsNetworkDimensionsGenotypeAndDataSetAreChecked() throws {
        func damage(_ edit: (inout [String: Any]) -> Void) throws -> String {
            let data = try Self.tampered(Self.model(), edit)
            return Self.sectionDamage { _ = try SavedModel(data: data, path: "model.bin") }
        }
        #expect(try damage { _ in } == "accepted")
        #expect(try damage { manifest in
            var configuration = manifest["configuration"] as! [String: Any]
            configuration["channels"] = 100_000
            manifest["configuration"] = configuration
        } == "its network has channels 100000 not an even number in 2...4096")
        #expect(try damage { $0["dataset"] = "cifar100" }.hasPrefix("its data set 'cifar100' is not one of"))
        #expect(try damage { manifest in
            var genotype = manifest["genotype"] as! [String: Any]
            genotype["normal_concat"] = [2, 3]
            manifest["genotype"] = genotype
        }.hasPrefix("its genotype is invalid: normal_concat is [2, 3]"))
        // The fields an own-data model adds, indexed per channel and class when it is used.
        #expect(try damage { $0["normalization"] = ["mean": [0.5, 0.5], "std": [0.25, 0.25]] }
                == "its normalization has 2 mean(s) and 2 standard deviation(s) for 1 input channel(s)")
        #expect(try damage { $0["normalization"] = ["mean": [0.5], "std": [0]] }
                == "its normalization is not finite or has a standard deviation that is not positive")
        #expect(try damage { $0["normalization"] = ["mean": [0.5], "std": [0.25]] } == "accepted")
        #expect(try damage { $0["classNames"] = ["a", "b"] } == "it names 2 class(es) for 10 outputs")
    }

    @Test func aFileOfAnotherKindIsNamedForWhatItIsNotCalledDamaged() throws {
        let folder = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let checkpoint = folder.appendingPathComponent("step_00000006.ckpt")
        try Self.search().write(to: checkpoint)
        let error = #expect(throws: SectionFileError.self) { try SavedModel(path: checkpoint.path) }
        let message = error.map { "\($0)" } ?? ""
        #expect(message.hasPrefix("\(checkpoint.path): it is a search checkpoint, not a saved model: it holds a search network"))
        #expect(message.contains("darts-dist retrain --genotype RUN_DIR --out NEW_DIR"))
        #expect(!message.contains("damaged"))

        let retrain = #expect(throws: SectionFileError.self) { try SavedModel(data: Self.retrain(), path: "checkpoint.ckpt") }
        #expect(retrain.map { "\($0)" }?.contains("it is a retrain checkpoint, not a saved model") == true)
        let model = #expect(throws: CheckpointError.self) { try Checkpoint(data: Self.model(), path: "model.bin") }
        #expect(model.map { "\($0)" } == "model.bin: it is a saved model (model.bin), not a search checkpoint: "
            + "evaluate it with darts-dist evaluate --model FILE")
    }

    @Test func aFileDartsDistDidNotWriteIsNamedSoAndATruncatedHeaderIsDamaged() throws {
        let text = Data("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], normal_concat=[2, 3, 4, 5])\n".utf8)
        let model = #expect(throws: SectionFileError.self) { try SavedModel(data: text, path: "v2.txt") }
        #expect(model.map { "\($0)" } == "v2.txt: not a darts-dist saved model: it does not begin as every file darts-dist writes "
            + "does (a file of another kind, or one damaged at its start); give the model.bin of a finished retrain, or its run folder")
        let checkpoint = #expect(throws: SectionFileError.self) { try RetrainCheckpoint(data: text, path: "checkpoint.ckpt") }
        #expect(checkpoint.map { "\($0)" }?.hasSuffix("give the run folder of a retrain that completed an epoch") == true)
        let truncated = #expect(throws: SectionFileError.self) { try SavedModel(data: Self.model().prefix(12), path: "model.bin") }
        #expect(truncated.map { "\($0)" } == "saved model model.bin is damaged: it ends after 12 bytes, inside its header (truncated)")
    }

    @Test func aFIFOGivenAsAModelIsRefusedWithoutReadingIt() throws {
        let folder = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let fifo = folder.appendingPathComponent("model.bin").path
        #expect(mkfifo(fifo, 0o644) == 0)
        let error = #expect(throws: SectionFileError.self) { try SavedModel(path: fifo) }
        #expect(error.map { "\($0)" } == "cannot read saved model \(fifo): it is a FIFO, not a file")
    }

    @Test func aFIFOInARunFolderIsRefusedWithoutReadingIt() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let run = tmp.appendingPathComponent("retrain")
        try RetrainCommandTests.smallRetrain(run, finished: false)
        for name in ["checkpoint.ckpt", "metrics.jsonl"] {
            let file = run.appendingPathComponent(name)
            try FileManager.default.removeItem(at: file)
            #expect(mkfifo(file.path, 0o644) == 0)
        }
        // Each would block for ever on open(2) or read(2) of the FIFO.
        let resumed = try CommandRunner.run(["retrain", "--resume", run.path], timeout: 120)
        #expect(resumed.status == 1 && resumed.stderr.contains("checkpoint.ckpt: it is a FIFO, not a file"), "\(resumed.all)")
        // pictures draws what it can read (the cells) and says why the curves are missing.
        let pictures = try CommandRunner.run(["pictures", run.path], timeout: 120)
        #expect(pictures.status == 0 && pictures.stderr.contains(
            "no loss and accuracy curves: cannot read \(run.path)/metrics.jsonl: it is a FIFO, not a file"), "\(pictures.all)")
    }
}
