import DartsTensor
#if canImport(Glibc)
import Glibc
#endif

/// Data parallelism over flat buffers (DESIGN.md): the same start on every rank, gradients
/// averaged in place before every optimizer step, and a bit-level consistency check.
///
/// With per-rank mean losses over B / P examples, the mean of the P local gradients is the
/// gradient of the global mean loss over B examples, so every rank applies the same update.
public final class DataParallel {
    public let communicator: Communicator
    /// Seconds this rank spent inside ``average(_:)`` (the allreduces of gradients and batch-norm
    /// statistics), including the wait for slower ranks; two clock reads per call.
    public private(set) var communicationSeconds: Double = 0
    /// The number of ``average(_:)`` calls, and the floats they averaged.
    public private(set) var communicationCalls: Int = 0
    public private(set) var communicatedFloats: Int = 0

    public init(communicator: Communicator) { self.communicator = communicator }

    public var rank: Int { communicator.rank }
    public var worldSize: Int { communicator.worldSize }

    /// Copies rank 0's values into every rank (at start, so all replicas begin identical).
    public func broadcastFromRoot(_ buffer: UnsafeMutableBufferPointer<Float>) {
        communicator.broadcast(buffer, root: 0)
    }

    /// Replaces each rank's `buffer` by the mean over ranks (gradients, batch-norm statistics).
    public func average(_ buffer: UnsafeMutableBufferPointer<Float>) {
        let start = monotonicSeconds()
        communicator.allreduceMean(buffer)
        communicationSeconds += monotonicSeconds() - start
        communicationCalls += 1
        communicatedFloats += buffer.count
    }

    /// Compares `checksum` (a hash of the exact bits of the state) across ranks.
    /// - Throws: ``DistributedError/ranksDiverged(_:_:)`` naming the ranks that differ from rank 0.
    public func checkConsistency(_ checksum: UInt64, what: String) throws {
        let all = communicator.allgather(checksum)
        let differing = all.indices.filter { all[$0] != all[0] }
        if !differing.isEmpty { throw DistributedError.ranksDiverged(what, differing) }
    }
}

/// Seconds on the monotonic clock (CLOCK_MONOTONIC): for intervals, not dates.
public func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}

/// Errors of the distributed layer.
public enum DistributedError: Error, CustomStringConvertible {
    case ranksDiverged(String, [Int])

    public var description: String {
        switch self {
        case .ranksDiverged(let what, let ranks):
            return "the \(what) of rank(s) \(ranks.map(String.init).joined(separator: ", ")) differ from rank 0's; "
                + "every rank must hold bit-identical state after each step (same binary, same OpenBLAS build and thread count on every host)"
        }
    }
}
