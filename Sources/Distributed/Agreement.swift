/// An error that every rank throws at the same point of a job, so the job can end cleanly (each
/// rank finalizes MPI and exits non-zero) instead of aborting.
public protocol CollectiveError: Error {}

/// A failure of one or more ranks, seen by all: the first failing rank and its message.
public struct RankFailure: CollectiveError, CustomStringConvertible {
    public let rank: Int
    public let host: String
    public let message: String
    public let worldSize: Int

    public var description: String {
        worldSize > 1 ? "rank \(rank) on \(host): \(message)" : message
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
        let first = failed.firstIndex(of: 1) ?? 0
        throw RankFailure(rank: first, host: hosts[first], message: messages[first], worldSize: worldSize)
    }
}
