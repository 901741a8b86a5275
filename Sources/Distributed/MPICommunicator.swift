import CMPI

/// A ``Communicator`` over MPI_COMM_WORLD (OpenMPI). Create one per process, after which every
/// rank must reach the same collectives; ``finalize()`` before exiting normally.
///
/// MPI errors are fatal (MPI_ERRORS_ARE_FATAL, the default): a failed collective ends the whole
/// job instead of leaving ranks waiting.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let worldSize: Int
    public let hostName: String
    private var finalized = false
    /// Send and receive space of the ordered allreduce, kept between calls.
    private var scratch: [Float] = []

    /// Initialises MPI (MPI_Init_thread with MPI_THREAD_FUNNELED).
    public init() {
        var provided: Int32 = 0
        MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided)
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(cmpi_comm_world(), &r)
        MPI_Comm_size(cmpi_comm_world(), &s)
        rank = Int(r)
        worldSize = Int(s)
        var name = [CChar](repeating: 0, count: Int(cmpi_max_processor_name()) + 1)
        var length: Int32 = 0
        MPI_Get_processor_name(&name, &length)
        hostName = String(cString: name)
    }

    /// Whether this process was started by an MPI launcher (mpirun, srun with PMI/PMIx), judged by
    /// the environment variables the launchers set. Without one, a job runs as a single process
    /// and never initialises MPI.
    public static var launchedByMPI: Bool {
        let env = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"].contains { env[$0] != nil }
    }

    /// This process's rank as its launcher set it in the environment (OpenMPI, PMIx, MPICH's
    /// PMI), read before MPI is initialised; nil when no MPI launcher started it.
    public static var launcherRank: Int? {
        let env = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"].lazy.compactMap { env[$0].flatMap { Int($0) } }.first
    }

    public func allreduceSumOrdered(_ buffer: UnsafeMutableBufferPointer<Float>) {
        guard worldSize > 1, let base = buffer.baseAddress else { return }
        let p = worldSize
        let chunk = (buffer.count + p - 1) / p
        precondition(chunk * p < Int(Int32.max), "allreduceSumOrdered: buffer too large for one call")
        if scratch.count < 2 * chunk * p { scratch = [Float](repeating: 0, count: 2 * chunk * p) }
        scratch.withUnsafeMutableBufferPointer { s in
            let send = s.baseAddress!, receive = s.baseAddress! + chunk * p
            // send: the buffer padded to P chunks; chunk c goes to rank c.
            send.update(from: base, count: buffer.count)
            (send + buffer.count).update(repeating: 0, count: chunk * p - buffer.count)
            MPI_Alltoall(send, Int32(chunk), cmpi_float(), receive, Int32(chunk), cmpi_float(), cmpi_comm_world())
            // receive: every rank's copy of this rank's chunk, in rank order; sum them in that order.
            let mine = send   // reuse: the first chunk of `send` holds the sum
            mine.update(from: receive, count: chunk)
            for r in 1..<p {
                let other = receive + r * chunk
                for i in 0..<chunk { mine[i] += other[i] }
            }
            // Every rank's summed chunk, in rank order: the whole reduced buffer.
            MPI_Allgather(mine, Int32(chunk), cmpi_float(), receive, Int32(chunk), cmpi_float(), cmpi_comm_world())
            base.update(from: receive, count: buffer.count)
        }
    }

    public func allreduceSum(_ values: inout [Double]) {
        guard worldSize > 1, !values.isEmpty else { return }
        values.withUnsafeMutableBufferPointer {
            _ = MPI_Allreduce(cmpi_in_place(), $0.baseAddress, Int32($0.count), cmpi_double(), cmpi_sum(), cmpi_comm_world())
        }
    }

    public func allreduceMax(_ values: inout [Double]) {
        guard worldSize > 1, !values.isEmpty else { return }
        values.withUnsafeMutableBufferPointer {
            _ = MPI_Allreduce(cmpi_in_place(), $0.baseAddress, Int32($0.count), cmpi_double(), cmpi_max(), cmpi_comm_world())
        }
    }

    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) {
        guard worldSize > 1, let base = buffer.baseAddress else { return }
        MPI_Bcast(base, Int32(buffer.count), cmpi_float(), Int32(root), cmpi_comm_world())
    }

    public func broadcast(bytes: inout [UInt8], root: Int) {
        guard worldSize > 1 else { return }
        var length = UInt64(bytes.count)
        MPI_Bcast(&length, 1, cmpi_uint64(), Int32(root), cmpi_comm_world())
        if rank != root { bytes = [UInt8](repeating: 0, count: Int(length)) }
        if length > 0 {
            bytes.withUnsafeMutableBytes {
                _ = MPI_Bcast($0.baseAddress, Int32(length), cmpi_char(), Int32(root), cmpi_comm_world())
            }
        }
    }

    public func allgather(_ value: UInt64) -> [UInt64] {
        var mine = value
        var all = [UInt64](repeating: 0, count: worldSize)
        MPI_Allgather(&mine, 1, cmpi_uint64(), &all, 1, cmpi_uint64(), cmpi_comm_world())
        return all
    }

    public func allgather(_ value: String) -> [String] {
        let bytes = Array(value.utf8.prefix(1024))
        var padded = bytes + [UInt8](repeating: 0, count: 1024 - bytes.count)
        var all = [UInt8](repeating: 0, count: 1024 * worldSize)
        MPI_Allgather(&padded, 1024, cmpi_char(), &all, 1024, cmpi_char(), cmpi_comm_world())
        return (0..<worldSize).map { r in
            let slice = all[(r * 1024)..<((r + 1) * 1024)]
            return String(decoding: slice.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    public func barrier() {
        if worldSize > 1 { MPI_Barrier(cmpi_comm_world()) }
    }

    public func abort(code: Int32) -> Never {
        MPI_Abort(cmpi_comm_world(), code)
        exit(code)
    }

    /// Ends MPI (MPI_Finalize). Call once, after the last collective.
    public func finalize() {
        guard !finalized else { return }
        finalized = true
        MPI_Finalize()
    }
}

import Foundation
