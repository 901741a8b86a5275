import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// While a run is writing its folder, Ctrl-C (SIGINT) or a scheduler's SIGTERM prints one line on
/// standard error that says what the folder holds and how to go on, then ends the process as the
/// signal would have (so mpirun and batch systems see the interruption). The line follows the
/// run: before its first checkpoint it says there is nothing to resume; after one, it gives the
/// `--resume` command. Checkpoints are written atomically (temporary file, then rename), so the
/// folder never holds half of one.
///
/// Installed on rank 0 only, so an interrupted mpirun job prints the line once. A rank started
/// by a local mpirun writes the line straight to mpirun's own standard error when that is a
/// terminal or a pipe, not through mpirun's output forwarding: a second Ctrl-C makes mpirun exit
/// at once, and the forwarded line would be lost with it. Into a log file it goes forwarded.
public enum InterruptNotice {
    /// The line, NUL-terminated and swapped whole: the handler only calls strlen(3), write(2),
    /// signal(2) and raise(3), which are async-signal-safe.
    nonisolated(unsafe) private static var line: UnsafeMutablePointer<CChar>?
    /// Where the line goes: mpirun's standard error when this process is a rank that a local
    /// mpirun started, else this process's standard error.
    nonisolated(unsafe) private static var output: Int32 = STDERR_FILENO

