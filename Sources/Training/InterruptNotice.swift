import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// While a run is writing its folder, Ctrl-C (SIGINT) or a scheduler's SIGTERM prints one line on
/// standard error that says how to continue the run, then ends the process as the signal would
/// have (the same exit status, so mpirun and batch systems see the interruption). The checkpoints
/// are written atomically (temporary file, then rename), so the folder never holds half of one.
///
/// Installed on rank 0 only, so an interrupted mpirun job prints the line once.
public enum InterruptNotice {
    /// The line, preformatted: the handler only calls write(2), raise(3) and signal(2), which are
    /// async-signal-safe.
    nonisolated(unsafe) private static var line: UnsafeMutablePointer<UInt8>?
    nonisolated(unsafe) private static var length = 0

    /// Prints `text` (one line) if SIGINT or SIGTERM arrives before ``remove()``.
    public static func install(_ text: String) {
        let bytes = Array((text + "\n").utf8)
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: bytes.count)
        buffer.initialize(from: bytes, count: bytes.count)
        line = buffer   // never freed: a handler may be reading the previous one
        length = bytes.count
        // A launcher may pass both signals blocked (a process started from a thread that blocks
        // them inherits its mask); the run is to be interruptible as from a terminal.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGINT)
        sigaddset(&unblock, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { received in
                if let line = InterruptNotice.line {
                    _ = write(STDERR_FILENO, "\n", 1)
                    _ = write(STDERR_FILENO, line, InterruptNotice.length)
                }
                signal(received, SIG_DFL)
                raise(received)
            }
        }
    }

    /// The default dispositions again (the run's files are complete).
    public static func remove() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }

    /// "darts-dist COMMAND --resume FOLDER", under "mpirun -np N" for several ranks.
    static func resumeCommand(_ command: String, folder: String, worldSize: Int) -> String {
        (worldSize > 1 ? "mpirun -np \(worldSize) " : "") + "darts-dist \(command) --resume \(folder)"
    }
}
