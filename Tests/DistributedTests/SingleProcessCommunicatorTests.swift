import Testing
@testable import Distributed

/// An error with a known description, thrown by a failing `agree` body.
private struct DiskFull: Error, CustomStringConvertible {
    var description: String { "cannot write run/checkpoint.bin: disk full" }
}

@Test func singleProcessCommunicatorIsRankZeroOfOne() {
    let comm = SingleProcessCommunicator()
    #expect(comm.rank == 0)
    #expect(comm.worldSize == 1)
    #expect(!comm.hostName.isEmpty)
    #expect(comm.hostName == currentHostName())
}

@Test func singleProcessCollectivesAreIdentities() {
    let comm = SingleProcessCommunicator()
    var floats: [Float] = [1.5, -2, 0, 3e-7]
    floats.withUnsafeMutableBufferPointer { comm.allreduceSumOrdered($0) }
    #expect(floats == [1.5, -2, 0, 3e-7])
    floats.withUnsafeMutableBufferPointer { comm.broadcast($0, root: 0) }
    #expect(floats == [1.5, -2, 0, 3e-7])
    var doubles = [2.5, -1, 7]
    comm.allreduceSum(&doubles)
    #expect(doubles == [2.5, -1, 7])
    comm.allreduceMax(&doubles)
    #expect(doubles == [2.5, -1, 7])
    var bytes: [UInt8] = [0, 1, 255]
    comm.broadcast(bytes: &bytes, root: 0)
    #expect(bytes == [0, 1, 255])
    #expect(comm.allgather(UInt64(0xDEAD_BEEF)) == [0xDEAD_BEEF])
    #expect(comm.allgather("host-a") == ["host-a"])
    comm.barrier()
}

@Test func allreduceMeanOverOneRankLeavesValuesBitIdentical() {
    let comm = SingleProcessCommunicator()
    let original: [Float] = [0.1, -0.3, 1e-38, 12345.678]
    var values = original
    values.withUnsafeMutableBufferPointer { comm.allreduceMean($0) }
    #expect(values.map(\.bitPattern) == original.map(\.bitPattern))
    let parallel = DataParallel(communicator: comm)
    values.withUnsafeMutableBufferPointer { parallel.average($0) }
    values.withUnsafeMutableBufferPointer { parallel.broadcastFromRoot($0) }
    #expect(values.map(\.bitPattern) == original.map(\.bitPattern))
    #expect(parallel.rank == 0 && parallel.worldSize == 1)
}

@Test func agreeRunsTheBodyOnceAndPassesWhenItSucceeds() throws {
    let comm = SingleProcessCommunicator()
    var runs = 0
    try comm.agree { runs += 1 }
    #expect(runs == 1)
}

@Test func agreeThrowsRankFailureWithTheBodysErrorDescription() {
    let comm = SingleProcessCommunicator()
    do {
        try comm.agree { throw DiskFull() }
        Issue.record("agree did not throw")
    } catch let failure as RankFailure {
        #expect(failure.rank == 0)
        #expect(failure.worldSize == 1)
        #expect(failure.message == "cannot write run/checkpoint.bin: disk full")
        #expect(failure.host == comm.hostName)
        // With one rank the description is the message alone (no "rank 0 on host:" prefix).
        #expect(failure.description == "cannot write run/checkpoint.bin: disk full")
    } catch {
        Issue.record("agree threw \(error), not a RankFailure")
    }
}

@Test func rankFailureDescriptionNamesRankAndHostWhenThereAreSeveralRanks() {
    let failure = RankFailure(rank: 2, host: "node7", message: "out of memory", worldSize: 4)
    #expect(failure.description == "rank 2 on node7: out of memory")
}

@Test func rankFailureDescriptionNamesEveryOtherFailingRank() {
    var failure = RankFailure(rank: 1, host: "node1", message: "no data", worldSize: 8,
                              otherFailures: ["rank 2 on node2", "rank 3 on node2"])
    #expect(failure.description == "rank 1 on node1: no data (also failed: rank 2 on node2, rank 3 on node2)")
    failure.otherFailures = (2..<8).map { "rank \($0) on n" }
    #expect(failure.description.hasSuffix("(also failed: rank 2 on n, rank 3 on n, rank 4 on n, rank 5 on n and 2 more)"))
}

/// Rank 0 of a job whose other ranks hold `others` as their checksums: `allgather` of a UInt64
/// returns rank 0's value followed by theirs; every other collective is the identity.
private final class OtherRanksCommunicator: Communicator {
    let others: [UInt64]
    init(others: [UInt64]) { self.others = others }
    var rank: Int { 0 }
    var worldSize: Int { 1 + others.count }
    var hostName: String { "node0" }
    func allreduceSumOrdered(_ buffer: UnsafeMutableBufferPointer<Float>) {}
    func allreduceSum(_ values: inout [Double]) {}
    func allreduceMax(_ values: inout [Double]) {}
    func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) {}
    func broadcast(bytes: inout [UInt8], root: Int) {}
    func allgather(_ value: UInt64) -> [UInt64] { [value] + others }
    func allgather(_ value: String) -> [String] { Array(repeating: value, count: worldSize) }
    func barrier() {}
    func abort(code: Int32) -> Never { fatalError("abort(\(code))") }
}

/// The ranks that `checkConsistency` names as differing from rank 0 ([] when it passes).
private func divergedRanks(_ checksum: UInt64, others: [UInt64], what: String = "weights") -> [Int] {
    do {
        try DataParallel(communicator: OtherRanksCommunicator(others: others)).checkConsistency(checksum, what: what)
        return []
    } catch DistributedError.ranksDiverged(let name, let ranks) {
        #expect(name == what)
        return ranks
    } catch {
        Issue.record("checkConsistency threw \(error)")
        return []
    }
}

@Test func consistencyCheckPassesWhenEveryRankAgreesAndNamesTheRanksThatDiffer() throws {
    try DataParallel(communicator: SingleProcessCommunicator()).checkConsistency(0x1234_5678_9ABC_DEF0, what: "weights")
    #expect(divergedRanks(7, others: [7, 7, 7]) == [])
    #expect(divergedRanks(7, others: [8, 7, 9], what: "alphas") == [1, 3])
    // Rank 0 is the reference: when it alone differs, every other rank is named.
    #expect(divergedRanks(0, others: [5, 5, 5]) == [1, 2, 3])
    // One flipped bit is a difference.
    #expect(divergedRanks(0x8000_0000_0000_0000, others: [0x8000_0000_0000_0001]) == [1])
}

@Test func ranksDivergedDescriptionNamesTheStateAndTheRanks() {
    let error = DistributedError.ranksDiverged("weights", [1, 3])
    #expect(error.description.contains("the weights of rank(s) 1, 3 differ from rank 0's"))
    #expect("\(error)".contains("rank(s) 1, 3"))
}
