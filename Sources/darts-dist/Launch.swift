import ArgumentParser
import Distributed
import Foundation

/// Runs `body` on this process's communicator: MPI when started by an MPI launcher, a single
/// process otherwise. Errors end the job: when every rank failed together (bad options, bad data)
/// rank 0 prints the error and all exit 1; when one rank fails alone, it prints the error with its
/// rank and host and aborts the whole job (MPI_Abort), so no rank is left waiting.
func runDistributed(_ body: (Communicator) throws -> Void) throws {
    configureAllocator()
    if MPICommunicator.launchedByMPI {
        let mpi = MPICommunicator()
        do {
            try checkSameBuild(mpi)
            try body(mpi)
        } catch {
            if error is CollectiveError {
                // Every rank has the same error: rank 0 reports it, all end cleanly.
                if mpi.rank == 0 { FileHandle.standardError.write(Data("error: \(error)\n".utf8)) }
                mpi.finalize()
                throw ExitCode.failure
            }
            // This rank failed alone: report it with its rank and host, and end every rank.
            let text = "error (rank \(mpi.rank) of \(mpi.worldSize) on \(mpi.hostName)): \(error); aborting all ranks\n"
            FileHandle.standardError.write(Data(text.utf8))
            mpi.abort(code: 1)
        }
        mpi.finalize()
    } else {
        do {
            try body(SingleProcessCommunicator())
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}

/// Keeps large tensor allocations on the heap (no mmap/munmap for each) and freed memory in the
/// process, so the allocations of one training step are reused by the next.
func configureAllocator() {
    let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3   // glibc's M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
    _ = glibcMallopt(mmapThreshold, 1 << 30)
    _ = glibcMallopt(trimThreshold, 1 << 30)
}

@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
