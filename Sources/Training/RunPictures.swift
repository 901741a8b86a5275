import DARTS
import Foundation

/// The pictures of a search, drawn from its run folder at the end of the search (rank 0), and
/// by `darts-dist pictures` for a search or a retrain:
///
/// | file | shows |
/// |---|---|
/// | `loss.svg` | train, validation and architect (val batch) loss per epoch, from metrics.jsonl (no architect point in warm-up epochs) |
/// | `accuracy.svg` | train and validation top-1 accuracy (%) per epoch, from metrics.jsonl |
/// | `alphas_normal.svg`, `alphas_reduce.svg` | softmax(alpha) per edge over the epochs against uniform, frozen epochs marked, from epoch_N.alphas.json |
/// | `genotype_normal.dot`, `genotype_reduce.dot` | both final cells as Graphviz graphs, from genotype.json |
/// | `genotype_normal.svg`, `genotype_reduce.svg` | those graphs drawn by Graphviz's `dot`, when it is installed |
///
/// A retrain's run folder (``RunKind``) gets `loss.svg` (train and test loss), `accuracy.svg`
/// (train top-1, test top-1 and top-5) and the cells of its genotype.json; it has no alphas.
///
/// Plain SVG written here (no plotting library, no Python), so every search has them. Pictures
/// are a convenience: a missing input or a failed drawing is a warning (`--log-level`), never the
/// end of a search whose results are already written.
public enum RunPictures {
    /// The largest epoch number a metrics.jsonl line may hold.
    static let maximumEpoch = 10_000_000

    /// One line of metrics.jsonl (the fields drawn).
    struct MetricsLine: Decodable, EpochLine {
        let epoch: Int
        let trainLoss: Double
        let trainAccuracy: Double
        /// Absent in a warm-up epoch (no architecture step).
        let archLoss: Double?
        /// Absent in an epoch not validated (`--validate-every`).
        let validationLoss: Double?
        let validationAccuracy: Double?
    }

    /// One line of a retrain's metrics.jsonl (the fields drawn).
    struct RetrainMetricsLine: Decodable, EpochLine {
        let epoch: Int
        let trainLoss: Double
        let trainAccuracy: Double
        let testLoss: Double
        let testTop1: Double
        let testTop5: Double
    }

    /// One epoch_N.alphas.json.
    struct AlphasFile: Decodable {
        let epoch: Int
        let primitives: [String]
        let normal: [[Float]]
        let reduce: [[Float]]
        /// Whether the alphas were frozen in this epoch (warm-up); absent in older files.
        let frozen: Bool?
        /// Edge normalization's weights, 14 per cell type (partial channels only).
        let betasNormal: [Float]?
        let betasReduce: [Float]?

        enum CodingKeys: String, CodingKey {
            case epoch, primitives, normal, reduce, frozen, betasNormal = "betas_normal", betasReduce = "betas_reduce"
        }
    }

    /// Every file the pictures of a run folder may be written to.
    public static let outputNames = ["loss.svg", "accuracy.svg", "alphas_normal.svg", "alphas_reduce.svg",
                                     "genotype_normal.dot", "genotype_normal.svg", "genotype_reduce.dot", "genotype_reduce.svg"]

    /// Refuses a run folder where one of ``outputNames`` exists and is not a regular file (a
    /// device, a FIFO, a socket, a symbolic link), before anything is drawn.
    /// - Throws: ``OutputPathError`` naming the first such path.
    public static func checkOutputs(in folder: URL) throws {
        for name in outputNames { try AtomicFile.checkReplaceable(folder.appendingPathComponent(name).path) }
    }

    /// Draws every picture its inputs allow into `run` and returns the line that lists them,
    /// "pictures in FOLDER: loss.svg, ...".
    public static func draw(in run: RunFolder) -> String {
        let files = draw(folder: run.url) { name, data in try run.write(name, data: data) }
        let dotMissing = !files.contains("genotype_normal.svg") && files.contains("genotype_normal.dot")
        return "pictures in \(run.url.path): " + (files.isEmpty ? "none" : files.joined(separator: ", "))
            + (dotMissing ? " (install Graphviz, Debian package graphviz, to draw the cells: dot -Tsvg FILE.dot)" : "")
    }

    /// Draws (again) the pictures of an existing run folder, a finished one or one still running,
    /// replacing earlier pictures (each file written atomically; a path where something other than
    /// a regular file is found is left alone, with a warning).
    /// - Returns: the names of the files written.
    public static func draw(folder: URL) -> [String] {
        draw(folder: folder) { name, data in try AtomicFile.write(data, to: folder.appendingPathComponent(name)) }
    }

