import Foundation

/// A regular file read at offsets (pread), its size taken when opened.
final class RandomAccessFile {
    let path: String
    let size: UInt64
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        try FileStatus.requireRegular(path)
        fd = open(path, O_RDONLY | O_NONBLOCK)
        guard fd >= 0 else { throw DatasetError.unreadableFile(path: path, reason: String(cString: strerror(errno))) }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_size >= 0 else {
            close(fd)
            throw DatasetError.notRegularFile(path: path, kind: "no longer a regular file")
        }
        size = UInt64(status.st_size)
    }

    deinit { close(fd) }

    /// `count` bytes from `offset`.
    /// - Throws: ``ZipArchive/Damage`` when they run past the end of the file (checked before
    ///   reading) or the file shrinks while read; `DatasetError.unreadableFile` on a read error.
    func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else {
            throw ZipArchive.Damage(reason: "\(count) bytes at offset \(offset) run past the end of the file (\(size) bytes); "
                + "the file is cut short")
        }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { buffer in
                pread(fd, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw DatasetError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
            }
            guard n > 0 else { throw ZipArchive.Damage(reason: "the file became shorter while it was read") }
            done += n
        }
        return bytes
    }
}
