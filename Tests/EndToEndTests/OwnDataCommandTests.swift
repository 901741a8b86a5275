import DARTS
import DartsTensor
import Datasets
import Foundation
import NN
import Testing
import TestSupport
@testable import Training

/// `--dataset folder` and `--dataset numpy` from the command line: search, retrain, evaluate and
/// export on a small PNG folder, and every bad input of own data and of export refused with the
/// file named, a non-zero exit and nothing written (``BadInputTests/expectRefused``).
@Suite(.serialized) struct OwnDataCommandTests {
    static let classes = ["cat", "dog", "eel"]

    /// A PNG folder of `size` x `size` images at tmp/images.
    static func imageFolder(_ tmp: URL, size: Int = 8, channels: Int = 1, train: Int = 48, test: Int = 12) throws -> URL {
        let root = tmp.appendingPathComponent("images")
        try OwnDataSamples.writeImageFolder(at: root, classes: classes, train: train, test: test, size: size, channels: channels)
        return root
    }

    static func retrain(_ tmp: URL, data: URL, dataset: String = "folder", genotype: String = "DARTS_V2",
                        _ extra: [String] = []) -> [String] {
        ["retrain", "--genotype", genotype, "--dataset", dataset, "--data", data.path, "--preset", "fast", "--layers", "3", "--channels", "4",
         "--batch-size", "8", "--epochs", "1", "--out", tmp.appendingPathComponent("retrain").path] + extra
    }

