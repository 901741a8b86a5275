import Foundation
import Testing
import TestSupport
@testable import Training

/// Every file darts-dist writes is a regular file put in place by rename; a path where something
/// else exists (a device node, a FIFO, a socket, a symbolic link, a folder) is refused with a
/// message naming it, and left exactly as it was.
@Suite struct OutputPathTests {
    /// What is at a path, as lstat(2) and readlink(2) see it: its type, device numbers and link target.
    static func identity(_ path: String) -> String {
        var info = stat()
        guard lstat(path, &info) == 0 else { return "missing" }
        var target = [CChar](repeating: 0, count: 4097)
        let n = readlink(path, &target, 4096)
        let link = n >= 0 ? String(cString: Array(target.prefix(n)) + [0]) : ""
        return "mode \(info.st_mode & S_IFMT) rdev \(info.st_rdev) size \(info.st_size) link \(link)"
    }

    /// The special files a test plants, by name, in `folder`; `target` is a regular file that a
    /// link points to. A character device (the null device's numbers) only as root.
    static func plant(in folder: URL) throws -> (paths: [String: String], target: URL) {
        let target = folder.appendingPathComponent("target.txt")
        try Data("keep me\n".utf8).write(to: target)
        var paths: [String: String] = [:]
        let fifo = folder.appendingPathComponent("fifo").path
        #expect(mkfifo(fifo, 0o644) == 0)
        paths["a FIFO (named pipe)"] = fifo
        let link = folder.appendingPathComponent("link").path
        #expect(symlink(target.path, link) == 0)
        paths["a symbolic link to \(target.path)"] = link
        let socketPath = folder.appendingPathComponent("socket").path
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (i, byte) in socketPath.utf8.prefix(buffer.count - 1).enumerated() { buffer[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(fd)
        if bound == 0 { paths["a socket"] = socketPath }
        if getuid() == 0 {
            let device = folder.appendingPathComponent("device").path
            if mknod(device, S_IFCHR | 0o644, makedev(1, 3)) == 0 { paths["a character device"] = device }
        }
        let sub = folder.appendingPathComponent("sub").path
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: false)
        paths["a folder"] = sub
        return (paths, target)
    }

    static func makedev(_ major: UInt32, _ minor: UInt32) -> dev_t {
        dev_t((major & 0xfff) << 8 | (minor & 0xff)) | dev_t(minor & ~0xff) << 12 | dev_t(major & ~0xfff) << 32
    }

    @Test func atomicWritesRefuseEverythingButARegularFileAndLeaveItAsItWas() throws {
        let tmp = try TemporaryFolder(prefix: "darts-dist-output")
        defer { tmp.remove() }
        let (paths, target) = try Self.plant(in: tmp.url)
        #expect(paths.count >= 4)
        for (kind, path) in paths {
            let before = Self.identity(path)
            do {
                try AtomicFile.write(Data("new".utf8), to: URL(fileURLWithPath: path))
                Issue.record("\(kind) at \(path) was replaced")
            } catch let error as OutputPathError {
                #expect(error.description == "\(path) is \(kind), not a regular file; darts-dist writes its outputs as regular "
                        + "files and never replaces anything else there: remove it or give another path")
            }
            #expect(Self.identity(path) == before, "\(kind) changed")
            #expect(throws: OutputPathError.self) {
                try AtomicFile.link(URL(fileURLWithPath: path), to: target) { Data() }
            }
            #expect(Self.identity(path) == before, "\(kind) changed by a link")
        }
        #expect(try String(contentsOf: target, encoding: .utf8) == "keep me\n")
        let names = try FileManager.default.contentsOfDirectory(atPath: tmp.url.path)
        #expect(!names.contains { AtomicFile.isTemporary($0) }, "a temporary file was left: \(names)")
        // A regular file is still replaced, and a new one made.
        try AtomicFile.write(Data("new".utf8), to: target)
        #expect(try String(contentsOf: target, encoding: .utf8) == "new")
        try AtomicFile.write(Data("fresh".utf8), to: tmp.url.appendingPathComponent("fresh.txt"))
        #expect(try String(contentsOf: tmp.url.appendingPathComponent("fresh.txt"), encoding: .utf8) == "fresh")
    }

    @Test func aLinkTargetIsShownEscaped() throws {
        let tmp = try TemporaryFolder(prefix: "darts-dist-output")
        defer { tmp.remove() }
        let link = tmp.url.appendingPathComponent("out.dot").path
        #expect(symlink("/tmp/x\u{1b}[2J\nowned", link) == 0)
        let error = #expect(throws: OutputPathError.self) { try AtomicFile.checkReplaceable(link, name: "--dot out.dot") }
        #expect(error?.description.hasPrefix("--dot out.dot is a symbolic link to /tmp/x\\u{1b}[2J\\nowned, not a regular file") == true,
                "\(String(describing: error))")
    }

    @Test func runFolderFilesLockAndMetricsAreNeverWrittenThroughALinkOrIntoAFIFO() throws {
        let tmp = try TemporaryFolder(prefix: "darts-dist-output")
        defer { tmp.remove() }
        let victim = tmp.url.appendingPathComponent("victim.txt")
        try Data("keep me\n".utf8).write(to: victim)
        let run = tmp.url.appendingPathComponent("run")
        do {
            let folder = try RunFolder(path: run.path)
            #expect(mkfifo(run.appendingPathComponent("genotype.txt").path, 0o644) == 0)
            #expect(symlink(victim.path, run.appendingPathComponent("result.json").path) == 0)
            #expect(throws: RunFolderError.self) { try folder.write("genotype.txt", text: "x") }
            do {
                try folder.writeJSON("result.json", ["a": 1])
                Issue.record("result.json written through a link")
            } catch {
                #expect("\(error)".contains("result.json is a symbolic link to \(victim.path), not a regular file"), "\(error)")
                #expect(!"\(error)".contains("free space"), "\(error)")
            }
            #expect(Self.identity(run.appendingPathComponent("genotype.txt").path).hasPrefix("mode \(S_IFIFO)"))
        }
        try FileManager.default.removeItem(at: run.appendingPathComponent("genotype.txt"))
        try FileManager.default.removeItem(at: run.appendingPathComponent("result.json"))
        // Resuming: a .lock or a metrics.jsonl that is a link is refused, and the file it names kept.
        for name in [".lock", "metrics.jsonl"] {
            let file = run.appendingPathComponent(name)
            try? FileManager.default.removeItem(at: file)
            #expect(symlink(victim.path, file.path) == 0)
            do {
                _ = try RunFolder(resuming: run, completedEpochs: 0)
                Issue.record("resumed with \(name) a link")
            } catch {
                #expect("\(error)".contains("\(name) is a symbolic link to \(victim.path), not a regular file"), "\(error)")
            }
            try FileManager.default.removeItem(at: file)
            if name == ".lock" { FileManager.default.createFile(atPath: file.path, contents: nil) }
        }
        #expect(try String(contentsOf: victim, encoding: .utf8) == "keep me\n")
        // A .lock that is a FIFO is refused without blocking.
        let lock = run.appendingPathComponent(".lock")
        try FileManager.default.removeItem(at: lock)
        #expect(mkfifo(lock.path, 0o644) == 0)
        #expect(throws: RunFolderError.self) { _ = try RunFolder(resuming: run, completedEpochs: 0) }
    }

    @Test func genotypeDotAndBenchJSONRefuseSpecialFilesBeforeWritingAnything() throws {
        let tmp = try TemporaryFolder(prefix: "darts-dist-output")
        defer { tmp.remove() }
        let (paths, target) = try Self.plant(in: tmp.url)
        for (kind, path) in paths where kind != "a folder" {
            let before = Self.identity(path)
            let dot = try CommandRunner.run(["genotype", "DARTS_V2", "--dot", path])
            #expect(dot.status != 0 && dot.stdout.isEmpty, "\(dot.all)")
            #expect(dot.stderr.contains("--dot \(path) is \(kind), not a regular file"), "\(dot.all)")
            let bench = try CommandRunner.run(["bench", "--layers", "3", "--channels", "4", "--batch-size", "4", "--json", path])
            #expect(bench.status != 0 && bench.stdout.isEmpty, "\(bench.all)")
            #expect(bench.stderr.contains("--json \(path) is \(kind), not a regular file"), "\(bench.all)")
            #expect(Self.identity(path) == before, "\(kind) changed")
        }
        #expect(try String(contentsOf: target, encoding: .utf8) == "keep me\n")
        // The PNG drawn next to --dot follows the same rule (when Graphviz is installed).
        if GenotypeFinder.hasGraphviz {
            let png = tmp.url.appendingPathComponent("cells.png").path
            #expect(mkfifo(png, 0o644) == 0)
            let result = try CommandRunner.run(["genotype", "DARTS_V2", "--dot", tmp.url.appendingPathComponent("cells.dot").path])
            #expect(result.status != 0, "\(result.all)")
            #expect(result.stderr.contains("\(png) (the PNG drawn from --dot"), "\(result.all)")
            #expect(!FileManager.default.fileExists(atPath: tmp.url.appendingPathComponent("cells.dot").path))
        }
    }

    /// An output file is written after the work (a bench, an evaluation, a selection): a folder
    /// that cannot take it is refused before, with the flag, the path and the fix, for every
    /// command that writes one.
    @Test func outputsWhoseFolderCannotTakeAFileAreRefusedBeforeTheWork() throws {
        let tmp = try TemporaryFolder(prefix: "darts-dist-output")
        defer { tmp.remove() }
        let model = try OwnDataCommandTests.writeModel(tmp.url).path
        let file = tmp.url.appendingPathComponent("file.txt")
        try Data("keep me\n".utf8).write(to: file)
        let missing = tmp.url.appendingPathComponent("missing").path
        let folders = [
            (missing, "the folder \(missing) does not exist; create it or give another path"),
            (file.path, "\(file.path) is not a folder; give another path"),
            // root may write to any folder, so only the probe file finds /proc out.
            ("/proc", getuid() == 0 ? "cannot create a file in /proc (" : "the folder /proc is not writable; give another path"),
        ]
        for (folder, reason) in folders {
            let commands: [(flag: String, path: String, arguments: [String])] = [
                ("--json", "\(folder)/bench.json", ["bench", "--layers", "3", "--channels", "4", "--batch-size", "4"]),
                ("--save-logits", "\(folder)/logits", ["evaluate", "--model", model]),
                ("--out", "\(folder)/m.onnx", ["export", "--model", model, "--format", "onnx"]),
                ("--dot", "\(folder)/cells.dot", ["genotype", "DARTS_V2"]),
            ]
            for command in commands {
                let before = FolderSnapshot(tmp.url)
                let result = try CommandRunner.run(command.arguments + [command.flag, command.path])
                #expect(result.status != 0 && result.stdout.isEmpty, "\(command.arguments): \(result.all)")
                #expect(result.stderr.contains("\(command.flag) \(command.path): \(reason)"), "\(result.all)")
                #expect(before.changes(to: FolderSnapshot(tmp.url)).isEmpty)
            }
        }
        // An empty path, and an export path ending in '/', are refused before the work too.
        let empty: [([String], String)] = [
            (["bench", "--layers", "3", "--channels", "4", "--batch-size", "4", "--json", ""], "--json is empty; give a file path such as bench.json"),
            (["evaluate", "--model", model, "--save-logits", ""], "--save-logits is empty; give a new folder, such as logits"),
            (["export", "--model", model, "--format", "onnx", "--out", ""], "--out is empty; give a file path such as model.onnx"),
            (["export", "--model", model, "--format", "onnx", "--out", missing + "/"],
             "--out \(missing)/ ends in '/'; give a file path such as model.onnx"),
            (["genotype", "DARTS_V2", "--dot", ""], "--dot is empty; give a file path such as cells.dot"),
        ]
        for (arguments, message) in empty {
            let before = FolderSnapshot(tmp.url)
            let result = try CommandRunner.run(arguments)
            #expect(result.status != 0 && result.stdout.isEmpty && result.stderr.contains(message), "\(arguments): \(result.all)")
            #expect(before.changes(to: FolderSnapshot(tmp.url)).isEmpty)
        }
        let folder = #expect(throws: UnwritableOutputError.self) {
            try AtomicFile.checkWritable(tmp.url.path, flag: "--json", example: "bench.json")
        }
        #expect(folder?.description == "--json \(tmp.url.path) is a folder; give a file path such as \(tmp.url.path)/bench.json")
        let slash = #expect(throws: UnwritableOutputError.self) {
            try AtomicFile.checkWritable(missing + "/", flag: "--json", example: "bench.json")
        }
        #expect(slash?.description == "--json \(missing)/ is a folder; give a file path such as \(missing)/bench.json")
        // A link to a folder is refused as a link; a good path passes and leaves no probe file behind.
        let link = tmp.url.appendingPathComponent("to-folder").path
        #expect(symlink(tmp.url.path, link) == 0)
        let linked = #expect(throws: OutputPathError.self) { try AtomicFile.checkWritable(link, flag: "--json", example: "bench.json") }
        #expect(linked?.kind == "a symbolic link to \(tmp.url.path)")
        let before = try FileManager.default.contentsOfDirectory(atPath: tmp.url.path).sorted()
        try AtomicFile.checkWritable(tmp.url.appendingPathComponent("new.json").path, flag: "--json", example: "bench.json")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.url.path).sorted() == before)
    }

    @Test func picturesRefuseARunFolderWhosePictureIsAFIFO() throws {
        let tmp = try TemporaryFolder(prefix: "darts-dist-output")
        defer { tmp.remove() }
        let line = #"{"epoch":0,"trainLoss":2.3,"trainAccuracy":0.1,"archLoss":2.3,"validationLoss":2.3,"validationAccuracy":0.1}"#
        try Data((line + "\n").utf8).write(to: tmp.url.appendingPathComponent("metrics.jsonl"))
        let fifo = tmp.url.appendingPathComponent("loss.svg").path
        #expect(mkfifo(fifo, 0o644) == 0)
        let result = try CommandRunner.run(["pictures", tmp.url.path])
        #expect(result.status != 0, "\(result.all)")
        #expect(result.stderr.contains("\(fifo) is a FIFO (named pipe), not a regular file"), "\(result.all)")
        #expect(!FileManager.default.fileExists(atPath: tmp.url.appendingPathComponent("accuracy.svg").path), "nothing is drawn")
        #expect(Self.identity(fifo).hasPrefix("mode \(S_IFIFO)"))
    }
}

