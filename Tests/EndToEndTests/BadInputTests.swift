import Foundation
import Testing
import TestSupport
@testable import DARTS

/// Bad input where the user meets it, the command line: each case exits non-zero with a message
/// that names the input and the fix, and writes, changes or removes nothing (the test's whole
/// folder, data and any earlier files included, is byte-identical afterwards).
/// Cases already covered at this level elsewhere: a missing data folder, a global batch not
/// divisible by the world size, an existing run folder (SearchCommandTests) and a genotype input
/// index out of range (GenotypeCommandTests).
@Suite struct BadInputTests {
    /// Runs darts-dist in a fresh folder prepared by `prepare`, and expects the refusal.
    /// - Returns: the command's standard error.
    @discardableResult
    static func expectRefused(_ arguments: (URL) throws -> [String], ranks: Int? = nil, prepare: (URL) throws -> Void = { _ in },
                              _ messages: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        try prepare(tmp)
        let before = FolderSnapshot(tmp)
        let result = try CommandRunner.run(try arguments(tmp), ranks: ranks)
        #expect(result.status != 0, "exit status 0: \(result.all)", sourceLocation: sourceLocation)
        for message in messages {
            #expect(result.stderr.contains(message), "missing \"\(message)\" in: \(result.all)", sourceLocation: sourceLocation)
        }
        let changes = before.changes(to: FolderSnapshot(tmp))
        #expect(changes.isEmpty, "changed: \(changes)", sourceLocation: sourceLocation)
        return result.stderr
    }

    /// A tiny search on `data` writing to tmp/run.
    static func search(_ tmp: URL, data: URL?, _ extra: [String] = []) -> [String] {
        ["search", "--layers", "3", "--channels", "4", "--batch-size", "16", "--epochs", "1", "--out",
         tmp.appendingPathComponent("run").path] + (data.map { ["--data", $0.path] } ?? []) + extra
    }

    // MARK: Data (search --data DIR)

    /// A data folder built by `make`, searched with `extra` flags.
    static func expectDataRefused(_ make: @escaping (URL) throws -> URL, extra: [String] = [], _ messages: [String],
                                  sourceLocation: SourceLocation = #_sourceLocation) throws {
        var data: URL!
        try expectRefused({ tmp in search(tmp, data: data, extra) }, prepare: { data = try make($0) }, messages,
                          sourceLocation: sourceLocation)
    }

    @Test func aDataPathThatIsAFileIsRefused() throws {
        try Self.expectDataRefused({ tmp in
            let file = try BadData.folder(in: tmp).appendingPathComponent("train-images-idx3-ubyte")
            return file
        }, ["train-images-idx3-ubyte is a file, not a folder; --data takes the folder that holds the fashion-mnist files "
            + "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz"])
    }

    @Test func aMissingLabelFileIsNamed() throws {
        try Self.expectDataRefused({ tmp in
            let folder = try BadData.folder(in: tmp)
            try FileManager.default.removeItem(at: folder.appendingPathComponent("train-labels-idx1-ubyte"))
            return folder
        }, ["train-labels-idx1-ubyte", "not found"])
    }

    @Test func aTruncatedGzipIsNamed() throws {
        try Self.expectDataRefused({ tmp in
            let folder = try BadData.folder(in: tmp, gzipImages: true)
            let file = folder.appendingPathComponent("train-images-idx3-ubyte.gz")
            let bytes = try Data(contentsOf: file)
            try bytes.prefix(bytes.count * 2 / 3).write(to: file)
            return folder
        }, ["train-images-idx3-ubyte.gz is truncated or corrupt", "download or reinstall it"])
    }

    @Test func aCorruptGzipIsNamed() throws {
        try Self.expectDataRefused({ tmp in
            let folder = try BadData.folder(in: tmp, gzipImages: true)
            let file = folder.appendingPathComponent("train-images-idx3-ubyte.gz")
            var bytes = [UInt8](try Data(contentsOf: file))
            for i in 20..<(bytes.count - 8) { bytes[i] ^= 0x5a }
            try Data(bytes).write(to: file)
            return folder
        }, ["train-images-idx3-ubyte.gz is truncated or corrupt"])
    }

    @Test func swappedImageAndLabelFilesFailOnTheIDXMagic() throws {
        try Self.expectDataRefused({ tmp in
            try BadData.folder(in: tmp, images: SampleFiles.idxLabels(BadData.labels(64)))
        }, ["train-images-idx3-ubyte is not an IDX file of the expected kind: magic number is 0x00000801, expected 0x00000803",
            "not swapped"])
    }

    @Test func imagesOfOtherDimensionsAreRefused() throws {
        try Self.expectDataRefused({ tmp in
            try BadData.folder(in: tmp, images: SampleFiles.idxImages(count: 64, rows: 32, cols: 32))
        }, ["train-images-idx3-ubyte holds 32x32 images, expected 28x28", "right data set"])
    }

