import Foundation
import Testing
import TestSupport
@testable import Training

/// The tiny search the resume and failure tests run, and its uninterrupted runs (made once per
/// test process, removed at exit).
enum ReferenceRuns {
    /// 128 images (64 train / 64 val), C=4, 3 cells, global batch 16: 4 steps per epoch, 3 epochs,
    /// a checkpoint every 3 steps as well as at each epoch's end (steps 3, 4, 6, 8, 9, 12).
    static func search(_ out: URL, secondOrder: Bool = false, extra: [String] = []) -> [String] {
        ["search", "--subset", "128", "--layers", "3", "--channels", "4", "--batch-size", "16", "--epochs", "3",
         "--print-every", "1", "--checkpoint-every", "3", "--out", out.path]
            + (secondOrder ? ["--second-order"] : []) + extra
    }

    static let root: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("darts-dist-e2e-reference-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: ReferenceRuns.root) }
        return url
    }()

    /// The uninterrupted 2-rank runs, first and second order.
    static let firstOrder: Result<URL, Error> = Result { try run(secondOrder: false) }
    static let secondOrder: Result<URL, Error> = Result { try run(secondOrder: true) }

    static func run(secondOrder: Bool) throws -> URL {
        let out = root.appendingPathComponent(secondOrder ? "second-order" : "first-order")
        let result = try CommandRunner.run(search(out, secondOrder: secondOrder), ranks: 2)
        guard result.status == 0 else { throw ReferenceFailure(output: result.all) }
        return out
    }

    struct ReferenceFailure: Error { let output: String }

    static func reference(secondOrder: Bool) throws -> URL {
        try (secondOrder ? ReferenceRuns.secondOrder : ReferenceRuns.firstOrder).get()
    }
}

/// Comparisons of two run folders that must hold the same search.
enum RunComparison {
    static func bits(_ values: [Float]?) -> [UInt32] { (values ?? []).map(\.bitPattern) }

    /// Expects `resumed` to end exactly as `reference`: the final checkpoint's weights, alphas,
    /// optimizer states (and batch-norm statistics) bit for bit, the same genotype and per-epoch
    /// files byte for byte, and (with `sameMetrics`) the same metrics apart from timings.
    /// - Returns: a one-line summary for the test log.
    @discardableResult
    static func expectSameSearch(_ resumed: URL, _ reference: URL, batchNorm: Bool = true, sameMetrics: Bool = true,
                                 sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let a = try Checkpoint(contentsOf: resumed.appendingPathComponent("checkpoint.ckpt"))
        let b = try Checkpoint(contentsOf: reference.appendingPathComponent("checkpoint.ckpt"))
        var sections = ["weights", "alphas", "sgd.momentum", "adam.m", "adam.v"]
        if batchNorm { sections.append("buffers") }
        for name in sections {
            #expect(bits(a.sections[name]) == bits(b.sections[name]) && !bits(a.sections[name]).isEmpty,
                    "section \(name) differs", sourceLocation: sourceLocation)
        }
        #expect(a.manifest.progress.globalStep == b.manifest.progress.globalStep, sourceLocation: sourceLocation)
        #expect(a.manifest.adamStepCount == b.manifest.adamStepCount && a.manifest.sgdHasMomentum == b.manifest.sgdHasMomentum,
                sourceLocation: sourceLocation)
        let epochs = b.manifest.options.epochs
        var files = ["genotype.txt", "genotype.json"]
        for e in 0..<epochs { files += ["epoch_\(e).genotype.txt", "epoch_\(e).genotype.json", "epoch_\(e).json", "epoch_\(e).alphas.json"] }
        for name in files {
            let x = FileManager.default.contents(atPath: resumed.appendingPathComponent(name).path)
            let y = FileManager.default.contents(atPath: reference.appendingPathComponent(name).path)
            #expect(x != nil && x == y, "\(name) differs", sourceLocation: sourceLocation)
        }
        let resultA = try readJSON(SearchResult.self, resumed.appendingPathComponent("result.json"))
        let resultB = try readJSON(SearchResult.self, reference.appendingPathComponent("result.json"))
        #expect(resultA.weightsChecksum == resultB.weightsChecksum && resultA.alphasChecksum == resultB.alphasChecksum,
                sourceLocation: sourceLocation)
        #expect(Set(resultA.rankChecksums).count == 1, sourceLocation: sourceLocation)
        let metricsA = try metrics(resumed), metricsB = try metrics(reference)
        #expect(metricsA.count == epochs && metricsB.count == epochs, sourceLocation: sourceLocation)
        if sameMetrics {
            #expect(metricsA == metricsB, "metrics differ:\n\(metricsA)\n\(metricsB)", sourceLocation: sourceLocation)
        }
        return "weights/alphas \(resultA.weightsChecksum)/\(resultA.alphasChecksum) = reference "
            + "\(resultB.weightsChecksum)/\(resultB.alphasChecksum)"
    }

    /// metrics.jsonl without its timings (seconds, images per second), one dictionary per epoch.
    static func metrics(_ run: URL) throws -> [NSDictionary] {
        let text = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            var object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            object["seconds"] = nil
            object["imagesPerSecond"] = nil
            return object as NSDictionary
        }
    }

    /// The step checkpoint files of a run folder, by name.
    static func checkpointNames(_ run: URL) -> [String] {
        RunFolder.checkpointFiles(in: run).map(\.lastPathComponent)
    }
}
