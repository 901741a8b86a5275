import Distributed
import NN

/// Checks that every rank holds bit-identical training state: one FNV-1a hash of the arenas'
/// values and of the optimizer buffers, compared across ranks.
/// - Parameters:
///   - arenas: weights, alphas, batch-norm statistics, ... (their values).
///   - optimizerState: momentum buffers, Adam moments.
///   - what: the state named in the message ("weights, alphas and optimizer states").
///   - error: the command's own error for the message.
/// - Throws: `error(message)` naming the ranks that differ from rank 0.
func checkRanksAgree(_ parallel: DataParallel, arenas: [ParameterArena], optimizerState: [[Float]], what: String,
                     error: (String) -> Error) throws {
    var hash = FNV1a()
    for arena in arenas { hash.combine(floats: arena.values) }
    for buffer in optimizerState { hash.combine(floats: buffer) }
    do {
        try parallel.checkConsistency(hash.value, what: what)
    } catch let failure {
        throw error("\(failure)")
    }
}
