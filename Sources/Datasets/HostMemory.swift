#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The memory of the machine this process runs on.
public enum HostMemory {
    /// The memory this machine can give a new process, bytes: MemAvailable of /proc/meminfo
    /// (free memory plus what the kernel can reclaim), else the physical memory (sysconf).
    public static func availableBytes() -> Double {
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kib = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) {
            return kib * 1024
        }
        return Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE)))
    }
}
