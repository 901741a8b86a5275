import Synchronization

/// Process-wide accumulators of where a training step spends its time, and of the floating-point
/// operations of the convolutions and linear layers, for `darts-dist bench` and the per-rank
/// summary of a run. Each measurement costs two monotonic clock reads.
public enum Profiler {
    /// The parts of a step.
    public enum Phase: Int, CaseIterable, Sendable {
        case data, forward, backward, communication, wait, optimizer
        public var name: String { ["data", "forward", "backward", "allreduce", "wait", "optimizer"][rawValue] }
    }

    private static let totals = Mutex([Double](repeating: 0, count: Phase.allCases.count))
    private static let flopCount = Atomic<Int>(0)

    /// Monotonic time in seconds.
    public static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    /// Runs `body`, adding its wall-clock seconds to `phase`.
    @inline(__always)
    public static func measure<T>(_ phase: Phase, _ body: () throws -> T) rethrows -> T {
        let start = now()
        defer { add(now() - start, to: phase) }
        return try body()
    }

    public static func add(_ seconds: Double, to phase: Phase) {
        totals.withLock { $0[phase.rawValue] += seconds }
    }

    /// Seconds per phase since the last reset.
    public static var seconds: [Phase: Double] {
        let t = totals.withLock { $0 }
        return Dictionary(uniqueKeysWithValues: Phase.allCases.map { ($0, t[$0.rawValue]) })
    }

    /// Floating-point operations counted since the last reset (multiply and add count as two).
    public static var flops: Int { flopCount.load(ordering: .relaxed) }

    @inline(__always)
    static func countFlops(_ n: Int) { flopCount.add(n, ordering: .relaxed) }

    public static func reset() {
        totals.withLock { for i in $0.indices { $0[i] = 0 } }
        flopCount.store(0, ordering: .relaxed)
    }
}

#if canImport(Glibc)
import Glibc
#endif
