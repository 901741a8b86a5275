import DartsTensor
import Distributed
import Foundation

/// The measured cost of the allreduce the search uses (``Communicator/allreduceMean(_:)``, the
/// rank-ordered sum then a scale) for a few message sizes, and the latency and bandwidth terms of
/// the ring-allreduce model fitted to them (the input of docs/cost-model.md):
///
///     T(n) = 2 (P - 1) alpha + 2 (P - 1) / P * n * beta        (n in bytes)
///
/// (Thakur, Rabenseifner, Gropp, "Optimization of collective communication operations in MPICH",
/// 2005; the ordered allreduce is an all-to-all of chunks plus an allgather, which has the same
/// terms).
public struct AllreduceTiming: Codable, Sendable {
    public let worldSize: Int
    /// Message sizes, bytes (4 per float).
    public let messageBytes: [Int]
    /// Seconds of one allreduce per size: the median over repetitions of the slowest rank.
    public let seconds: [Double]
    /// Latency per step of the ring, seconds.
    public let alpha: Double
    /// Seconds per byte (1 / bandwidth), including the local copies and sums of the allreduce.
    public let beta: Double
    public let hosts: [String]

    /// Least-squares fit of T = a + b n to the measurements, mapped to the model's terms:
    /// alpha = a / (2 (P - 1)), beta = b / (2 (P - 1) / P). A negative intercept (noise on a
    /// fast link) gives alpha = 0.
    /// - Parameters:
    ///   - worldSize: P, at least 2.
    ///   - bytes: message sizes, at least two distinct.
    ///   - seconds: the time of one allreduce at each size.
    public static func fit(worldSize p: Int, bytes: [Int], seconds: [Double]) -> (alpha: Double, beta: Double) {
        precondition(p >= 2 && bytes.count == seconds.count && Set(bytes).count >= 2)
        let x = bytes.map(Double.init), k = Double(x.count)
        let meanX = x.reduce(0, +) / k, meanY = seconds.reduce(0, +) / k
        var sxy = 0.0, sxx = 0.0
        for (xi, yi) in zip(x, seconds) { sxy += (xi - meanX) * (yi - meanY); sxx += (xi - meanX) * (xi - meanX) }
        let slope = sxy / sxx, intercept = meanY - slope * meanX
        let steps = 2 * Double(p - 1)
        return (max(intercept, 0) / steps, slope / (steps / Double(p)))
    }

    /// The largest message timed, in floats (1 GiB).
    public static let largestFloatCount = 1 << 28
    /// The largest `--steps` of a timing (x 10 calls per size).
    public static let largestSteps = 100_000

    /// Times `allreduceMean` on every rank for each size in `floatCounts`.
    /// - Parameters:
    ///   - floatCounts: message sizes in floats, at least two distinct, each at most ``largestFloatCount``.
    ///   - repetitions: timed calls per size (after two untimed ones), at most 10 x ``largestSteps``.
    /// - Throws: `RankFailure` (on every rank) for a world of one rank or bad sizes.
    public static func measure(communicator: Communicator, floatCounts: [Int], repetitions: Int) throws -> AllreduceTiming {
        let p = communicator.worldSize
        try communicator.agree {
            guard p >= 2 else {
                throw SearchError.invalidOption("--allreduce-timing needs at least 2 ranks: run it under mpirun -np 2 (or more)")
            }
            guard Set(floatCounts).count >= 2, floatCounts.allSatisfy({ $0 > 0 && $0 <= largestFloatCount }),
                  repetitions > 0, repetitions <= 10 * largestSteps else {
                throw SearchError.invalidOption("--allreduce-floats needs at least two distinct positive sizes and --steps a positive count")
            }
        }
        var medians: [Double] = []
        for n in floatCounts {
            var buffer = [Float](repeating: Float(communicator.rank + 1), count: n)
            var times: [Double] = []
            buffer.withUnsafeMutableBufferPointer { b in
                for i in 0..<(2 + repetitions) {
                    communicator.barrier()
                    let start = Profiler.now()
                    communicator.allreduceMean(b)
                    var elapsed = [Profiler.now() - start]
                    communicator.allreduceMax(&elapsed)
                    if i >= 2 { times.append(elapsed[0]) }
                }
            }
            times.sort()
            medians.append(times[times.count / 2])
        }
        let bytes = floatCounts.map { 4 * $0 }
        let (alpha, beta) = fit(worldSize: p, bytes: bytes, seconds: medians)
        return AllreduceTiming(worldSize: p, messageBytes: bytes, seconds: medians, alpha: alpha, beta: beta,
                               hosts: communicator.allgather(communicator.hostName))
    }

    /// The table printed by rank 0.
    public var table: String {
        var lines = ["allreduceMean on \(worldSize) ranks (median of the slowest rank per call)",
                     "      bytes     seconds      GB/s"]
        for (n, t) in zip(messageBytes, seconds) {
            lines.append(String(format: "%11d %11.6f %9.3f", n, t, Double(n) / t / 1e9))
        }
        lines.append(String(format: "ring model T = 2(P-1) alpha + 2(P-1)/P n beta: alpha = %.2f us, beta = %.4g s/byte (%.2f GB/s)",
                            alpha * 1e6, beta, beta > 0 ? 1 / beta / 1e9 : 0))
        return lines.joined(separator: "\n")
    }
}