    /// Prints `text` (one line) if SIGINT or SIGTERM arrives before ``remove()``; called again,
    /// replaces the line.
    public static func install(_ text: String) {
        let buffer = strdup("\n" + text + "\n")
        let first = line == nil
        line = buffer   // the previous line is never freed: a handler may be writing it
        guard first else { return }
        output = launcherStandardError() ?? STDERR_FILENO
        unblockInterruptSignals()
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { received in
                if let text = InterruptNotice.line { _ = write(InterruptNotice.output, text, strlen(text)) }
                signal(received, SIG_DFL)
                raise(received)
            }
        }
    }

    /// mpirun's standard error when the parent process is a local mpirun (orterun, mpiexec,
    /// prterun) and it is a terminal or a pipe; nil otherwise (srun, orted on another node, no
    /// launcher, or a regular file). A log file (`mpirun ... > log 2>&1`, a batch job's output)
    /// is left to mpirun's forwarding: a line appended there through another open file would be
    /// written over by mpirun's next output, which goes on at mpirun's own file offset.
    static func launcherStandardError() -> Int32? {
        let parent = getppid()
        guard ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil, parent > 1,
              let name = try? String(contentsOfFile: "/proc/\(parent)/comm", encoding: .utf8)
                  .trimmingCharacters(in: .whitespacesAndNewlines),
              ["mpirun", "orterun", "mpiexec", "prterun"].contains(name) else { return nil }
        let fd = open("/proc/\(parent)/fd/2", O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var info = stat()
        if fstat(fd, &info) != 0 || info.st_mode & S_IFMT == S_IFREG {
            close(fd)
            return nil
        }
        return fd
    }

    /// On the other ranks: SIGINT or SIGTERM ends the process one second late. mpirun forwards
    /// Ctrl-C to every rank as SIGTERM and kills the remaining ranks (SIGKILL) as soon as one has
    /// ended, so a rank that ended at once could take rank 0 with it before rank 0 had printed
    /// its line (on a busy machine, or after a second Ctrl-C).
    public static func deferOtherRanksExit() {
        unblockInterruptSignals()
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { received in
                var pause = timespec(tv_sec: 1, tv_nsec: 0)
                _ = nanosleep(&pause, nil)
                signal(received, SIG_DFL)
                raise(received)
            }
        }
    }

    /// Unblocks SIGINT and SIGTERM in this thread. A launcher may pass both blocked (a process
    /// started from a thread that blocks them inherits its mask, as `swift test` does); the run is
    /// to be interruptible as from a terminal.
    private static func unblockInterruptSignals() {
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGINT)
        sigaddset(&unblock, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    }

    /// The default dispositions again (the run's files are complete).
    public static func remove() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
        line = nil
    }

    /// The command that continues a run: this program as it was started, `COMMAND --resume
    /// FOLDER`, for several ranks under `mpirun -np N` with the mpirun flags that can be read back
    /// (``mpirunFlags(_:)``) and `-x OPENBLAS_NUM_THREADS=T` (this rank's T, or 1).
    static func resumeCommand(_ command: String, folder: String, worldSize: Int,
                              environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let program = CommandLine.arguments.first ?? "darts-dist"
        guard worldSize > 1 else { return "\(program) \(command) --resume \(folder)" }
        let threads = environment["OPENBLAS_NUM_THREADS"] ?? "1"
        return (["mpirun", "-np", String(worldSize)] + mpirunFlags(environment) + ["-x", "OPENBLAS_NUM_THREADS=\(threads)"])
            .joined(separator: " ") + " \(program) \(command) --resume \(folder)"
    }

    /// The mpirun flags a rank can read back from the environment OpenMPI gives it:
    /// `--oversubscribe` (OMPI_MCA_rmaps_base_oversubscribe=1), `--map-by X`
    /// (OMPI_MCA_rmaps_base_mapping_policy), `--bind-to X` (OMPI_MCA_hwloc_base_binding_policy) and
    /// every `--mca NAME VALUE` (OMPI_MCA_NAME) but those OpenMPI sets itself. A hostfile and the
    /// variables passed with `-x` leave no trace.
    static func mpirunFlags(_ environment: [String: String]) -> [String] {
        let prefix = "OMPI_MCA_"
        let own: Set<String> = ["ess", "pmix", "initial_wdir", "mpi_oversubscribe", "shmem_RUNTIME_QUERY_hint",
                                "rmaps_base_oversubscribe", "rmaps_base_mapping_policy", "hwloc_base_binding_policy"]
        var flags: [String] = []
        if environment[prefix + "rmaps_base_oversubscribe"] == "1" { flags.append("--oversubscribe") }
        if let policy = environment[prefix + "rmaps_base_mapping_policy"] { flags += ["--map-by", policy] }
        if let policy = environment[prefix + "hwloc_base_binding_policy"] { flags += ["--bind-to", policy] }
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) where key.hasPrefix(prefix) {
            let name = String(key.dropFirst(prefix.count))
            guard !own.contains(name), !name.hasPrefix("orte_"), !name.hasPrefix("ess_"), !name.hasPrefix("mca_base_") else { continue }
            flags += ["--mca", name, value.contains(" ") || value.isEmpty ? "'\(value)'" : value]
        }
        return flags
    }

    /// The line of a run with a checkpoint: what `folder` keeps, and the command that resumes it.
    static func afterCheckpoint(_ command: String, folder: String, keeps: String, worldSize: Int) -> String {
        "darts-dist \(command): interrupted; \(folder) keeps \(keeps): "
            + "continue with `\(resumeCommand(command, folder: folder, worldSize: worldSize))`"
            + (worldSize > 1 ? " (and your other mpirun flags, such as --hostfile or -x VARIABLE, which cannot be read back)" : "")
    }

    /// The line a job under mpirun prints when it starts (nil for one process, whose Ctrl-C
    /// always prints ``afterCheckpoint(_:folder:keeps:worldSize:)``): how to stop it and the
    /// command that continues it. A second Ctrl-C makes mpirun have OpenMPI's runtime end every
    /// rank at once (exit status 195, before any handler runs), so the interrupt line can be lost;
    /// this one is already on the screen or in the log.
    static func startHint(_ command: String, folder: String, worldSize: Int,
                          environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard worldSize > 1 else { return nil }
        return "to stop: Ctrl-C once (the \(command) keeps its checkpoints; a second Ctrl-C ends every rank at once, "
            + "without a message); to continue after a checkpoint: "
            + "`\(resumeCommand(command, folder: folder, worldSize: worldSize, environment: environment))` "
            + "with your other mpirun flags"
    }

    /// The line of a run that has no checkpoint yet.
    static func beforeFirstCheckpoint(_ command: String, folder: String) -> String {
        "darts-dist \(command): interrupted before its first checkpoint; \(folder) holds nothing to resume: "
            + "start the \(command) again with a new --out (or after removing \(folder))"
    }
}
