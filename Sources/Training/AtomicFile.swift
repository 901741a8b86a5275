import Foundation

/// Whole-file writes that a reader, a crash or a killed job never sees half done: the bytes go to
/// a temporary file in the same folder (`.NAME.tmp-PID`), which is flushed to the disk (fsync),
/// renamed over the target (atomic on POSIX file systems) and the folder flushed in turn.
enum AtomicFile {
    /// The prefix and infix of the temporary files, so a resumed run can remove stale ones.
    static func temporaryName(for name: String) -> String { ".\(name).tmp-\(getpid())" }

    /// Whether `name` is a temporary file left by a writer that was killed.
    static func isTemporary(_ name: String) -> Bool { name.hasPrefix(".") && name.contains(".tmp-") }

    /// Writes `data` to `url` atomically.
    /// - Parameter midway: called after the first half of the bytes are written (a test hook that
    ///   simulates a kill in the middle of a write).
    /// - Throws: ``AtomicFileError`` with the path and the system's reason (`No space left on
    ///   device`, `File too large`, `Permission denied`...); the temporary file is removed and an
    ///   existing file at `url` is left as it was.
    static func write(_ data: Data, to url: URL, midway: (() -> Void)? = nil) throws {
        let folder = url.deletingLastPathComponent()
        let temporary = folder.appendingPathComponent(temporaryName(for: url.lastPathComponent))
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw AtomicFileError(path: temporary.path, reason: systemError()) }
        var failure: String?
        data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            var offset = 0
            let half = bytes.count / 2
            while offset < bytes.count {
                let end = offset < half && midway != nil ? half : bytes.count
                let n = Glibc.write(fd, bytes.baseAddress! + offset, end - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = systemError(); return
                }
                offset += n
                if offset == half { midway?() }
            }
            if fsync(fd) != 0 { failure = systemError() }
        }
        if close(fd) != 0 && failure == nil { failure = systemError() }
        if failure == nil && rename(temporary.path, url.path) != 0 { failure = systemError() }
        if let failure {
            unlink(temporary.path)
            throw AtomicFileError(path: url.path, reason: failure)
        }
        syncFolder(folder)
    }

    /// Makes `link` name the same file as `target` (a hard link, replaced atomically), or an atomic
    /// copy of `data()` (the target's bytes) where the file system has no hard links.
    static func link(_ link: URL, to target: URL, data: () throws -> Data) throws {
        let temporary = link.deletingLastPathComponent().appendingPathComponent(temporaryName(for: link.lastPathComponent))
        unlink(temporary.path)
        if Glibc.link(target.path, temporary.path) == 0 {
            if rename(temporary.path, link.path) == 0 {
                syncFolder(link.deletingLastPathComponent())
                return
            }
            let reason = systemError()
            unlink(temporary.path)
            throw AtomicFileError(path: link.path, reason: reason)
        }
        try write(try data(), to: link)
    }

    /// fsync of a folder, so a rename in it survives a power loss (best effort).
    static func syncFolder(_ folder: URL) {
        let fd = open(folder.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { _ = fsync(fd); close(fd) }
    }

    static func systemError() -> String { String(cString: strerror(errno)) }
}

/// A file that could not be written, and the system's reason.
struct AtomicFileError: Error, CustomStringConvertible {
    let path: String
    let reason: String
    var description: String { "cannot write \(path): \(reason)" }
}

#if canImport(Glibc)
import Glibc
#endif