    @Test func searchRetrainEvaluateAndExportOnAnImageFolder() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let data = try Self.imageFolder(tmp, size: 12, channels: 3)
        let search = try CommandRunner.run(BadInputTests.search(tmp, data: data, ["--dataset", "folder", "--image-size", "8"]), ranks: 2)
        try #require(search.status == 0, "\(search.all)")
        #expect(search.stdout.contains("folder 3x8x8, 24 train / 24 val images"))
        let searchConfig = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: tmp.appendingPathComponent("run/config.json"))) as? [String: Any])
        #expect(searchConfig["classNames"] as? [String] == Self.classes)
        let out = tmp.appendingPathComponent("retrain")
        let retrain = try CommandRunner.run(Self.retrain(tmp, data: data, genotype: tmp.appendingPathComponent("run").path,
                                                           ["--image-size", "8"]))
        try #require(retrain.status == 0, "\(retrain.all)")
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("config.json"))) as? [String: Any])
        #expect(config["classNames"] as? [String] == Self.classes)
        let normalization = try #require(config["normalization"] as? [String: [Double]])
        #expect(normalization["mean"]?.count == 3 && normalization["std"]?.count == 3)
        let result = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("result.json"))) as? [String: Any])
        #expect(result["classNames"] as? [String] == Self.classes)
        let model = try SavedModel(path: out.path)
        #expect(model.manifest.classNames == Self.classes)
        #expect(model.manifest.normalization?.mean.map(Double.init) == normalization["mean"]!.map { Double(Float($0)) })

        let evaluate = try CommandRunner.run(["evaluate", "--model", out.path, "--save-logits", tmp.appendingPathComponent("logits").path])
        try #require(evaluate.status == 0, "\(evaluate.all)")
        for name in Self.classes { #expect(evaluate.stdout.contains(" \(name) "), "\(evaluate.stdout)") }
        #expect(evaluate.stdout.contains("12 images"))
        let logits = try NPYFile.decode([UInt8](try Data(contentsOf: tmp.appendingPathComponent("logits/logits.npy"))), path: "logits.npy")
        #expect(logits.shape == [12, 3])
        let images = try NPYFile.decode([UInt8](try Data(contentsOf: tmp.appendingPathComponent("logits/images.npy"))), path: "images.npy")
        #expect(images.shape == [12, 3, 8, 8])

        for format in ["safetensors", "onnx"] {
            let file = tmp.appendingPathComponent("model.\(format)").path
            let export = try CommandRunner.run(["export", "--model", out.path, "--format", format, "--out", file])
            try #require(export.status == 0, "\(export.all)")
            #expect(export.stdout.contains("wrote \(file): \(format)"))
            #expect(export.stdout.contains("cat, dog, eel"))
        }
    }

    /// A retrain's checkpoint records a checksum of its images and labels: a resume on files that
    /// changed in place (one training image moved to another class) is refused, and changes nothing.
    @Test func aRetrainResumedOnChangedFilesIsRefused() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let data = try Self.imageFolder(tmp)
        let first = try CommandRunner.run(Self.retrain(tmp, data: data, ["--image-size", "8", "--epochs", "2", "--stop-after-epochs", "1"]))
        try #require(first.status == 0, "\(first.all)")
        let out = tmp.appendingPathComponent("retrain")
        let manifest = try RetrainCheckpoint(contentsOf: out.appendingPathComponent(RetrainCheckpoint.fileName)).manifest
        let recorded = try #require(manifest.dataChecksum)
        let cat = data.appendingPathComponent("train/cat")
        let moved = try #require(try FileManager.default.contentsOfDirectory(atPath: cat.path).sorted().first)
        try FileManager.default.moveItem(at: cat.appendingPathComponent(moved), to: data.appendingPathComponent("train/dog/moved.png"))
        let before = FolderSnapshot(out)
        let resumed = try CommandRunner.run(["retrain", "--resume", out.path])
        #expect(resumed.status != 0, "\(resumed.all)")
        #expect(resumed.stderr.contains("the data in \(data.path) are not the images and labels the retrain read (checksum "), "\(resumed.all)")
        #expect(resumed.stderr.contains(", the retrain's \(recorded); files another darts-dist version decodes differently count as "
                                        + "other): restore the files it read, or start a new retrain with another --out"), "\(resumed.all)")
        #expect(before.changes(to: FolderSnapshot(out)).isEmpty)
    }

    @Test func aNumpyFolderAndAnNpzRetrainTheSameWeights() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let arrays = OwnDataSamples.numpyArrays(train: 24, test: 6, size: 8, channels: 1, classes: 3)
        try OwnDataSamples.writeNumpyFolder(arrays, to: tmp.appendingPathComponent("npy"))
        try OwnDataSamples.writeNPZ(arrays, to: tmp.appendingPathComponent("data.npz"))
        var checksums: [String] = []
        for (name, data) in [("a", "npy"), ("b", "data.npz")] {
            let out = tmp.appendingPathComponent(name)
            let run = try CommandRunner.run(["retrain", "--genotype", "DARTS_V2", "--dataset", "numpy", "--data", tmp.appendingPathComponent(data).path,
                                             "--preset", "fast", "--layers", "3", "--channels", "4", "--batch-size", "8",
                                             "--epochs", "1", "--out", out.path])
            try #require(run.status == 0, "\(run.all)")
            let result = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("result.json"))) as? [String: Any])
            checksums.append(try #require(result["weightsChecksum"] as? String))
            #expect(result["classNames"] as? [String] == ["0", "1", "2"])
        }
        #expect(checksums[0] == checksums[1])
    }

    // MARK: Bad input (issue list: each refused, the file named, nothing written)

    /// A search on the image folder that `change` breaks.
    static func expectFolderSearchRefused(_ change: @escaping (URL) throws -> Void, extra: [String] = [], _ messages: [String],
                                          sourceLocation: SourceLocation = #_sourceLocation) throws {
        var data: URL!
        try BadInputTests.expectRefused({ tmp in BadInputTests.search(tmp, data: data, ["--dataset", "folder"] + extra) },
                                        prepare: { tmp in data = try imageFolder(tmp); try change(data) }, messages,
                                        sourceLocation: sourceLocation)
    }

    @Test func aClassFolderWithoutImagesIsRefused() throws {
        try Self.expectFolderSearchRefused({ data in
            try FileManager.default.createDirectory(at: data.appendingPathComponent("train/fox"), withIntermediateDirectories: true)
        }, ["class folder", "train/fox holds no images (.png, .jpg or .jpeg); add images to it or remove it"])
    }

    @Test func imagesOfDifferentSizesWithoutImageSizeAreRefused() throws {
        try Self.expectFolderSearchRefused({ data in
            try ImageCodecs.writePNG(OwnDataSamples.image(1, size: 10, channels: 1), width: 10, height: 10, channels: 1,
                                     to: data.appendingPathComponent("train/dog/00007.png").path)
        }, ["train/dog/00007.png is 10x10 (height x width), but", "is 8x8; every image of a data set must have one size: pass --image-size S"])
    }

    @Test func aTruncatedPNGIsNamed() throws {
        try Self.expectFolderSearchRefused({ data in
            let file = data.appendingPathComponent("train/eel/00005.png")
            let bytes = try Data(contentsOf: file)
            try bytes.prefix(bytes.count - 20).write(to: file)
        }, ["train/eel/00005.png is a corrupt or truncated PNG file (libpng:", "replace it with a valid image"])
    }

    @Test func aTruncatedJPEGIsNamed() throws {
        try Self.expectFolderSearchRefused({ data in
            let jpeg = ImageCodecs.encodeJPEG(OwnDataSamples.image(3, size: 8, channels: 1), width: 8, height: 8, channels: 1)
            try Data(jpeg.prefix(jpeg.count / 2)).write(to: data.appendingPathComponent("train/cat/00099.jpg"))
        }, ["train/cat/00099.jpg is a corrupt or truncated JPEG file (libjpeg:"])
    }

    @Test func aNonImageFileAmongTheImagesIsRefused() throws {
        try Self.expectFolderSearchRefused({ data in
            try Data("labels".utf8).write(to: data.appendingPathComponent("train/dog/notes.txt"))
        }, ["train/dog/notes.txt is not an image (.png, .jpg or .jpeg) but lies among the images; move it out of the data folder"])
    }

    @Test func aTestClassTheTrainSplitLacksIsRefused() throws {
        var data: URL!
        try BadInputTests.expectRefused({ tmp in Self.retrain(tmp, data: data) }, prepare: { tmp in
            data = try Self.imageFolder(tmp)
            let fox = data.appendingPathComponent("test/fox")
            try FileManager.default.createDirectory(at: fox, withIntermediateDirectories: true)
            try ImageCodecs.writePNG(OwnDataSamples.image(1, size: 8, channels: 1), width: 8, height: 8, channels: 1,
                                     to: fox.appendingPathComponent("1.png").path)
        }, ["test/fox: class 'fox' is not among the 3 training classes (cat, dog, eel)", "rename or remove that folder"])
    }

    /// A numpy data set at tmp/npy with `change` applied to its arrays, given to `command`.
    static func expectNumpyRefused(_ change: @escaping (inout [String: [UInt8]]) -> Void, retrain useRetrain: Bool = false,
                                   npz: Bool = false, _ messages: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        try BadInputTests.expectRefused({ tmp in
            let data = tmp.appendingPathComponent(npz ? "data.npz" : "npy")
            return useRetrain ? retrain(tmp, data: data, dataset: "numpy")
                : BadInputTests.search(tmp, data: data, ["--dataset", "numpy"])
        }, prepare: { tmp in
            var arrays = OwnDataSamples.numpyArrays(train: 40, test: 10, size: 8)
            change(&arrays)
            if npz {
                try OwnDataSamples.writeNPZ(arrays, to: tmp.appendingPathComponent("data.npz"))
            } else {
                try OwnDataSamples.writeNumpyFolder(arrays, to: tmp.appendingPathComponent("npy"))
            }
        }, messages, sourceLocation: sourceLocation)
    }

    @Test func anNpyOfAnUnsupportedDtypeIsRefused() throws {
        try Self.expectNumpyRefused({ arrays in
            arrays["train_images"] = OwnDataSamples.npy(descr: "<f2", shape: [40, 8, 8], data: Array(repeating: 0, count: 40 * 64 * 2))
        }, ["npy/train_images.npy holds dtype '<f2', which is not supported; use uint8 or float32 images"])
    }

    @Test func anNpyWhoseShapeDisagreesWithItsLabelsIsRefused() throws {
        try Self.expectNumpyRefused({ arrays in
            arrays["train_labels"] = OwnDataSamples.npy(descr: "<i8", shape: [39], data: OwnDataSamples.int64(Array(repeating: 1, count: 39)))
        }, ["train_images.npy has shape [40, 8, 8], which does not fit the 39 labels of", "train_labels.npy"])
    }

    @Test func labelsOutOfRangeAreRefused() throws {
        try Self.expectNumpyRefused({ arrays in
            arrays["test_labels"] = OwnDataSamples.npy(descr: "<i8", shape: [10], data: OwnDataSamples.int64([0, 1, 2, 7, 0, 1, 2, 0, 1, 2]))
        }, retrain: true, ["npy/test_labels.npy: label 7 of item 3 is out of range 0...2 (the training labels' range); number the classes from 0"])
        try Self.expectNumpyRefused({ arrays in
            arrays["train_labels"] = OwnDataSamples.npy(descr: "<i4", shape: [40], data: (0..<40).flatMap { i in
                withUnsafeBytes(of: Int32(i == 5 ? -1 : i % 3).littleEndian) { Array($0) } })
        }, ["npy/train_labels.npy: label -1 of item 5 is out of range"])
    }

    @Test func anNpzMissingAnArrayIsRefused() throws {
        try Self.expectNumpyRefused({ arrays in arrays["train_labels"] = nil }, npz: true,
                                    ["data.npz holds no array 'train_labels' (it holds: 'test_images.npy', 'test_labels.npy', 'train_images.npy')",
                                     "numpy.savez(FILE, train_images=..., train_labels=..., test_images=..., test_labels=...)"])
    }

    /// A saved model at tmp/model.bin, as a retrain writes it (small random network).
    static func writeModel(_ tmp: URL) throws -> URL {
        var rng = RandomGenerator(seed: 1)
        let network = try AugmentNetwork(AugmentConfiguration(inputChannels: 1, imageSize: 8, channels: 4, layers: 3, classes: 3,
                                                              auxiliary: false), genotype: .dartsV2, rng: &rng)
        let model = SavedModel(network: network, weights: ParameterArena(network.namedParameters()),
                               buffers: ParameterArena(network.namedBuffers(), keepsGradients: false), dataset: "folder",
                               dataFolder: "/data", options: nil, epochs: 1, testTop1: nil, testTop5: nil,
                               normalization: Normalization(mean: [0.5], std: [0.25]), classNames: classes)
        let url = tmp.appendingPathComponent("model.bin")
        try model.write(to: url)
        return url
    }

    @Test func exportingASearchRunFolderSaysToRetrainFirst() throws {
        try BadInputTests.expectRefused({ tmp in
            ["export", "--model", tmp.appendingPathComponent("search").path, "--format", "onnx", "--out", tmp.appendingPathComponent("m.onnx").path]
        }, prepare: { tmp in
            let search = tmp.appendingPathComponent("search")
            try FileManager.default.createDirectory(at: search, withIntermediateDirectories: true)
            try Data(#"{"valImages": 100, "alphas": 112}"#.utf8).write(to: search.appendingPathComponent("config.json"))
        }, ["is a search run folder: it holds a genotype, not a trained network; retrain it first (darts-dist retrain --genotype"])
    }

    @Test func anExistingExportFileIsNeverOverwritten() throws {
        for format in ["safetensors", "onnx"] {
            try BadInputTests.expectRefused({ tmp in
                ["export", "--model", tmp.appendingPathComponent("model.bin").path, "--format", format, "--out",
                 tmp.appendingPathComponent("old.bin").path]
            }, prepare: { tmp in
                _ = try Self.writeModel(tmp)
                try Data("keep me".utf8).write(to: tmp.appendingPathComponent("old.bin"))
            }, ["old.bin already exists; an export never overwrites a file: give a new name or remove it"])
        }
    }

    @Test func anExportToADanglingLinkOrAFIFOIsRefusedAndAPlantedTemporaryLinkIsNotFollowed() throws {
        let export = { (tmp: URL) in
            ["export", "--model", tmp.appendingPathComponent("model.bin").path, "--format", "safetensors", "--out",
             tmp.appendingPathComponent("m.safetensors").path]
        }
        try BadInputTests.expectRefused(export, prepare: { tmp in
            _ = try Self.writeModel(tmp)
            try FileManager.default.createSymbolicLink(atPath: tmp.appendingPathComponent("m.safetensors").path,
                                                       withDestinationPath: tmp.appendingPathComponent("elsewhere").path)
        }, ["m.safetensors is a symbolic link to", "never replaces anything else there: remove it or give another path"])
        try BadInputTests.expectRefused(export, prepare: { tmp in
            _ = try Self.writeModel(tmp)
            #expect(mkfifo(tmp.appendingPathComponent("m.safetensors").path, 0o644) == 0)
        }, ["m.safetensors is a FIFO (named pipe), not a regular file"])
        // A link planted at every temporary name a process id could give: the export removes its
        // own and writes a new file; the link's target is never written.
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        _ = try Self.writeModel(tmp)
        let target = tmp.appendingPathComponent("target")
        try Data("keep me".utf8).write(to: target)
        let maximum = (try? String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 32768
        let next = Int(getpid())
        for pid in next..<min(next + 2000, maximum) {
            try FileManager.default.createSymbolicLink(atPath: tmp.appendingPathComponent(".m.safetensors.\(pid).partial").path,
                                                       withDestinationPath: target.path)
        }
        let result = try CommandRunner.run(export(tmp))
        #expect(result.status == 0, "\(result.all)")
        #expect(try String(contentsOf: target, encoding: .utf8) == "keep me")
        var info = stat()
        #expect(lstat(tmp.appendingPathComponent("m.safetensors").path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG)
    }

    @Test func imageSizeIsRefusedForTheBuiltInDataSets() throws {
        try BadInputTests.expectRefused({ tmp in BadInputTests.search(tmp, data: nil, ["--image-size", "32"]) },
                                        ["--image-size 32 applies to --dataset folder and numpy only; fashion-mnist images are 28x28: drop --image-size"])
    }
}
