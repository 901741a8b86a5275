import ArgumentParser
import DARTS
import Distributed
import Foundation
import Logging
import Training

struct PicturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pictures",
        abstract: "Draw the pictures of a run folder (a search draws them when it ends).",
        discussion: """
            Writes into the run folder: loss.svg and accuracy.svg (per epoch, from metrics.jsonl), \
            alphas_normal.svg and alphas_reduce.svg (softmax(alpha) per edge over the epochs, from \
            epoch_N.alphas.json), genotype_normal.dot / .svg and genotype_reduce.dot / .svg (the final \
            cells, from genotype.json; the .svg files need Graphviz's dot). Works on a search that is \
            still running too: the pictures then show the epochs done so far. For a retrain's run \
            folder: loss.svg and accuracy.svg (train and test, top-1 and top-5) and the cells.
            """)

    @Argument(help: "The run folder (--out of the search or retrain).") var folder: String
    @Option(name: .customLong("log-level"), help: "Diagnostic messages at this level and above.") var logLevel: Logger.Level = .warning

    func run() throws {
        do {
            try drawPictures()
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    private func drawPictures() throws {
        Diagnostics.bootstrap(level: logLevel, rank: 0, host: currentHostName())
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) else {
            throw PicturesError(description: "\(folder.isEmpty ? "an empty path" : folder) does not exist; "
                + "give the --out folder of a search or a retrain")
        }
        guard isDirectory.boolValue else {
            throw PicturesError(description: "\(folder) is a file, not a folder; give the --out folder of a search or a retrain")
        }
        let url = URL(fileURLWithPath: folder, isDirectory: true)
        if let kind = RunKind.of(folder: url), RunPictures.metricsLineCount(url) == 0 {
            throw PicturesError(description: "no epoch of the \(kind.rawValue) in \(folder) has finished yet (its metrics.jsonl "
                + "is empty); the pictures show finished epochs: draw them after the first epoch ends")
        }
        // Only regular files are replaced: anything else at a picture's path stops the command first.
        try RunPictures.checkOutputs(in: url)
        // A folder with none of the files is refused before drawing, without a warning per file.
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        let drawable = names.contains { $0 == Genotype.fileName || $0.hasSuffix(".alphas.json") }
            || (RunPictures.metricsLineCount(url) ?? 0) > 0
        let files = drawable ? RunPictures.draw(folder: url) : []
        guard !files.isEmpty else {
            throw PicturesError(description: "\(folder) holds nothing to draw: no epoch in a metrics.jsonl, no epoch_N.alphas.json, "
                + "no genotype.json; give the --out folder of a search or a retrain")
        }
        print("pictures in \(folder): \(files.joined(separator: ", "))")
    }
}

/// A run folder the pictures command cannot draw.
struct PicturesError: Error, CustomStringConvertible {
    let description: String
}
