import DARTS
import Distributed
import Foundation
import NN

extension SearchJob {
    /// Every rank must run the same search: compares a hash of each rank's options (all but the
    /// data folder, which may be a node-local copy, and what only rank 0 uses) across ranks.
    /// - Throws: ``SearchError/invalidOption(_:)`` on every rank, naming the ranks that differ.
    func checkSameOptionsOnEveryRank() throws {
        let given = resume?.given ?? options
        let local: Set<String> = ["--data", "--out", "--print-every", "--keep-checkpoints"]
        var text = given.flagValues.filter { !local.contains($0.flag) }.map { "\($0.flag) \($0.value)" }.joined(separator: " ")
        if let resume { text += " --resume " + resume.givenFlags.subtracting(local).sorted().joined(separator: ",") }
        let hashes = communicator.allgather(fnv1a(Data(text.utf8)))
        let differing = hashes.indices.filter { hashes[$0] != hashes[0] }
        guard differing.isEmpty else {
            throw SearchError.invalidOption("the search options of rank(s) \(differing.map(String.init).joined(separator: ", ")) "
                + "differ from rank 0's; start every rank with the same options (only --data may differ, "
                + "for node-local copies of the data)")
        }
    }

    /// What is not finite among a step's sums, the norm of the averaged weight gradient and the
    /// alphas (all the same on every rank), or nil when everything is finite.
    func nonFinite(_ sums: TrainingSums, gradientNorm: Float, alphas: ParameterArena) -> String? {
        if !sums.loss.isFinite { return "the training loss became \(sums.meanLoss)" }
        if !sums.archLoss.isFinite { return "the architect's validation loss became \(sums.meanArchLoss)" }
        if !gradientNorm.isFinite { return "the norm of the averaged weight gradient became \(gradientNorm)" }
        if let bad = alphas.values.first(where: { !$0.isFinite }) {
            return "an alpha became \(bad) (the architecture gradient was not finite)"
        }
        return nil
    }
}
