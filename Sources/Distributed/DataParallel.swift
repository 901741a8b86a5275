import DartsTensor

/// Data parallelism over flat buffers (docs/algorithm.md §8): the same start on every rank, gradients
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

    /// When set (benchmarks), every average starts with a barrier whose time is counted as
    /// `wait` (load imbalance), so that `allreduce` is the communication alone.
    public var separatesWaiting = false

    public init(communicator: Communicator) { self.communicator = communicator }

    public var rank: Int { communicator.rank }
    public var worldSize: Int { communicator.worldSize }

    /// Copies rank 0's values into every rank (at start, so all replicas begin identical).
    public func broadcastFromRoot(_ buffer: UnsafeMutableBufferPointer<Float>) {
        Profiler.measure(.communication) { communicator.broadcast(buffer, root: 0) }
    }

    /// Replaces each rank's `buffer` by the mean over ranks (gradients, batch-norm statistics).
    public func average(_ buffer: UnsafeMutableBufferPointer<Float>) {
        if separatesWaiting && communicator.worldSize > 1 { Profiler.measure(.wait) { communicator.barrier() } }
        let start = Profiler.now()
        communicator.allreduceMean(buffer)
        let seconds = Profiler.now() - start
        Profiler.add(seconds, to: .communication)
        communicationSeconds += seconds
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
