import CPUCheck
import Distributed
import Foundation
import NN

/// What makes two darts-dist processes the same build: the version, the x86-64 level it was
/// compiled for (Package.swift, DARTS_DIST_CPU) and an FNV-1a checksum of the executable file. Ranks
/// take bit-identical steps only when they run the same machine code, so a job checks this first.
struct BuildIdentity: Equatable {
    let version: String
    let cpuLevel: String
    let executableChecksum: UInt64

    /// This process's build; the checksum is 0 when /proc/self/exe cannot be read.
    static func current() -> BuildIdentity {
        var hash = FNV1a()
        if let bytes = FileManager.default.contents(atPath: "/proc/self/exe") {
            bytes.withUnsafeBytes { raw in
                // Whole 8-byte words, then the tail: about 30 ms for the 21 MB release binary.
                let words = raw.count / 8
                for i in 0..<words { hash.combine(raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
                hash.combine(bytes: raw[(words * 8)...])
            }
        } else {
            return BuildIdentity(version: DartsDist.version, cpuLevel: String(cString: darts_dist_cpu_level()), executableChecksum: 0)
        }
        return BuildIdentity(version: DartsDist.version, cpuLevel: String(cString: darts_dist_cpu_level()),
                             executableChecksum: hash.value)
    }

    /// "0.9.0 for x86-64-v3, executable checksum 1a2b3c4d5e6f7081"
    var description: String {
        let level = cpuLevel.isEmpty ? "no CPU level (debug build or not x86-64)" : cpuLevel
        return "\(version) for \(level), executable checksum \(String(executableChecksum, radix: 16))"
    }

    var wire: String { "\(version)|\(cpuLevel)|\(executableChecksum)" }
}

/// The ranks of one job run different builds.
struct BuildMismatch: CollectiveError, CustomStringConvertible {
    let lines: [String]

    var description: String {
        "the ranks run different darts-dist builds:\n" + lines.map { "  \($0)" }.joined(separator: "\n")
            + "\nEvery rank must run the same executable (ranks take bit-identical steps only with the same machine code): "
            + "put one build where every node reads it, compiled for the x86-64 level of the oldest nodes "
            + "(README, \"Clusters whose nodes differ\")."
    }
}

/// Compares every rank's ``BuildIdentity`` with rank 0's.
/// - Throws: ``BuildMismatch`` on every rank, listing the ranks that differ from rank 0 (and rank 0).
func checkSameBuild(_ communicator: Communicator) throws {
    let mine = BuildIdentity.current()
    let all = communicator.allgather(mine.wire)
    guard all.contains(where: { $0 != all[0] }) else { return }
    let hosts = communicator.allgather(communicator.hostName)
    func shown(_ wire: String) -> String {
        let parts = wire.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let checksum = UInt64(parts[2]) else { return wire }
        return BuildIdentity(version: parts[0], cpuLevel: parts[1], executableChecksum: checksum).description
    }
    var lines = ["rank 0 on \(hosts[0]): \(shown(all[0]))"]
    for rank in all.indices.dropFirst() where all[rank] != all[0] {
        lines.append("rank \(rank) on \(hosts[rank]): \(shown(all[rank]))")
    }
    throw BuildMismatch(lines: lines)
}