    @Test func differentImageAndLabelCountsAreRefused() throws {
        try Self.expectDataRefused({ tmp in
            try BadData.folder(in: tmp, labels: SampleFiles.idxLabels(BadData.labels(63)))
        }, ["holds 64 images but", "holds 63 labels"])
    }

    @Test func aLabelOutOfRangeIsRefused() throws {
        try Self.expectDataRefused({ tmp in
            var labels = BadData.labels(64)
            labels[5] = 10
            return try BadData.folder(in: tmp, labels: SampleFiles.idxLabels(labels))
        }, ["train-labels-idx1-ubyte: label 10 of item 5 is not below the class count 10"])
    }

    @Test func anEmptyImageFileIsRefused() throws {
        try Self.expectDataRefused({ tmp in
            try BadData.folder(in: tmp, count: 0)
        }, ["train-images-idx3-ubyte holds no images"])
    }

    @Test func aCIFARFileOfTheWrongSizeIsRefused() throws {
        var data: URL!
        try Self.expectRefused({ tmp in Self.search(tmp, data: data, ["--dataset", "cifar10"]) }, prepare: { tmp in
            data = tmp.appendingPathComponent("cifar")
            try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
            let record = [UInt8](repeating: 7, count: 3073)
            for i in 1...5 {
                let extra: [UInt8] = i == 3 ? [0, 0, 0, 0, 0] : []
                try Data(Array([[UInt8]](repeating: record, count: 8).joined()) + extra)
                    .write(to: data.appendingPathComponent("data_batch_\(i).bin"))
            }
        }, ["data_batch_3.bin is 24589 bytes, not a multiple of the 3073-byte CIFAR-10 record", "cifar-10-binary.tar.gz"])
    }

    @Test func anEmptySubsetHalfIsRefused() throws {
        try Self.expectDataRefused({ try BadData.folder(in: $0) }, extra: ["--subset", "1"], ["of 1 items leaves 0 for training"])
    }

    @Test func aSubsetLargerThanTheDataIsRefused() throws {
        try Self.expectDataRefused({ try BadData.folder(in: $0) }, extra: ["--subset", "100000"],
                              ["--subset 100000 is larger than the 64 training images"])
    }

    @Test func aGlobalBatchLargerThanTheDataIsRefused() throws {
        try Self.expectDataRefused({ try BadData.folder(in: $0) }, extra: ["--batch-size", "64"],
                              ["--batch-size 64 is larger than the train or val half (32 and 32 images)"])
    }

    // MARK: Options

    @Test(arguments: [
        ("--lr=0", "--lr 0.0 must be positive"),
        ("--lr=-0.1", "--lr -0.1 must be positive"),
        ("--epochs=0", "--epochs 0 must be positive"),
        ("--channels=0", "--channels 0 must be a positive even number"),
        ("--batch-size=0", "--batch-size 0 must be positive"),
        ("--batch-size=-16", "--batch-size -16 must be positive"),
        ("--layers=2", "--layers 2: a search network needs at least 3 cells"),
    ])
    func nonPositiveOrTooSmallOptionsAreRefused(flag: String, message: String) throws {
        try Self.expectRefused({ tmp in Self.search(tmp, data: nil, [flag]) }, [message])
    }

    @Test func badOptionsUnderMpirunArePrintedOnceByRankZero() throws {
        let stderr = try Self.expectRefused({ tmp in Self.search(tmp, data: nil, ["--epochs", "0"]) }, ranks: 2,
                                       ["--epochs 0 must be positive"])
        #expect(stderr.components(separatedBy: "must be positive").count == 2, "\(stderr)")
    }

    // MARK: Output folder

    @Test func anOutputFolderThatCannotBeCreatedIsRefused() throws {
        try Self.expectRefused({ tmp in
            ["search", "--subset", "64", "--out", tmp.appendingPathComponent("file/run").path]
        }, prepare: { tmp in try Data("a file\n".utf8).write(to: tmp.appendingPathComponent("file")) },
        ["cannot create the run folder --out", "file/run", "check that the parent folder exists and is writable"])
    }

    @Test func anOutputFolderOnAFileSystemThatCannotBeWrittenIsRefused() throws {
        try Self.expectRefused({ _ in ["search", "--subset", "64", "--out", "/sys/darts-dist-run"] },
                               ["cannot create the run folder --out /sys/darts-dist-run", "check that the parent folder exists and is writable"])
    }

    @Test func anOutputPathThatIsADeviceIsRefused() throws {
        try Self.expectRefused({ _ in ["search", "--subset", "64", "--out", "/dev/full"] },
                          ["--out /dev/full exists and is a character device, not a folder; choose another --out"])
    }

