import Foundation
import Testing
import Training
import TestSupport

@Test func allreduceFitRecoversAlphaAndBetaOfExactRingTimes() {
    let p = 4, alpha = 5e-6, beta = 2.5e-10
    let bytes = [4_096, 65_536, 1_048_576, 8_388_608]
    let seconds = bytes.map { 2 * Double(p - 1) * alpha + 2 * Double(p - 1) / Double(p) * Double($0) * beta }
    let fit = AllreduceTiming.fit(worldSize: p, bytes: bytes, seconds: seconds)
    #expect(abs(fit.alpha - alpha) < 1e-12)
    #expect(abs(fit.beta - beta) / beta < 1e-9)
}

@Test func allreduceFitClampsANegativeInterceptToZeroLatency() {
    let fit = AllreduceTiming.fit(worldSize: 2, bytes: [1_000, 2_000], seconds: [0.5e-6, 1.5e-6])
    #expect(fit.alpha == 0)
    #expect(abs(fit.beta - 1e-9) < 1e-15)   // slope 1e-9 s/byte, 2 (P-1) / P = 1
}

@Test func benchAllreduceTimingWritesAlphaBetaAndOneTimePerSize() throws {
    let folder = try CommandRunner.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("allreduce.json").path
    let out = try CommandRunner.run(["bench", "--allreduce-timing", "--allreduce-floats", "256", "4096",
                                     "--steps", "1", "--json", path], ranks: 2)
    #expect(out.status == 0, "\(out.all)")
    #expect(out.stdout.contains("alpha = "))
    let timing = try readJSON(AllreduceTiming.self, URL(fileURLWithPath: path))
    #expect(timing.worldSize == 2)
    #expect(timing.messageBytes == [1_024, 16_384])
    #expect(timing.seconds.count == 2 && timing.seconds.allSatisfy { $0 > 0 })
    #expect(timing.alpha >= 0 && timing.beta.isFinite)
}

@Test func benchAllreduceTimingOnOneProcessAsksForMpirun() throws {
    let out = try CommandRunner.run(["bench", "--allreduce-timing"])
    #expect(out.status != 0)
    #expect(out.stderr.contains("mpirun -np 2"))
}

@Test func benchJSONHoldsWhatTheScriptsRead() throws {
    let folder = try CommandRunner.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("bench.json").path
    let out = try CommandRunner.run(["bench", "--layers", "3", "--channels", "4", "--image-size", "8", "--batch-size", "4",
                                     "--steps", "1", "--warmup", "0", "--order", "second", "--json", path], ranks: 2)
    #expect(out.status == 0, "\(out.all)")
    let results = try readJSON([BenchResult].self, URL(fileURLWithPath: path))
    #expect(results.count == 1)
    let r = try #require(results.first)
    #expect(r.order == "second" && r.worldSize == 2 && r.globalBatch == 4)
    #expect(r.alphaCount == 224)
    #expect(r.weightCount > 0 && r.peakResidentBytes.count == 2)
    #expect(r.secondsPerStep > 0 && r.phaseSeconds["allreduce"] != nil && r.phaseSeconds["wait"] != nil)
}

@Test func benchNamesTheBadFlagAndChecksTheJSONPathBeforeMeasuring() throws {
    let tiny = ["bench", "--layers", "3", "--channels", "4", "--image-size", "8", "--batch-size", "4", "--steps", "1"]
    let cases: [([String], String)] = [
        (["--steps", "0"], "--steps 0 must be positive"),
        (["--channels", "3"], "--channels 3 must be a positive even number"),
        (["--input-channels", "0"], "--input-channels 0 must be positive"),
        (["--json", "/nonexistent/folder/bench.json"], "the folder /nonexistent/folder does not exist"),
    ]
    for (extra, message) in cases {
        // Later flags win, so each bad value overrides the tiny configuration.
        let out = try CommandRunner.run(tiny + extra)
        #expect(out.status != 0 && out.stderr.contains(message), "\(extra): \(out.all)")
        #expect(!out.stdout.contains("s/step"), "measured before refusing: \(out.stdout)")
    }
}
