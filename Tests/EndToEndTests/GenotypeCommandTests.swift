import Foundation
import Testing
@testable import DARTS

/// `darts-dist genotype` as users run it: the built binary, its stdout, stderr and exit status.
@Suite struct GenotypeCommandTests {
    @Test func nniFormatOfDartsV2ParsesBackToDartsV2() throws {
        let result = try CommandRunner.run(["genotype", "DARTS_V2", "--format", "nni"])
        #expect(result.status == 0, "\(result.all)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(object?.count == 36)
        #expect(try Genotype.parse(result.stdout) == Genotype.dartsV2.inputOrdered)
    }

    @Test func everyFormatPrintsTheSameGenotype() throws {
        for format in ["darts", "json", "nni"] {
            let result = try CommandRunner.run(["genotype", "darts_v1", "--format", format])
            #expect(result.status == 0, "\(result.all)")
            // NNI keeps no edge ranking, so compare with each node's edges in input order.
            #expect(try Genotype.parse(result.stdout).inputOrdered == Genotype.dartsV1.inputOrdered, "--format \(format)")
        }
        let darts = try CommandRunner.run(["genotype", "DARTS_V1"])
        #expect(darts.stdout == Genotype.dartsV1.dartsText + "\n")
    }

    @Test func aFileInOneFormatConvertsToAnother() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let file = tmp.appendingPathComponent("epoch_49.json")
        try Genotype.dartsV2.nniJSON().write(to: file)
        let result = try CommandRunner.run(["genotype", file.path, "--format", "darts"])
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout == Genotype.dartsV2.inputOrdered.dartsText + "\n")
    }

    @Test func runFolderIsReadThroughItsGenotypeJSON() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        try JSONEncoder().encode(Genotype.dartsV1).write(to: tmp.appendingPathComponent("genotype.json"))
        let result = try CommandRunner.run(["genotype", tmp.path])
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout == Genotype.dartsV1.dartsText + "\n")
    }

    @Test func randomWithASeedIsRepeatable() throws {
        let a = try CommandRunner.run(["genotype", "--random", "--seed", "3", "--format", "json"])
        let b = try CommandRunner.run(["genotype", "--random", "--seed", "3", "--format", "json"])
        #expect(a.status == 0 && a.stdout == b.stdout, "\(a.all)")
        #expect(try Genotype.parse(a.stdout) == Genotype.random(seed: 3))
    }

    @Test func missingPathExitsNonZeroNamingIt() throws {
        let result = try CommandRunner.run(["genotype", "/nonexistent"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("/nonexistent: no such file or folder"), "\(result.all)")
        #expect(result.stdout.isEmpty)
    }

    @Test func badGenotypeFileExitsNonZeroNamingFileAndProblem() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let file = tmp.appendingPathComponent("bad.txt")
        try Data(Genotype.dartsV2.dartsText.replacingOccurrences(of: "('max_pool_3x3', 1)]", with: "('max_pool_3x3', 6)]").utf8)
            .write(to: file)
        let result = try CommandRunner.run(["genotype", file.path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("\(file.path): reduce, node 3 (edge 7): input 6 is out of range 0..<5"), "\(result.all)")
    }

    @Test func aDotPathThatCannotBeWrittenIsRefusedBeforeAnythingIsPrinted() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let missing = tmp.appendingPathComponent("missing/cells.dot")
        let cases = [
            (missing.path, "--dot \(missing.path): the folder \(tmp.appendingPathComponent("missing").path) does not exist; "
                + "create it or give another path"),
            (tmp.path, "--dot \(tmp.path) is a folder; give a file path such as \(tmp.appendingPathComponent("cells.dot").path)"),
        ]
        // With Graphviz (which .ci/run installs) the PNG drawn from cells.png would be cells.png itself.
        let png = tmp.appendingPathComponent("cells.png").path
        for (path, message) in cases + [(png, "--dot \(png): the PNG drawn from it would replace it; give the DOT file another "
                                               + "extension, such as \(tmp.appendingPathComponent("cells").path).dot")] {
            let before = FolderSnapshot(tmp)
            let result = try CommandRunner.run(["genotype", "DARTS_V2", "--dot", path])
            #expect(result.status != 0, "\(result.all)")
            #expect(result.stderr.contains(message), "\(result.all)")
            #expect(result.stdout.isEmpty, "nothing printed: \(result.stdout)")
            #expect(before.changes(to: FolderSnapshot(tmp)).isEmpty)
        }
    }

    @Test func nniFormatOfANodeReadingOneInputTwiceNamesTheFileAndTheProblem() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let file = tmp.appendingPathComponent("twice.txt")
        let text = Genotype.dartsV2.dartsText.replacingOccurrences(of: "normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1),",
                                                                   with: "normal=[('sep_conv_3x3', 0), ('skip_connect', 0),")
        try Data(text.utf8).write(to: file)
        let darts = try CommandRunner.run(["genotype", file.path])
        #expect(darts.status == 0 && darts.stdout == text + "\n", "DARTS text holds it: \(darts.all)")
        let nni = try CommandRunner.run(["genotype", file.path, "--format", "nni"])
        #expect(nni.status != 0 && nni.stdout.isEmpty, "\(nni.all)")
        #expect(nni.stderr.contains("\(file.path): cannot be written in NNI's format: normal, node 0: both edges read input 0; "
            + "NNI's exported architecture holds one operation per edge, so the two inputs must differ; "
            + "print it with --format darts or json"), "\(nni.all)")
    }

    @Test func conflictingArgumentsAreRefused() throws {
        let both = try CommandRunner.run(["genotype", "DARTS_V2", "--random", "--seed", "1"])
        #expect(both.status != 0 && both.stderr.contains("not both"), "\(both.all)")
        let none = try CommandRunner.run(["genotype"])
        #expect(none.status != 0 && none.stderr.contains("--random --seed S"), "\(none.all)")
        let badFormat = try CommandRunner.run(["genotype", "DARTS_V2", "--format", "yaml"])
        #expect(badFormat.status != 0 && badFormat.stderr.contains("yaml"), "\(badFormat.all)")
    }

    @Test func dotWritesTheGraphAndAPNGWhenGraphvizIsInstalled() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let dot = tmp.appendingPathComponent("cells.dot")
        let result = try CommandRunner.run(["genotype", "DARTS_V2", "--dot", dot.path])
        #expect(result.status == 0, "\(result.all)")
        let text = try String(contentsOf: dot, encoding: .utf8)
        #expect(text == Genotype.dartsV2.dot())
        #expect(text.contains("cluster_normal") && text.contains("cluster_reduce"))
        let png = tmp.appendingPathComponent("cells.png")
        let graphvizInstalled = ["/usr/bin/dot", "/usr/local/bin/dot"].contains { FileManager.default.isExecutableFile(atPath: $0) }
        if graphvizInstalled {
            let bytes = try Data(contentsOf: png)
            #expect(bytes.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), "not a PNG")
            #expect(result.stderr.contains("wrote \(png.path)"))
        } else {
            #expect(!FileManager.default.fileExists(atPath: png.path))
        }
    }
}
