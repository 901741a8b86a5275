import Foundation
import TestSupport

/// darts-dist jobs in the background, alone or under mpirun (also MPMD: several app contexts with
/// their own arguments).
extension BackgroundJob {
    /// The mpirun options of CommandRunner: oversubscribed, unbound, one OpenBLAS thread per rank.
    static let mpirunOptions = ["--oversubscribe", "--bind-to", "none", "--mca", "btl_vader_single_copy_mechanism", "none",
                                "-x", "OPENBLAS_NUM_THREADS"]

    /// darts-dist `arguments`, alone or under `mpirun -np ranks`.
    convenience init(_ arguments: [String], ranks: Int? = nil, environment: [String: String] = [:],
                     unblockingSignals: Bool = false) throws {
        if let ranks {
            try self.init(contexts: [(ranks, arguments)], environment: environment, unblockingSignals: unblockingSignals)
        } else {
            try self.init(executable: CommandRunner.binary, arguments: arguments, environment: environment,
                          unblockingSignals: unblockingSignals)
        }
    }

    /// `mpirun` with ``mpirunOptions`` and one app context per entry of `contexts`.
    static func mpirunCommand(contexts: [(ranks: Int, arguments: [String])]) -> [String] {
        var arguments = ["mpirun"] + mpirunOptions
        for (i, context) in contexts.enumerated() {
            if i > 0 { arguments.append(":") }
            arguments += ["-np", String(context.ranks), CommandRunner.binary.path] + context.arguments
        }
        return arguments
    }

    /// An MPMD launch: `mpirun -np n1 darts-dist args1 : -np n2 darts-dist args2 ...`.
    convenience init(contexts: [(ranks: Int, arguments: [String])], environment: [String: String] = [:],
                     unblockingSignals: Bool = false) throws {
        try self.init(executable: URL(fileURLWithPath: "/usr/bin/env"), arguments: Self.mpirunCommand(contexts: contexts),
                      environment: environment, unblockingSignals: unblockingSignals)
    }

    /// The time (Unix seconds) in the `fault injected: ... (t=SECONDS)` line of a rank.
    var faultTime: Date? {
        guard let range = stderr.range(of: #"fault injected: .*\(t=([0-9.]+)\)"#, options: .regularExpression) else { return nil }
        let line = stderr[range]
        guard let t = line.split(separator: "=").last.flatMap({ Double($0.dropLast()) }) else { return nil }
        return Date(timeIntervalSince1970: t)
    }
}

/// Every file under a folder with its bytes: taken before and after a command that must fail,
/// to show that the command wrote, changed and removed nothing.
struct FolderSnapshot: Equatable {
    let files: [String: Data]

    init(_ folder: URL) {
        var files: [String: Data] = [:]
        let root = folder.resolvingSymlinksInPath().path
        if let walker = FileManager.default.enumerator(atPath: root) {
            for case let path as String in walker {
                let full = root + "/" + path
                var isDirectory: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory)
                files[path + (isDirectory.boolValue ? "/" : "")] = isDirectory.boolValue ? Data() : FileManager.default.contents(atPath: full)
            }
        }
        self.files = files
    }

    /// The paths that differ between two snapshots.
    func changes(to other: FolderSnapshot) -> [String] {
        Set(files.keys).union(other.files.keys).filter { files[$0] != other.files[$0] }.sorted()
    }
}
