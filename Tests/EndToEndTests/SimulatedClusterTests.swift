import Foundation
import Testing
import TestSupport

/// `darts-dist search` across hosts: scripts/netns-cluster.sh makes 2 hosts out of network
/// namespaces (hostfiles/netns: 2 ranks each), runs a tiny search across them with mpirun, then the
/// same search with 4 ranks on one host, and compares the per-rank checksums of the final weights
/// and alphas. Where namespaces cannot be made (not root), the script says so and the test is
/// cancelled (shown as skipped). Whatever happens, no namespace of the test is left behind.
@Suite(.serialized) struct SimulatedClusterTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let script = packageRoot.appendingPathComponent("scripts/netns-cluster.sh")

    struct Result: Decodable {
        let worldSize: Int
        let rankChecksums: [String]
        let rankHosts: [String]
    }

    /// The namespaces whose names start with `prefix`.
    static func namespaces(prefix: String) throws -> [String] {
        let output = try BackgroundJob.run(executable: URL(fileURLWithPath: "/usr/bin/env"), ["ip", "netns", "list"], timeout: 30)
        return output.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
            .filter { $0.hasPrefix(prefix + "-") }
    }

    /// Runs the script with a namespace prefix of this test; afterwards (even after a failed
    /// expectation or a timeout) deletes any namespace with that prefix and records it as an issue.
    static func runCluster(out: URL, search: [String]) throws -> (output: CommandRunner.Output, prefix: String) {
        let prefix = "ddt\(ProcessInfo.processInfo.processIdentifier)"
        defer {
            if let left = try? namespaces(prefix: prefix), !left.isEmpty {
                Issue.record("namespaces left behind: \(left)")
                for name in left {
                    _ = try? BackgroundJob.run(executable: URL(fileURLWithPath: "/usr/bin/env"), ["ip", "netns", "del", name], timeout: 30)
                }
            }
        }
        let output = try BackgroundJob.run(executable: script, [
            "--prefix", prefix, "--binary", CommandRunner.binary.path, "--out", out.path, "--timeout", "300", "--",
        ] + search, timeout: 700)
        return (output, prefix)
    }

    /// The tiny search of SearchCommandTests: 192 images, C=4, 4 cells, global batch 16, 2 epochs.
    static let tinySearch = ["--subset", "192", "--layers", "4", "--channels", "4", "--batch-size", "16",
                             "--epochs", "2", "--print-every", "6"]

    @Test func aSearchAcrossTwoNamespaceHostsEndsBitIdenticalToTheSameWorldSizeOnOneHost() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let (output, prefix) = try Self.runCluster(out: tmp, search: Self.tinySearch)
        if output.status == 77 { try Test.cancel("\(output.stdout.trimmingCharacters(in: .whitespacesAndNewlines))") }
        #expect(output.status == 0, "\(output.all)")
        #expect(output.stdout.contains("netns-cluster: 2 hosts in namespaces \(prefix)-node1 \(prefix)-node2"))
        #expect(output.stdout.contains("EQUAL: rankChecksums"))
        #expect(output.stdout.contains("removed namespaces \(prefix)-switch \(prefix)-node1 \(prefix)-node2"))

        let cluster = try readJSON(Result.self, tmp.appendingPathComponent("cluster/result.json"))
        let single = try readJSON(Result.self, tmp.appendingPathComponent("single/result.json"))
        #expect(cluster.worldSize == 4 && single.worldSize == 4)
        #expect(cluster.rankHosts == ["node1", "node1", "node2", "node2"])
        #expect(Set(single.rankHosts).count == 1)
        #expect(cluster.rankChecksums.count == 4 && Set(cluster.rankChecksums).count == 1)
        #expect(cluster.rankChecksums == single.rankChecksums)
        // The per-rank summary names each rank's host.
        #expect(output.stdout.contains("rank 2 on node2: 12 steps, compute"))
        #expect(try Self.namespaces(prefix: prefix).isEmpty)
    }

    @Test func aFailedClusterRunStillRemovesEveryNamespace() throws {
        let tmp = try CommandRunner.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: tmp) }
        // 18 is not divisible by the 4 ranks: every rank refuses the options.
        let (output, prefix) = try Self.runCluster(out: tmp, search: ["--subset", "192", "--batch-size", "18", "--epochs", "1"])
        if output.status == 77 { try Test.cancel("\(output.stdout.trimmingCharacters(in: .whitespacesAndNewlines))") }
        #expect(output.status == 1)
        #expect(output.all.contains("--batch-size 18 (global) is not divisible by the world size 4"))
        #expect(output.stderr.contains("the search across 2 hosts failed"))
        #expect(output.stdout.contains("removed namespaces \(prefix)-switch"))
        #expect(try Self.namespaces(prefix: prefix).isEmpty)
    }
}
