import DartsTensor
import Foundation
import Testing
import TestSupport
@testable import Training

/// Messages for a network that produced NaN or infinity, for a metrics line that cannot be
/// written, and the resume command an interrupted job prints.
@Suite struct MessageTests {
    @Test func nonFiniteLogitsAreCountedAndNamedNeverCorrect() {
        var sums = EvaluationSums(classes: 3)
        // Row 0 right, row 1 NaN, row 2 +inf at the label, row 3 right.
        let logits = Tensor(shape: [4, 3], values: [3, 0, 0, .nan, 1, 0, 0, .infinity, 0, 0, 0, 5])
        sums.add(loss: .nan, logits: logits, labels: [0, 1, 1, 2])
        #expect(sums.nonFinite == 2 && sums.top1 == 2 && sums.top5 == 2 && sums.images == 4)
        #expect(sums.nonFiniteOutputs("the search network", images: "validation images")
                == "the search network produced non-finite outputs (NaN or infinity) for 2 of 4 validation images")
        var finite = EvaluationSums(classes: 3)
        finite.add(loss: 0.5, logits: Tensor(shape: [1, 3], values: [1, 2, 3]), labels: [2])
        #expect(finite.nonFiniteOutputs("the network", images: "test images") == nil)
        finite.add(loss: .infinity, logits: Tensor(shape: [1, 3], values: [1, 2, 3]), labels: [2])
        #expect(finite.nonFiniteOutputs("the network", images: "test images")?
                    .hasPrefix("the network produced a non-finite loss (inf) on the 2 test images") == true)
    }

    @Test func aMetricsLineWithNaNIsRefusedForWhatItIsNotForFreeSpace() throws {
        let tmp = try TemporaryFolder(prefix: "darts-dist-messages")
        defer { tmp.remove() }
        let folder = try RunFolder(path: tmp.url.appendingPathComponent("run").path)
        struct Line: Encodable { let epoch: Int; let validationLoss: Double }
        do {
            try folder.appendMetrics(Line(epoch: 0, validationLoss: .nan))
            Issue.record("a NaN was written to metrics.jsonl")
        } catch {
            #expect("\(error)".contains("a value is not a finite number"), "\(error)")
            #expect(!"\(error)".contains("free space"), "\(error)")
        }
        try folder.appendMetrics(Line(epoch: 0, validationLoss: 1.5))
        #expect(try String(contentsOf: folder.url.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
                == #"{"epoch":0,"validationLoss":1.5}"# + "\n")
    }

    @Test func theResumeCommandCarriesTheMpirunFlagsThatCanBeReadBack() {
        let environment = [
            "OMPI_COMM_WORLD_SIZE": "4", "OPENBLAS_NUM_THREADS": "2",
            "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMPI_MCA_hwloc_base_binding_policy": "core",
            "OMPI_MCA_rmaps_base_mapping_policy": "socket", "OMPI_MCA_btl_tcp_if_include": "eth1",
            "OMPI_MCA_mpi_oversubscribe": "0", "OMPI_MCA_ess": "^singleton", "OMPI_MCA_orte_hnp_uri": "x",
            "OMPI_MCA_ess_base_vpid": "3", "OMPI_MCA_pmix": "^s1", "OMPI_MCA_initial_wdir": "/w",
        ]
        #expect(InterruptNotice.mpirunFlags(environment)
                == ["--oversubscribe", "--map-by", "socket", "--bind-to", "core", "--mca", "btl_tcp_if_include", "eth1"])
        let program = CommandLine.arguments.first ?? "darts-dist"
        #expect(InterruptNotice.resumeCommand("search", folder: "runs/x", worldSize: 4, environment: environment)
                == "mpirun -np 4 --oversubscribe --map-by socket --bind-to core --mca btl_tcp_if_include eth1 "
                + "-x OPENBLAS_NUM_THREADS=2 \(program) search --resume runs/x")
        #expect(InterruptNotice.resumeCommand("retrain", folder: "r", worldSize: 1, environment: environment)
                == "\(program) retrain --resume r")
        #expect(InterruptNotice.afterCheckpoint("search", folder: "runs/x", keeps: "k", worldSize: 2)
                    .hasSuffix("(and your other mpirun flags, such as --hostfile or -x VARIABLE, which cannot be read back)"))
        #expect(InterruptNotice.startHint("search", folder: "runs/x", worldSize: 1, environment: environment) == nil)
        #expect(InterruptNotice.startHint("retrain", folder: "r", worldSize: 2, environment: ["OPENBLAS_NUM_THREADS": "1"])
                == "to stop: Ctrl-C once (the retrain keeps its checkpoints; a second Ctrl-C ends every rank at once, "
                + "without a message); to continue after a checkpoint: `mpirun -np 2 -x OPENBLAS_NUM_THREADS=1 "
                + "\(program) retrain --resume r` with your other mpirun flags")
    }
}
