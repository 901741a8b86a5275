import Foundation
import InputText

/// Whole-file writes that a reader, a crash or a killed job never sees half done: the bytes go to
/// a temporary file in the same folder (`.NAME.tmp-PID`), which is flushed to the disk (fsync),
/// renamed over the target (atomic on POSIX file systems) and the folder flushed in turn.
///
/// Only a regular file is ever replaced: a target that exists and is anything else (a device
/// node, a FIFO, a socket, a folder, a symbolic link) is refused with ``OutputPathError`` and left
/// as it is, since a rename would put a regular file in its place (`--dot /dev/null` as root
/// would replace the device).
public enum AtomicFile {
    /// Refuses `path` as an output when something other than a regular file is there (lstat(2):
    /// a symbolic link is refused whatever it points to). A missing path, or one whose folder
    /// cannot be read, passes: the write itself then reports what is wrong.
    /// - Parameter name: how messages name the path ("--dot cells.dot"); the path by default.
    /// - Throws: ``OutputPathError`` naming the path and what is there.
    public static func checkReplaceable(_ path: String, name: String? = nil) throws {
        guard let kind = kind(of: path), kind != regularFile else { return }
        throw OutputPathError(name: name ?? path, kind: kind)
    }

    /// Refuses, before the work whose result it will hold, an output file that could not be
    /// written at the end: a folder at `path`, something else that is not a regular file there
    /// (``checkReplaceable(_:name:)``), or a parent folder that cannot take a new file
    /// (``checkFolderTakesFiles(_:for:)``).
    /// - Parameters:
    ///   - flag: the flag that gave the path ("--scores"); messages name both.
    ///   - example: a file name for the fix when `path` is a folder ("scores.json").
    /// - Throws: ``OutputPathError`` for something other than a regular file at `path`,
    ///   ``UnwritableOutputError`` for the rest, each naming the flag, the path and the fix.
    public static func checkWritable(_ path: String, flag: String, example: String) throws {
        guard !path.isEmpty else { throw UnwritableOutputError(description: "\(flag) is empty; give a file path such as \(example)") }
        // lstat: a symbolic link to a folder is refused as a link (checkReplaceable), not taken for the folder.
        if kind(of: path) == "a folder" || path.hasSuffix("/") {
            throw UnwritableOutputError(description: "\(flag) \(path) is a folder; give a file path such as "
                + URL(fileURLWithPath: path).appendingPathComponent(example).path)
        }
        try checkReplaceable(path, name: "\(flag) \(path)")
        try checkFolderTakesFiles(URL(fileURLWithPath: path).deletingLastPathComponent().path, for: "\(flag) \(path)")
    }

    /// Refuses a folder in which an output cannot be created: missing, not a folder, not writable,
    /// or on a file system that refuses new files though the folder looks writable (/proc, /sys, a
    /// read-only mount, one out of inodes), found by creating and removing an empty probe file of
    /// a unique name in it (mkstemp(3)). A full disk is not found this way: the write reports it.
    /// - Parameter name: the flag and path the folder is for ("--json out/bench.json").
    /// - Throws: ``UnwritableOutputError`` naming `name`, the folder, the reason and the fix.
    public static func checkFolderTakesFiles(_ folder: String, for name: String) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) else {
            throw UnwritableOutputError(description: "\(name): the folder \(folder) does not exist; create it or give another path")
        }
        guard isFolder.boolValue else {
            throw UnwritableOutputError(description: "\(name): \(folder) is not a folder; give another path")
        }
        guard access(folder, W_OK) == 0 else {
            throw UnwritableOutputError(description: "\(name): the folder \(folder) is not writable; give another path")
        }
        var template = Array(URL(fileURLWithPath: folder).appendingPathComponent(".darts-dist-probe-XXXXXX").path.utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw UnwritableOutputError(description: "\(name): cannot create a file in \(folder) (\(systemError())); give another path")
        }
        close(fd)
        let probe = String(cString: template)
        guard unlink(probe) == 0 else {
            throw UnwritableOutputError(description: "\(name): cannot remove the file \(probe) it created in \(folder) "
                + "(\(systemError())); give another path")
        }
    }

    /// How ``kind(of:)`` names a regular file.
    public static let regularFile = "a regular file"

    /// What is at `path` (lstat(2), so a symbolic link is named as one): ``regularFile``, "a
    /// folder", "a character device", "a symbolic link to /etc/passwd", ...; nil when nothing is
    /// there (or its folder cannot be read).
    public static func kind(of path: String) -> String? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        let kind: String
        switch info.st_mode & S_IFMT {
        case S_IFREG: kind = regularFile
        case S_IFDIR: kind = "a folder"
        case S_IFCHR: kind = "a character device"
        case S_IFBLK: kind = "a block device"
        case S_IFIFO: kind = "a FIFO (named pipe)"
        case S_IFSOCK: kind = "a socket"
        case S_IFLNK:
            var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(path, &target, target.count - 1)
            // The target is anyone's text (a link planted there): escaped, as every quoted input is.
            kind = n >= 0
                ? "a symbolic link to \(InputText.path(String(decoding: target.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)))"
                : "a symbolic link"
        default: kind = "a special file"
        }
        return kind
    }


    /// The prefix and infix of the temporary files, so a resumed run can remove stale ones.
    static func temporaryName(for name: String) -> String { ".\(name).tmp-\(getpid())" }

    /// Whether `name` is a temporary file left by a writer that was killed.
    static func isTemporary(_ name: String) -> Bool { name.hasPrefix(".") && name.contains(".tmp-") }

    /// Writes `data` to `url` atomically.
    /// - Parameter midway: called after the first half of the bytes are written (a test hook that
    ///   simulates a kill in the middle of a write).
    /// - Throws: ``OutputPathError`` when `url` exists and is not a regular file
    ///   (``checkReplaceable(_:name:)``); ``AtomicFileError`` with the path and the system's reason
    ///   (`No space left on device`, `File too large`, `Permission denied`...). The temporary file is
    ///   removed and an existing file at `url` is left as it was.
    public static func write(_ data: Data, to url: URL, midway: (() -> Void)? = nil) throws {
        try checkReplaceable(url.path)
        let folder = url.deletingLastPathComponent()
        let temporary = folder.appendingPathComponent(temporaryName(for: url.lastPathComponent))
        // A leftover of this process id (a FIFO or a link planted there) is removed, never opened.
        unlink(temporary.path)
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
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
    /// - Throws: ``OutputPathError`` when `link` exists and is not a regular file, ``AtomicFileError``.
    static func link(_ link: URL, to target: URL, data: () throws -> Data) throws {
        try checkReplaceable(link.path)
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

/// An output path where something other than a regular file exists: it is never replaced.
public struct OutputPathError: Error, CustomStringConvertible {
    /// The path as messages name it ("--dot cells.dot", "runs/x/loss.svg").
    public let name: String
    /// What is there: "a character device", "a symbolic link to /etc/passwd", ...
    public let kind: String

    public init(name: String, kind: String) {
        self.name = name
        self.kind = kind
    }

    public var description: String { "\(name) is \(reason)" }

    /// "a FIFO (named pipe), not a regular file; ...": what is there and the fix, for messages
    /// that name the path themselves.
    public var reason: String {
        "\(kind), not a regular file; darts-dist writes its outputs as regular files and never replaces "
            + "anything else there: remove it or give another path"
    }
}

/// An output path that cannot be written, found before the work (``AtomicFile/checkWritable(_:flag:example:)``):
/// the whole message, naming the flag, the path and the fix.
public struct UnwritableOutputError: Error, CustomStringConvertible {
    public let description: String
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