/// Whether Graphviz's `dot` is on the PATH.
enum GenotypeFinder {
    static var hasGraphviz: Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/dot")
        }
    }
}

/// Losses as large as a double holds (a diverging run, or a damaged metrics.jsonl) still draw:
/// the axes and points stay finite and `pictures` ends.
@Suite struct ExtremeValuePictureTests {
    @Test func ticksOfTheWidestRangesAreFiniteAndFew() {
        for (low, high) in [(-1e308, 1e308), (-Double.greatestFiniteMagnitude, Double.greatestFiniteMagnitude), (0, 1e308),
                            (1e308, 1.0000000000000002e308), (-5e-324, 5e-324)] {
            let ticks = niceTicks(low, high)
            #expect(ticks.count >= 2 && ticks.count <= 21, "\(low)...\(high): \(ticks.count) ticks")
            #expect(ticks.allSatisfy(\.isFinite) && ticks.first! <= low && ticks.last! >= high, "\(low)...\(high): \(ticks)")
        }
        #expect(tickLabel(1e308, step: .infinity) == "1e+308")
        #expect(tickLabel(2.5, step: 0.5) == "2.5")
    }

    @Test func aChartOfPlusAndMinus1e308HasOnlyFiniteCoordinates() {
        let chart = LineChart(title: "loss", xLabel: "epoch", yLabel: "loss", series: [
            .init(name: "train", color: "#000", points: [(0, 1e308), (1, -1e308), (2, 0)]),
        ])
        let svg = chart.svg()
        #expect(SVGCounts(Data(svg.utf8)).wellFormed)
        #expect(SVGCounts(Data(svg.utf8)).classes["circle.point"] == 3)
        #expect(!svg.contains("nan") && !svg.contains("inf"), "non-finite coordinates in the SVG")
    }

    @Test func picturesOfAMetricsFileWithHugeLossesEnds() throws {
        let tmp = try TemporaryFolder(prefix: "darts-dist-pictures")
        defer { tmp.remove() }
        let lines = [(1e308, -1e308), (-1e308, 1e308), (1.7976931348623157e308, 0)].enumerated().map { epoch, loss in
            #"{"epoch":\#(epoch),"trainLoss":\#(loss.0),"trainAccuracy":0.1,"archLoss":\#(loss.1),"validationLoss":\#(loss.1),"validationAccuracy":0.1}"#
        }
        try Data(lines.joined(separator: "\n").utf8).write(to: tmp.url.appendingPathComponent("metrics.jsonl"))
        let result = try CommandRunner.run(["pictures", tmp.url.path], timeout: 60)
        #expect(result.status == 0, "\(result.all)")
        #expect(result.stdout.contains("loss.svg, accuracy.svg"), "\(result.all)")
        #expect(try SVGCounts(contentsOf: tmp.url.appendingPathComponent("loss.svg")).classes["circle.point"] == 9)
    }
}
