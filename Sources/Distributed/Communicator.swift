/// The collective operations a data-parallel search needs, over ranks 0..<worldSize (MPI's
/// vocabulary). Every rank must call the same collectives in the same order.
public protocol Communicator: AnyObject {
    /// This process's index, 0..<worldSize.
    var rank: Int { get }
    /// The number of processes.
    var worldSize: Int { get }
    /// The host this rank runs on.
    var hostName: String { get }

    /// In-place sum over ranks in a fixed order, ((x_0 + x_1) + x_2) + ... for every element, so
    /// the result is bit-identical to one process adding the same P values in rank order. Costs
    /// about what a ring allreduce does (each rank sends and receives about 2 N floats): an
    /// all-to-all of chunks, an ordered sum of this rank's chunk, an allgather of the sums.
    func allreduceSumOrdered(_ buffer: UnsafeMutableBufferPointer<Float>)
    /// In-place sum over ranks of double-precision values (metrics: loss sums, counts).
    func allreduceSum(_ values: inout [Double])
    /// In-place maximum over ranks (used to agree on failure flags).
    func allreduceMax(_ values: inout [Double])
    /// Copies `buffer` from `root` into every rank's `buffer`.
    func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int)
    /// Copies bytes from `root` to every rank (configuration, checkpoint blobs).
    func broadcast(bytes: inout [UInt8], root: Int)
    /// Every rank's `value`, indexed by rank.
    func allgather(_ value: UInt64) -> [UInt64]
    /// Every rank's string, indexed by rank (host names, error messages).
    func allgather(_ value: String) -> [String]
    /// Blocks until every rank has called it.
    func barrier()
    /// Ends every rank of the job with `code` (MPI_Abort); never returns.
    func abort(code: Int32) -> Never
}

extension Communicator {
    /// In-place mean over ranks: the rank-ordered sum (``allreduceSumOrdered(_:)``), then a scale
    /// by 1 / worldSize: bit-identical to one process averaging the same values in rank order.
    public func allreduceMean(_ buffer: UnsafeMutableBufferPointer<Float>) {
        guard worldSize > 1 else { return }
        allreduceSumOrdered(buffer)
        let scale = 1 / Float(worldSize)
        for i in buffer.indices { buffer[i] *= scale }
    }
}

/// The communicator of a job with one process: every collective is the identity.
public final class SingleProcessCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var worldSize: Int { 1 }
    public var hostName: String { currentHostName() }
    public func allreduceSumOrdered(_ buffer: UnsafeMutableBufferPointer<Float>) {}
    public func allreduceSum(_ values: inout [Double]) {}
    public func allreduceMax(_ values: inout [Double]) {}
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) {}
    public func broadcast(bytes: inout [UInt8], root: Int) {}
    public func allgather(_ value: UInt64) -> [UInt64] { [value] }
    public func allgather(_ value: String) -> [String] { [value] }
    public func barrier() {}
    public func abort(code: Int32) -> Never { exit(code) }
}

/// The machine's host name (gethostname).
public func currentHostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    gethostname(&buffer, buffer.count)
    return String(cString: buffer)
}

#if canImport(Glibc)
import Glibc
#endif
