import Distributed
import Foundation

/// Where each rank's time went in a data-parallel job, gathered at its end: one line per rank,
///
///     rank 1 on node2: 24 steps, compute 5.61 s, communication 1.02 s (15%)
///
/// so a slow host, a slow link or an unbalanced layout shows at a glance.
public struct RankSummary: Equatable {
    /// One rank's figures.
    public struct Figures: Codable, Equatable {
        public var rank: Int
        public var host: String
        /// Training steps this rank took.
        public var steps: Int
        /// Seconds of the training steps spent outside the allreduces (forward, backward, optimizer,
        /// batch assembly).
        public var computeSeconds: Double
        /// Seconds inside ``DataParallel/average(_:)``: the allreduces of the gradients and the
        /// batch-norm statistics, including the wait for slower ranks.
        public var communicationSeconds: Double
        /// Allreduce calls and the floats they averaged.
        public var allreduceCalls: Int
        public var allreduceFloats: Int
    }

    /// Every rank's figures, indexed by rank.
    public let ranks: [Figures]

    /// Gathers every rank's figures (a collective: every rank calls it at the same point, and every
    /// rank gets the whole summary).
    /// - Parameters:
    ///   - parallel: the job's data-parallel layer, which timed its allreduces.
    ///   - steps: the training steps this rank took.
    ///   - stepSeconds: the wall-clock seconds of those steps, allreduces included.
    public static func gather(parallel: DataParallel, steps: Int, stepSeconds: Double) -> RankSummary {
        let communicator = parallel.communicator
        let mine = Figures(rank: communicator.rank, host: communicator.hostName, steps: steps,
                           computeSeconds: max(0, stepSeconds - parallel.communicationSeconds),
                           communicationSeconds: parallel.communicationSeconds,
                           allreduceCalls: parallel.communicationCalls, allreduceFloats: parallel.communicatedFloats)
        Diagnostics.logger.debug("allreduce figures", metadata: [
            "calls": "\(mine.allreduceCalls)", "floats": "\(mine.allreduceFloats)",
            "seconds": "\(String(format: "%.3f", mine.communicationSeconds))"])
        let encoded = (try? JSONEncoder().encode(mine)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let all = communicator.allgather(encoded).enumerated().map { rank, text in
            (try? JSONDecoder().decode(Figures.self, from: Data(text.utf8)))
                ?? Figures(rank: rank, host: "?", steps: 0, computeSeconds: 0, communicationSeconds: 0,
                           allreduceCalls: 0, allreduceFloats: 0)
        }
        return RankSummary(ranks: all)
    }

    /// One line per rank, in rank order.
    public var lines: [String] {
        ranks.map { r in
            let total = r.computeSeconds + r.communicationSeconds
            let share = total > 0 ? 100 * r.communicationSeconds / total : 0
            return String(format: "rank %d on %@: %d steps, compute %.2f s, communication %.2f s (%.0f%%)",
                          r.rank, r.host, r.steps, r.computeSeconds, r.communicationSeconds, share)
        }
    }
}