    /// Draws the pictures of the run folder at `folder`, writing each through `write(name, bytes)`.
    /// - Returns: the names of the files written, in the table's order.
    static func draw(folder: URL, write: (String, Data) throws -> Void) -> [String] {
        let log = Diagnostics.logger
        var written: [String] = []
        func save(_ name: String, _ text: String) {
            do {
                try write(name, Data(text.utf8))
                written.append(name)
                log.debug("wrote \(name)")
            } catch {
                log.warning("could not write the picture \(name): \(error)")
            }
        }

        let metricsURL = folder.appendingPathComponent(RunFile.metrics)
        if RunKind.of(folder: folder) == .retrain {
            // A retrain: its train and test curves and its cells; it has no alphas.
            do {
                let metrics = try readLines(RetrainMetricsLine.self, metricsURL, of: "a retrain")
                for chart in retrainCurves(metrics) { save(chart.name, chart.chart.svg()) }
            } catch {
                log.warning("no loss and accuracy curves: \(error)")
            }
        } else {
            do {
                let metrics = try readLines(MetricsLine.self, metricsURL, of: "a search")
                for chart in curves(metrics) { save(chart.name, chart.chart.svg()) }
            } catch {
                log.warning("no loss and accuracy curves: \(error)")
            }
            do {
                let alphas = try readAlphas(folder)
                for map in heatmaps(alphas) { save(map.name, map.heatmap.svg()) }
            } catch {
                log.warning("no alpha heatmaps: \(error)")
            }
        }
        do {
            let genotypeURL = folder.appendingPathComponent(Genotype.fileName)
            try requireFile(genotypeURL)
            let genotype: Genotype
            do {
                genotype = try JSONDecoder().decode(Genotype.self, from: SectionFile.contents(of: genotypeURL))
            } catch {
                throw PictureError("\(genotypeURL.path) is damaged: \(jsonProblem(error))")
            }
            let dot = findExecutable("dot")
            if dot == nil { log.warning("Graphviz's dot is not installed: the cells are left as .dot files") }
            for cell in Genotype.Cell.allCases {
                let source = genotype.dot(cell: cell)
                save("genotype_\(cell.rawValue).dot", source)
                guard let dot else { continue }
                do {
                    save("genotype_\(cell.rawValue).svg", try render(dot: dot, source: source))
                } catch {
                    log.warning("could not draw the \(cell.rawValue) cell: \(error)")
                }
            }
        } catch {
            log.warning("no cell drawings: \(error)")
        }
        return written
    }

    /// The loss and accuracy charts; the last line of an epoch wins (a resumed run may repeat one).
    static func curves(_ metrics: [MetricsLine]) -> [(name: String, chart: LineChart)] {
        var byEpoch: [Int: MetricsLine] = [:]
        for line in metrics { byEpoch[line.epoch] = line }
        let lines = byEpoch.keys.sorted().map { byEpoch[$0]! }
        func points(_ value: (MetricsLine) -> Double) -> [(x: Double, y: Double)] {
            lines.map { (Double($0.epoch), value($0)) }
        }
        let loss = LineChart(title: "loss", xLabel: "epoch", yLabel: "cross-entropy", series: [
            .init(name: "train", color: "#1f77b4", points: points(\.trainLoss)),
            .init(name: "validation", color: "#d62728",
                  points: lines.compactMap { line in line.validationLoss.map { (Double(line.epoch), $0) } }),
            .init(name: "architect (val batches)", color: "#ff7f0e",
                  points: lines.compactMap { line in line.archLoss.map { (Double(line.epoch), $0) } }),
        ])
        var accuracy = LineChart(title: "top-1 accuracy", xLabel: "epoch", yLabel: "accuracy (%)", series: [
            .init(name: "train", color: "#1f77b4", points: points { 100 * $0.trainAccuracy }),
            .init(name: "validation", color: "#d62728",
                  points: lines.compactMap { line in line.validationAccuracy.map { (Double(line.epoch), 100 * $0) } }),
        ], yRange: 0...100)
        accuracy.format = { String(format: "%.2f%%", $0) }
        return [("loss.svg", loss), ("accuracy.svg", accuracy)]
    }

    /// A retrain's loss and accuracy charts (train and test); the last line of an epoch wins.
    static func retrainCurves(_ metrics: [RetrainMetricsLine]) -> [(name: String, chart: LineChart)] {
        var byEpoch: [Int: RetrainMetricsLine] = [:]
        for line in metrics { byEpoch[line.epoch] = line }
        let lines = byEpoch.keys.sorted().map { byEpoch[$0]! }
        func points(_ value: (RetrainMetricsLine) -> Double) -> [(x: Double, y: Double)] {
            lines.map { (Double($0.epoch), value($0)) }
        }
        let loss = LineChart(title: "loss", xLabel: "epoch", yLabel: "cross-entropy", series: [
            .init(name: "train", color: "#1f77b4", points: points(\.trainLoss)),
            .init(name: "test", color: "#d62728", points: points(\.testLoss)),
        ])
        var accuracy = LineChart(title: "accuracy", xLabel: "epoch", yLabel: "accuracy (%)", series: [
            .init(name: "train top-1", color: "#1f77b4", points: points { 100 * $0.trainAccuracy }),
            .init(name: "test top-1", color: "#d62728", points: points { 100 * $0.testTop1 }),
            .init(name: "test top-5", color: "#2ca02c", points: points { 100 * $0.testTop5 }),
        ], yRange: 0...100)
        accuracy.format = { String(format: "%.2f%%", $0) }
        return [("loss.svg", loss), ("accuracy.svg", accuracy)]
    }

