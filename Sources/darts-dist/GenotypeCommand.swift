import ArgumentParser
import DARTS
import Distributed
import Foundation
import Training

struct GenotypeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genotype",
        abstract: "Read, check, convert and draw a genotype (DARTS text, JSON or NNI).",
        discussion: """
            Reads the official DARTS text (flat lists or pt.darts's per-node lists), our JSON \
            (genotype.json of a search run) or an NNI exported architecture (names, booleans or \
            op indices), checks it, and prints it in --format. Nothing is evaluated.

            --dot PATH writes both cells to ONE Graphviz file, PATH, a cluster per cell drawn as \
            the official visualize.py draws them; when Graphviz's `dot` is on the PATH it also \
            renders PATH with its extension replaced by .png (cells.dot -> cells.png).

            --max-parameter-free M derives the genotype of a search run folder again from its last \
            epoch_N.alphas.json with at most M parameter-free edges (pools, skip_connect) in the normal \
            cell: the weakest others take their edge's best convolution (P-DARTS keeps M=2); --max-parameter-free-reduce M does the same in the reduction cell.

            --selection perturbation chooses the genotype of a finished search run folder by how \
            much masking each operation, and removing each edge, lowers the supernet's accuracy on \
            the first --selection-images images of the search's val half (DARTS-PT, Wang et al., \
            ICLR 2021, without its fine-tuning), instead of by alpha magnitude: 221 passes over \
            those images (minutes to an hour on one core; under mpirun the ranks share the \
            batches and choose the same genotype; progress on stderr). --scores PATH \
            writes every measurement as JSON; --data DIR names the data set's folder if it has \
            moved. The run folder's genotype.json stays the magnitude rule's: save this one with \
            --format json > FILE and retrain FILE.
            """)

    enum Selection: String, ExpressibleByArgument, CaseIterable {
        case magnitude, perturbation
    }

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case darts, json, nni
    }

    @Argument(help: "A genotype file, a search run folder (its genotype.json), DARTS_V1 or DARTS_V2.")
    var genotype: String?

    @Flag(help: "A random genotype (uniform over the DARTS cell space) instead of the argument.")
    var random = false

    @Option(parsing: .unconditional, help: ArgumentHelp("The seed of --random.", valueName: "s"), transform: wholeNumber)
    var seed: UInt64?

    @Option(help: "Print the genotype as darts (the official text), json (ours) or nni (NNI's exported architecture).")
    var format: Format = .darts

    @Option(parsing: .unconditional, help: ArgumentHelp("Derive a search run folder's genotype again from its last epoch_N.alphas.json with at most M parameter-free edges in the normal cell (0...8).", valueName: "M"), transform: wholeNumber)
    var maxParameterFree: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("The same for the reduction cell: at most M parameter-free edges among its 8 (0...8).", valueName: "M"), transform: wholeNumber)
    var maxParameterFreeReduce: Int?

    @Option(help: "How a search run folder's genotype is chosen: magnitude (its genotype.json, the paper's rule) or perturbation (measured on its supernet; DARTS-PT).")
    var selection: Selection = .magnitude

    @Option(parsing: .unconditional, help: ArgumentHelp("With --selection perturbation: the val-half images each measurement uses, from the first, in whole batches of the search (default 1024, or the whole val half when smaller).", valueName: "N"), transform: wholeNumber)
    var selectionImages: Int?

    @Option(help: ArgumentHelp("With --selection perturbation: the folder of the search's data set when it has moved since the search.", valueName: "dir"))
    var data: String?

    @Option(help: ArgumentHelp("With --selection perturbation: write every measurement (accuracy and loss per masked operation and removed edge) to this JSON file.", valueName: "path"))
    var scores: String?

    @Option(help: ArgumentHelp("Write both cells as Graphviz DOT to this one file (and a .png next to it when `dot` is installed).", valueName: "path"))
    var dot: String?

    func validate() throws {
        switch (genotype, random) {
        case (nil, false):
            throw ValidationError("Give a genotype (a file, a search run folder, DARTS_V1 or DARTS_V2) or --random --seed S.")
        case (let name?, true):
            throw ValidationError("Give either the genotype '\(name)' or --random, not both.")
        default:
            break
        }
        if seed != nil && !random {
            throw ValidationError("--seed applies only to --random; add --random or drop --seed.")
        }
        if random && seed == nil {
            throw ValidationError("--random needs --seed S (any integer) so the genotype can be drawn again.")
        }
        for (flag, cap, cell) in [("--max-parameter-free", maxParameterFree, "normal"),
                                  ("--max-parameter-free-reduce", maxParameterFreeReduce, "reduction")] {
            guard let cap else { continue }
            guard (0...8).contains(cap) else {
                throw ValidationError("\(flag) \(cap) must be in 0...8 (the \(cell) cell has 8 edges).")
            }
            var isFolder: ObjCBool = false
            guard let genotype, FileManager.default.fileExists(atPath: genotype, isDirectory: &isFolder), isFolder.boolValue else {
                throw ValidationError("\(flag) needs a search run folder (it derives the genotype again from "
                                      + "the folder's last epoch_N.alphas.json)"
                                      + (genotype.map { "; '\($0)' is not a folder" } ?? "") + ".")
            }
        }
        if selection == .perturbation {
            var isFolder: ObjCBool = false
            guard let genotype, FileManager.default.fileExists(atPath: genotype, isDirectory: &isFolder), isFolder.boolValue else {
                throw ValidationError("--selection perturbation needs a finished search run folder (it measures the folder's supernet)"
                                      + (genotype.map { "; '\($0)' is not a folder" } ?? "") + ".")
            }
            if maxParameterFree != nil || maxParameterFreeReduce != nil {
                throw ValidationError("--max-parameter-free caps a derivation by alpha magnitude; drop it with --selection perturbation.")
            }
            if let selectionImages, selectionImages < 1 {
                throw ValidationError("--selection-images \(selectionImages) must be at least 1.")
            }
        } else if scores != nil || selectionImages != nil || data != nil {
            throw ValidationError("--selection-images, --scores and --data apply only to --selection perturbation; add it or drop them.")
        }
        // Every output path is checked before anything is printed or written, so that a bad one costs nothing.
        // The PNG that Graphviz, when installed, draws from --dot must replace neither --dot nor --scores.
        let png = dot.flatMap { Self.executable(named: "dot") != nil ? Self.pngPath($0) : nil }
        if let scores {
            try Self.checkOutputFile(scores, name: "--scores")
            if let dot, Self.samePath(dot, scores) {
                throw ValidationError("--scores and --dot both name \(scores); give them different paths.")
            }
            if let dot, let png, Self.samePath(png, scores) {
                throw ValidationError("--scores \(scores) is the PNG drawn from --dot \(dot); give them different names.")
            }
        }
        if let dot {
            if let png, Self.samePath(png, dot) {
                throw ValidationError("--dot \(dot): the PNG drawn from it would replace it; give the DOT file another "
                                      + "extension, such as \(URL(fileURLWithPath: dot).deletingPathExtension().path).dot")
            }
            try Self.checkOutputFile(dot, name: "--dot")
            if let png {
                do {
                    try AtomicFile.checkReplaceable(png, name: "\(png) (the PNG drawn from --dot \(dot))")
                } catch {
                    throw ValidationError("\(error)")
                }
            }
        }
    }

    /// Refuses an output path that cannot be written (``AtomicFile/checkWritable(_:flag:example:)``).
    static func checkOutputFile(_ path: String, name flag: String) throws {
        do {
            try AtomicFile.checkWritable(path, flag: flag, example: flag == "--dot" ? "cells.dot" : "scores.json")
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func run() throws {
        if selection == .perturbation { return try runPerturbation() }
        do {
            let genotype = try load()
            try output(genotype)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    /// Prints the genotype in --format and draws it with --dot.
    private func output(_ genotype: Genotype) throws {
        switch format {
        case .darts: print(genotype.dartsText)
        case .json: print(genotype.jsonText)
        case .nni:
            do {
                print(String(decoding: try genotype.nniJSON(), as: UTF8.self))
            } catch let error as GenotypeError {
                throw Failure("\(source): cannot be written in NNI's format: \(error); print it with --format darts or json")
            }
        }
        if let dot { try draw(genotype, to: dot) }
    }

    /// The genotype's name in messages: the argument, or --random --seed S.
    private var source: String {
        genotype ?? "--random --seed \(seed.map(String.init) ?? "")"
    }

    /// The genotype the arguments name: a file or folder that exists first, then a built-in name.
    private func load() throws -> Genotype {
        if random, let seed { return Genotype.random(seed: seed) }
        let source = genotype!
        if maxParameterFree != nil || maxParameterFreeReduce != nil {
            let alphas: LastEpochAlphas
            do {
                alphas = try LastEpochAlphas(folder: URL(fileURLWithPath: source))
            } catch {
                throw Failure("\(source): cannot derive the genotype again: \(error)")
            }
            let caps = [maxParameterFree.map { "\($0) parameter-free edge(s) in the normal cell" },
                        maxParameterFreeReduce.map { maxParameterFree == nil ? "\($0) parameter-free edge(s) in the reduction cell"
                                                                             : "\($0) in the reduction cell" }]
            let note = "derived from \(alphas.file.path) with at most " + caps.compactMap { $0 }.joined(separator: " and ")
            FileHandle.standardError.write(Data((note + "\n").utf8))
            return Genotype(weightsNormal: alphas.normal, weightsReduce: alphas.reduce, maxParameterFree: maxParameterFree,
                            maxParameterFreeReduce: maxParameterFreeReduce)
        }
        return try resolveGenotype(source)
    }

    /// Perturbation-based selection on the search run folder (``PerturbationJob``), on one process
    /// or on every rank of an MPI job (each measures its share of the batches): progress and a
    /// summary on stderr, then rank 0 prints the genotype and writes --scores.
    private func runPerturbation() throws {
        let path = genotype!
        try runDistributed { communicator in
            var loaded: PerturbationJob?
            try communicator.agree {
                do {
                    loaded = try PerturbationJob(folder: URL(fileURLWithPath: path), images: selectionImages, data: data,
                                                 communicator: communicator)
                } catch {
                    throw Failure("cannot select by perturbation: \(error)")
                }
            }
            let job = loaded!
            let root = communicator.rank == 0
            let total = PerturbationSelection.measurementCount
            func note(_ line: String) { if root { FileHandle.standardError.write(Data((line + "\n").utf8)) } }
            note("perturbation-based selection on \(path): \(total) measurements of the supernet on \(job.imageCount) val-half images"
                 + " (batches of \(job.batchSize)\(job.sharing(ranks: communicator.worldSize)))")
            if root {
                InterruptNotice.install("interrupted: the perturbation-based selection on \(path) stopped before its end; "
                    + "nothing was printed or written, and the search run folder is unchanged (run the command again to start over)")
            }
            let start = Date()
            let (genotype, record) = job.select { done in
                guard done == 1 || done % 20 == 0 || done == total else { return }
                let seconds = Date().timeIntervalSince(start)
                note(String(format: "  measured %d/%d, %.0f s, about %.0f s left", done, total, seconds,
                            seconds / Double(done) * Double(total - done)))
            }
            note(String(format: "supernet on the selection images: top-1 %.2f%%, loss %.4f", 100 * record.baseline.accuracy,
                        record.baseline.loss))
            for cell in Genotype.Cell.allCases {
                let kept = genotype.edges(of: cell).enumerated().map { position, edge -> String in
                    let row = CellLayout.firstEdge(ofNode: position / 2) + edge.input
                    let drop = record.baseline.accuracy - (record.operationScores[cell.rawValue]?[row][edge.operation.index]?.accuracy ?? .nan)
                    return String(format: "%@ from %d (%+.2f)", edge.operation.rawValue, edge.input, 100 * drop)
                }
                note("  \(cell.rawValue): " + kept.joined(separator: ", ") + "  (points of top-1 lost when the operation is masked)")
            }
            guard root else { return }
            InterruptNotice.remove()
            try output(genotype)
            // After the genotype is printed, so that a failure here loses none of the selection's work.
            if let scores {
                do {
                    try AtomicFile.write(try job.scores(genotype, record).encoded(), to: URL(fileURLWithPath: scores))
                } catch {
                    throw Failure("cannot write --scores \(scores): \(error)")
                }
                note("wrote \(scores)")
            } else {
                note("retrain this cell: save it with --format json > FILE and give FILE to retrain --genotype "
                     + "(the run folder's own genotype.json is the magnitude rule's)")
            }
        }
    }

    /// Whether two paths name the same file: both made absolute (a relative path against the
    /// current folder) and standardized ("a/./b", "a/../b"); links are not followed.
    static func samePath(_ a: String, _ b: String) -> Bool {
        URL(fileURLWithPath: a).absoluteURL.standardized.path == URL(fileURLWithPath: b).absoluteURL.standardized.path
    }

    /// PATH with its extension replaced by .png (cells.dot -> cells.png; cells -> cells.png).
    static func pngPath(_ path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return (url.pathExtension.isEmpty ? url.appendingPathExtension("png") : url.deletingPathExtension().appendingPathExtension("png")).path
    }

    /// Writes the DOT file and, when Graphviz is installed, renders it to PNG; both written
    /// atomically (``AtomicFile``), neither replacing anything but a regular file.
    private func draw(_ genotype: Genotype, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        do {
            try AtomicFile.write(Data(genotype.dot().utf8), to: url)
        } catch let error as OutputPathError {
            throw Failure("\(OutputPathError(name: "--dot \(path)", kind: error.kind))")
        } catch {
            throw Failure("cannot write --dot \(path) (\(error)); check that its folder exists and is writable")
        }
        FileHandle.standardError.write(Data("wrote \(path)\n".utf8))
        guard let graphviz = Self.executable(named: "dot") else {
            FileHandle.standardError.write(Data("note: Graphviz's dot is not installed, so no PNG; render with `dot -Tpng \(path)`\n".utf8))
            return
        }
        let png = Self.pngPath(path)
        // dot writes the PNG to a pipe, and the bytes are put in place here, so that dot never
        // opens the output path itself.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: graphviz)
        process.arguments = ["-Tpng", url.path]
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        // dot's messages are a few lines at most, far below a pipe's buffer: stdout can be read first.
        let image = stdout.fileHandleForReading.readDataToEndOfFile()
        let message = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, !image.isEmpty else {
            throw Failure("\(graphviz) -Tpng \(path) failed (exit \(process.terminationStatus)): "
                + String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        do {
            try AtomicFile.write(image, to: URL(fileURLWithPath: png))
        } catch {
            throw Failure("cannot write the PNG \(png): \(error)")
        }
        FileHandle.standardError.write(Data("wrote \(png)\n".utf8))
    }

    /// A failure of the command, with a sentence for the user.
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// The full path of an executable found on PATH, nil when there is none.
    static func executable(named name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for folder in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(folder)).appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