    /// An empty --out is refused (it would name the working folder), and a folder that is not
    /// empty but holds no run is named as such, not as a run.
    @Test func anEmptyOutAndAFolderHoldingSomethingElseAreRefused() throws {
        try Self.expectRefused({ _ in ["search", "--subset", "64", "--dry-run", "--out", ""] },
                               ["--out is empty; give the run folder to create"])
        try Self.expectRefused({ tmp in ["retrain", "--genotype", "DARTS_V2", "--out", tmp.path] },
                               prepare: { tmp in try Data("mine\n".utf8).write(to: tmp.appendingPathComponent("notes.txt")) },
                               ["is not empty (1 entry); choose a new or empty folder"])
        try Self.expectRefused({ tmp in ["search", "--subset", "64", "--dry-run", "--out", tmp.appendingPathComponent("link").path] },
                               prepare: { tmp in
                                   try FileManager.default.createSymbolicLink(atPath: tmp.appendingPathComponent("link").path,
                                                                              withDestinationPath: "/nonexistent/run")
                               }, ["is a symbolic link to /nonexistent/run, which points to nothing; remove the link or choose another --out"])
        try Self.expectRefused({ _ in ["retrain", "--genotype", "", "--dry-run"] },
                               ["\"\": an empty name; give a genotype file"])
    }

    /// The dry run refuses an existing empty --out that the run could not write in, as the run
    /// would (as root, checked as the user nobody; a read-only folder otherwise).
    @Test func anEmptyOutputFolderThatCannotBeWrittenIsRefusedByTheDryRun() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        chmod(tmp.path, 0o755)
        chmod(out.path, 0o555)
        defer { chmod(out.path, 0o755) }
        let arguments = ["search", "--subset", "64", "--dry-run", "--out", out.path]
        let result = geteuid() == 0
            ? try BackgroundJob.run(executable: URL(fileURLWithPath: "/usr/bin/setpriv"),
                                    ["--reuid=65534", "--regid=65534", "--clear-groups", CommandRunner.binary.path] + arguments,
                                    timeout: 120)
            : try CommandRunner.run(arguments)
        #expect(result.status != 0, "\(result.all)")
        #expect(result.stderr.contains("cannot write in the run folder --out \(out.path): Permission denied; "
                                       + "choose a folder this user can write in"), "\(result.all)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).isEmpty)
    }

    // MARK: Genotypes (darts-dist genotype FILE)

    static func expectGenotypeRefused(_ text: String, file: String = "genotype.txt", _ messages: [String],
                                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        let stderr = try Self.expectRefused({ tmp in ["genotype", tmp.appendingPathComponent(file).path] }, prepare: { tmp in
            try Data(text.utf8).write(to: tmp.appendingPathComponent(file))
        }, messages, sourceLocation: sourceLocation)
        #expect(stderr.contains(file), "the message names the file", sourceLocation: sourceLocation)
    }

    static let v2 = Genotype.dartsV2.dartsText

    @Test func aGenotypeWithAnUnknownOperationIsRefused() throws {
        try Self.expectGenotypeRefused(Self.v2.replacingOccurrences(of: "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0)",
                                                                    with: "('conv_7x7', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0)"),
                                       ["normal, node 0 (edge 0): unknown operation 'conv_7x7'; use one of max_pool_3x3"])
    }

    @Test func aGenotypeWithANoneEdgeIsRefused() throws {
        try Self.expectGenotypeRefused(Self.v2.replacingOccurrences(of: "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0)",
                                                                    with: "('none', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0)"),
                                       ["operation 'none' cannot be kept in a genotype"])
    }

    @Test func aGenotypeWithTheWrongNumberOfEdgesIsRefused() throws {
        try Self.expectGenotypeRefused(Self.v2.replacingOccurrences(of: "normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ",
                                                                    with: "normal=["),
                                       ["normal has 6 edges; a DARTS cell has 8"])
    }

    static func nni(removing: String? = nil, adding: String? = nil) throws -> String {
        var object = try JSONSerialization.jsonObject(with: Genotype.dartsV2.nniJSON()) as! [String: Any]
        if let removing { object[removing] = nil }
        if let adding { object[adding] = "maxpool" }
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    @Test func nniJSONWithAMissingKeyIsRefused() throws {
        try Self.expectGenotypeRefused(try Self.nni(removing: "normal_n2_p0"), file: "epoch_49.json",
                                       ["NNI architecture does not match the DARTS cell: missing keys: normal_n2_p0"])
    }

    @Test func nniJSONWithAnUnexpectedKeyIsRefused() throws {
        try Self.expectGenotypeRefused(try Self.nni(adding: "normal_n6_p0"), file: "epoch_49.json",
                                       ["NNI architecture does not match the DARTS cell: unexpected keys: normal_n6_p0"])
    }
}
