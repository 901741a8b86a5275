/// An error that every rank throws at the same point of a job, so the job can end cleanly (each
/// rank finalizes MPI and exits non-zero) instead of aborting.
public protocol CollectiveError: Error {}

/// A failure of one or more ranks, seen by all: the first failing rank and its message.
public struct RankFailure: CollectiveError, CustomStringConvertible {
    public let rank: Int
    public let host: String
    public let message: String
    public let worldSize: Int
    /// The other ranks that failed at the same point, as "rank R on HOST", in rank order.
    public var otherFailures: [String] = []

    /// "rank 2 on node7: out of memory (also failed: rank 3 on node8)"; the message alone with one rank.
    public var description: String {
        guard worldSize > 1 else { return message }
        var text = "rank \(rank) on \(host): \(message)"
        if !otherFailures.isEmpty {
            let shown = otherFailures.prefix(4).joined(separator: ", ")
            let more = otherFailures.count > 4 ? " and \(otherFailures.count - 4) more" : ""
            text += " (also failed: \(shown)\(more))"
        }
        return text
    }
}

extension Communicator {
    /// Runs `body` on every rank and makes every rank throw together when any rank failed, so no
    /// rank is left waiting in a later collective. Costs one small allreduce (and an allgather of
    /// the messages when something failed).
    /// - Throws: ``RankFailure`` naming the lowest failing rank, its host and its error.
    public func agree(_ body: () throws -> Void) throws {
        var failure: Error?
        do { try body() } catch { failure = error }
        var flag = [failure == nil ? 0.0 : 1.0]
        allreduceMax(&flag)
        if flag[0] == 0 { return }
        let failed = allgather(failure == nil ? 0 : 1)
        let messages = allgather(failure.map { "\($0)" } ?? "")
        let hosts = allgather(hostName)
        let failing = failed.indices.filter { failed[$0] == 1 }
        let first = failing.first ?? 0
        throw RankFailure(rank: first, host: hosts[first], message: messages[first], worldSize: worldSize,
                          otherFailures: failing.dropFirst().map { "rank \($0) on \(hosts[$0])" })
    }
}
