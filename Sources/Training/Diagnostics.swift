import Distributed
import Foundation
import Logging

/// Diagnostic messages (swift-log) for `--log-level`: on standard error, every line tagged with
/// the rank and host that wrote it (`host=node2 rank=3`), every rank writing its own. Progress and
/// results are not diagnostics: rank 0 prints them on standard output whatever the level.
public enum Diagnostics {
    /// The level in force (`--log-level`; warning by default).
    public private(set) static var level: Logger.Level = .warning
    private static var bootstrapped = false

    /// Sends the process's loggers to standard error at `level` and above, with `rank` and `host`
    /// as metadata of every message. Call once, before the first message; later calls only change
    /// the level (swift-log's bootstrap can run once per process).
    public static func bootstrap(level: Logger.Level, rank: Int, host: String) {
        self.level = level
        guard !bootstrapped else { return }
        bootstrapped = true
        let provider = Logger.MetadataProvider { ["rank": "\(rank)", "host": "\(host)"] }
        LoggingSystem.bootstrap({ label, metadataProvider in
            StreamLogHandler.standardError(label: label, metadataProvider: metadataProvider)
        }, metadataProvider: provider)
    }

    /// A logger at the level in force.
    public static var logger: Logger {
        var logger = Logger(label: "darts-dist")
        logger.logLevel = level
        return logger
    }

    /// Tells (debug) where this rank runs and with how many OpenBLAS threads, and warns (on the
    /// first rank of each host) when several ranks share a host while OpenBLAS may start one thread
    /// per core in each of them.
    public static func reportStart(_ communicator: Communicator, environment: [String: String] = ProcessInfo.processInfo.environment) {
        let threads = environment["OPENBLAS_NUM_THREADS"] ?? environment["OMP_NUM_THREADS"]
        let localRank = environment["OMPI_COMM_WORLD_LOCAL_RANK"] ?? environment["SLURM_LOCALID"]
        let localSize = environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init)
        logger.debug("started", metadata: [
            "worldSize": "\(communicator.worldSize)",
            "pid": "\(ProcessInfo.processInfo.processIdentifier)",
            "localRank": "\(localRank ?? "-")",
            "ranksOnHost": "\(localSize.map(String.init) ?? "-")",
            "openblasThreads": "\(threads ?? "unset")",
            "cores": "\(ProcessInfo.processInfo.activeProcessorCount)",
        ])
        if let warning = openBLASWarning(ranksOnHost: localSize, openBLASThreads: threads), localRank == "0" {
            logger.warning("\(warning)")
        }
    }

    /// The warning for several ranks on one host without a thread count for OpenBLAS, or nil.
    static func openBLASWarning(ranksOnHost: Int?, openBLASThreads: String?) -> String? {
        guard let ranksOnHost, ranksOnHost > 1, openBLASThreads == nil else { return nil }
        return "\(ranksOnHost) ranks share this host and OPENBLAS_NUM_THREADS is unset: OpenBLAS may start one "
            + "thread per core in every rank; pass -x OPENBLAS_NUM_THREADS=1 to mpirun"
    }
}
