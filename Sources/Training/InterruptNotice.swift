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
/// Installed on rank 0 only, so an interrupted mpirun job prints the line once.
public enum InterruptNotice {
    /// The line, NUL-terminated and swapped whole: the handler only calls strlen(3), write(2),
    /// signal(2) and raise(3), which are async-signal-safe.
    nonisolated(unsafe) private static var line: UnsafeMutablePointer<CChar>?

    /// Prints `text` (one line) if SIGINT or SIGTERM arrives before ``remove()``; called again,
    /// replaces the line.
    public static func install(_ text: String) {
        let buffer = strdup("\n" + text + "\n")
        let first = line == nil
        line = buffer   // the previous line is never freed: a handler may be writing it
        guard first else { return }
        // A launcher may pass both signals blocked (a process started from a thread that blocks
        // them inherits its mask); the run is to be interruptible as from a terminal.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGINT)
        sigaddset(&unblock, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { received in
                if let text = InterruptNotice.line { _ = write(STDERR_FILENO, text, strlen(text)) }
                signal(received, SIG_DFL)
                raise(received)
            }
        }
    }

    /// The default dispositions again (the run's files are complete).
    public static func remove() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
        line = nil
    }

    /// The command that continues a run: this program as it was started, `COMMAND --resume
    /// FOLDER`, under `mpirun -np N -x OPENBLAS_NUM_THREADS=1` for several ranks.
    static func resumeCommand(_ command: String, folder: String, worldSize: Int) -> String {
        let program = CommandLine.arguments.first ?? "darts-dist"
        return (worldSize > 1 ? "mpirun -np \(worldSize) -x OPENBLAS_NUM_THREADS=1 " : "")
            + "\(program) \(command) --resume \(folder)"
    }

    /// The line of a run with a checkpoint: what `folder` keeps, and the command that resumes it.
    static func afterCheckpoint(_ command: String, folder: String, keeps: String, worldSize: Int) -> String {
        "darts-dist \(command): interrupted; \(folder) keeps \(keeps): "
            + "continue with `\(resumeCommand(command, folder: folder, worldSize: worldSize))`"
    }

    /// The line of a run that has no checkpoint yet.
    static func beforeFirstCheckpoint(_ command: String, folder: String) -> String {
        "darts-dist \(command): interrupted before its first checkpoint; \(folder) holds nothing to resume: "
            + "start the \(command) again with a new --out (or after removing \(folder))"
    }
}
