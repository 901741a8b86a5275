import Foundation

/// A failure injected on purpose, to test that every failure ends the whole job quickly with a
/// message naming the rank and the cause, and that a killed search resumes exactly.
///
/// Set by the environment variable `DARTS_DIST_FAULT=KIND:RANK:STEP`: on rank RANK, at global step
/// STEP (1-based: the STEP-th step of the search), inject KIND, one of
/// - `nan-loss`: this rank's training loss becomes NaN;
/// - `nan-gradient`, `inf-gradient`: one of this rank's weight gradients becomes NaN or +Inf
///   before the allreduce (so the averaged gradient is not finite on every rank);
/// - `error`: this rank throws an error of its own (the others do not);
/// - `kill`: this rank kills itself with SIGKILL before the step (a crash, or a killed job);
/// - `kill-in-checkpoint`: rank RANK (the writer, 0) kills itself with SIGKILL halfway through
///   writing the checkpoint taken after step STEP.
/// When it fires, the rank prints `fault injected: KIND on rank R at step S (t=UNIX_SECONDS)` to
/// standard error, so a test can time the job's end from the failure.
public struct FaultInjection: Equatable, SearchHooks {
    enum Kind: String, CaseIterable {
        case nanLoss = "nan-loss", nanGradient = "nan-gradient", infGradient = "inf-gradient"
        case error, kill, killInCheckpoint = "kill-in-checkpoint"
    }

    let kind: Kind
    let rank: Int
    let step: Int

    static let variable = "DARTS_DIST_FAULT"

    /// The fault named by `DARTS_DIST_FAULT`, nil when it is unset.
    /// - Throws: ``SearchError/invalidOption(_:)`` when it is set but malformed.
    public static func fromEnvironment() throws -> FaultInjection? {
        guard let text = ProcessInfo.processInfo.environment[variable], !text.isEmpty else { return nil }
        let parts = text.split(separator: ":").map(String.init)
        guard parts.count == 3, let kind = Kind(rawValue: parts[0]), let rank = Int(parts[1]), let step = Int(parts[2]),
              rank >= 0, step >= 1 else {
            throw SearchError.invalidOption("\(variable)=\(text) is not KIND:RANK:STEP with KIND one of "
                + Kind.allCases.map(\.rawValue).joined(separator: ", ") + "; unset it for a normal search")
        }
        return FaultInjection(kind: kind, rank: rank, step: step)
    }

    /// Whether `kind` fires on `rank` at global step `step`; prints the notice when it does.
    func fires(_ kind: Kind, rank: Int, step: Int) -> Bool {
        guard kind == self.kind, rank == self.rank, step == self.step else { return false }
        let now = String(format: "%.3f", Date().timeIntervalSince1970)
        FileHandle.standardError.write(Data("fault injected: \(kind.rawValue) on rank \(rank) at step \(step) (t=\(now))\n".utf8))
        return true
    }

    /// Ends this process as `kill -9` would.
    static func killSelf() -> Never {
        kill(getpid(), SIGKILL)
        while true { pause() }
    }
}

extension FaultInjection {
    public func beforeStep(_ step: Int, rank: Int) throws {
        if fires(.kill, rank: rank, step: step) { FaultInjection.killSelf() }
        if fires(.error, rank: rank, step: step) { throw InjectedFailure(step: step) }
    }

    public func afterBackward(loss: inout Float, weightGradients: UnsafeMutableBufferPointer<Float>, step: Int, rank: Int) {
        if fires(.nanLoss, rank: rank, step: step) { loss = .nan }
        if fires(.nanGradient, rank: rank, step: step) { weightGradients[0] = .nan }
        if fires(.infGradient, rank: rank, step: step) { weightGradients[0] = .infinity }
    }

    public func whileWritingCheckpoint(afterStep step: Int, rank: Int) {
        if fires(.killInCheckpoint, rank: rank, step: step) { FaultInjection.killSelf() }
    }
}

/// The points where a test injects failures into a search (``FaultInjection``, from the
/// command line's environment); a search without hooks runs none of this.
public protocol SearchHooks {
    /// Before global step `step` (1-based) on rank `rank`: may throw or end the process.
    func beforeStep(_ step: Int, rank: Int) throws
    /// After this rank's backward pass, before the gradients are averaged: may change the local
    /// loss or weight gradients.
    func afterBackward(loss: inout Float, weightGradients: UnsafeMutableBufferPointer<Float>, step: Int, rank: Int)
    /// Halfway through writing the checkpoint taken after global step `step` (rank 0).
    func whileWritingCheckpoint(afterStep step: Int, rank: Int)
}

/// The error a rank throws for the `error` fault.
struct InjectedFailure: Error, CustomStringConvertible {
    let step: Int
    var description: String { "injected failure at step \(step) (\(FaultInjection.variable))" }
}

#if canImport(Glibc)
import Glibc
#endif
