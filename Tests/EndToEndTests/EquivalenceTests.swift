import Foundation
import Testing
import TestSupport
@testable import Training

/// The correctness test of the whole distributed layer (docs/algorithm.md §8):
/// P ranks with a global batch B take the same steps as ONE process accumulating the gradients
/// of P micro-batches of B / P over the same data and seed, first and second order.
@Suite(.serialized) struct EquivalenceTests {
    static func search(_ out: URL, secondOrder: Bool, accumulate: Int = 1) -> [String] {
        ["search", "--subset", "256", "--layers", "4", "--channels", "4", "--batch-size", "16", "--epochs", "1",
         "--print-every", "100", "--accumulate", String(accumulate), "--out", out.path]
            + (secondOrder ? ["--second-order"] : [])
    }

    @Test(arguments: [(2, false), (2, true), (4, false), (4, true)])
    func ranksEqualOneProcessAccumulatingMicroBatches(ranks: Int, secondOrder: Bool) throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let parallel = tmp.appendingPathComponent("ranks"), single = tmp.appendingPathComponent("accumulate")
        let a = try CommandRunner.run(Self.search(parallel, secondOrder: secondOrder), ranks: ranks)
        #expect(a.status == 0, "\(a.all)")
        let b = try CommandRunner.run(Self.search(single, secondOrder: secondOrder, accumulate: ranks))
        #expect(b.status == 0, "\(b.all)")
        let p = try Checkpoint(contentsOf: parallel.appendingPathComponent("checkpoint.ckpt"))
        let s = try Checkpoint(contentsOf: single.appendingPathComponent("checkpoint.ckpt"))
        #expect(p.manifest.step == 8 && s.manifest.step == 8)
        let weightError = relativeError(p.sections["weights"]!, s.sections["weights"]!)
        let alphaError = relativeError(p.sections["alphas"]!, s.sections["alphas"]!)
        print("equivalence \(ranks) ranks vs 1 x \(ranks) micro-batches, \(secondOrder ? "second" : "first") order: "
              + "weights \(weightError), alphas \(alphaError)")
        #expect(weightError < 1e-5)
        #expect(alphaError < 1e-5)
        // Stronger than the 1e-5 asked: the rank-ordered allreduce makes them bit-identical.
        #expect(p.sections["weights"]! == s.sections["weights"]! && p.sections["alphas"]! == s.sections["alphas"]!)
        // Eight architecture and weight steps were taken (the test is not vacuous).
        #expect(p.manifest.adamStepCount == 8 && s.manifest.adamStepCount == 8)
        #expect(p.sections["sgd.momentum"]!.contains { $0 != 0 })
    }
}