    /// One heatmap per cell type over the epochs that have an alphas file.
    static func heatmaps(_ files: [AlphasFile]) -> [(name: String, heatmap: AlphaHeatmap)] {
        guard let first = files.first else { return [] }
        let epochs = files.map(\.epoch), frozen = files.map { $0.frozen ?? false }
        return [
            ("alphas_normal.svg", AlphaHeatmap(cell: "normal", primitives: first.primitives, epochs: epochs,
                                               weights: files.map(\.normal), frozen: frozen)),
            ("alphas_reduce.svg", AlphaHeatmap(cell: "reduce", primitives: first.primitives, epochs: epochs,
                                               weights: files.map(\.reduce), frozen: frozen)),
        ]
    }

    /// The lines of a metrics.jsonl, each decoded as `type`, the epoch record of `run` ("a search").
    /// - Throws: ``PictureError`` naming the file, and the line and what is wrong with it.
    static func readLines<Line: Decodable>(_ type: Line.Type, _ url: URL, of run: String) throws -> [Line] {
        try requireFile(url)
        let data: Data
        do { data = try SectionFile.contents(of: url) } catch { throw PictureError("cannot read \(url.path): \(error)") }
        guard let text = String(data: data, encoding: .utf8) else { throw PictureError("\(url.path) is not UTF-8 text") }
        let lines = try text.split(separator: "\n").enumerated().map { number, line in
            let decoded: Line
            do {
                decoded = try JSONDecoder().decode(Line.self, from: Data(line.utf8))
            } catch {
                throw PictureError("\(url.path), line \(number + 1), is not an epoch record of \(run): \(jsonProblem(error))")
            }
            if let epoch = (decoded as? EpochLine)?.epoch, !(0...maximumEpoch).contains(epoch) {
                throw PictureError("\(url.path), line \(number + 1), is not an epoch record of \(run): its epoch \(epoch) "
                    + "is outside 0...\(maximumEpoch); the file is damaged: draw the pictures of an intact copy")
            }
            return decoded
        }
        guard !lines.isEmpty else { throw PictureError("\(url.path) holds no epoch") }
        return lines
    }

    /// The number of lines in the run folder's metrics.jsonl (one per finished epoch); nil when
    /// the folder has no metrics.jsonl.
    public static func metricsLineCount(_ folder: URL) -> Int? {
        guard let data = try? SectionFile.contents(of: folder.appendingPathComponent(RunFile.metrics)) else {
            return nil
        }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").filter {
            !$0.allSatisfy(\.isWhitespace)
        }.count
    }

    /// Every epoch_N.alphas.json of the folder, by epoch; all with the same shape.
    static func readAlphas(_ folder: URL) throws -> [AlphasFile] {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasPrefix("epoch_") && $0.hasSuffix(".alphas.json") }
        let files = try names.map { try JSONDecoder().decode(AlphasFile.self, from: SectionFile.contents(of: folder.appendingPathComponent($0))) }
            .sorted { $0.epoch < $1.epoch }
        guard let first = files.first else { throw PictureError("\(folder.path) holds no epoch_N.alphas.json") }
        for file in files {
            let rows = file.normal + file.reduce
            guard file.primitives == first.primitives, file.normal.count == first.normal.count,
                  file.reduce.count == first.reduce.count, rows.allSatisfy({ $0.count == first.primitives.count }) else {
                throw PictureError("epoch_\(file.epoch).alphas.json has another shape than epoch_\(first.epoch).alphas.json")
            }
        }
        return files
    }

    static func requireFile(_ url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else { throw PictureError("\(url.path) is missing") }
    }

    /// Runs `dot -Tsvg` on `source` and returns the SVG.
    static func render(dot: URL, source: String) throws -> String {
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("darts-dist-\(UUID().uuidString).dot")
        try Data(source.utf8).write(to: input)
        defer { try? FileManager.default.removeItem(at: input) }
        let process = Process()
        process.executableURL = dot
        process.arguments = ["-Tsvg", input.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, !data.isEmpty else {
            throw PictureError("\(dot.path) -Tsvg exited with status \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The first executable `name` on PATH.
    static func findExecutable(_ name: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for folder in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(folder)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }
}

/// Why a picture could not be drawn.
struct PictureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A metrics.jsonl line: its epoch number.
protocol EpochLine {
    var epoch: Int { get }
}
