/// Gradient accumulation over K micro-batches: the gradient of the mean of the micro-batches'
/// mean losses, (1/K) sum_k dL_k, computed as K ranks holding one micro-batch each and the
/// rank-ordered allreduce would: each micro-batch's gradient alone (from zero), the gradients
/// added in micro-batch order, then scaled by 1/K. The same operations in the same order, so
/// `mpirun -np K` and one process with K micro-batches end bit-identical.
/// - Parameters:
///   - count: the number of micro-batches K (at least 1).
///   - arenas: the arenas whose gradients accumulate; each is zeroed before every micro-batch.
///   - microBatch: forward and backward of micro-batch k, leaving its gradients in the arenas;
///     returns its mean loss.
/// - Returns: the mean of the micro-batch losses.
public func accumulateMicroBatches(_ count: Int, arenas: [ParameterArena], microBatch: (Int) -> Float) -> Float {
    precondition(count >= 1, "at least one micro-batch")
    var sums: [[Float]] = []
    var total: Float = 0
    for k in 0..<count {
        for arena in arenas { arena.zeroGrad() }
        total += microBatch(k)
        guard count > 1 else { continue }
        for (a, arena) in arenas.enumerated() {
            let g = arena.grads!
            if k == 0 { sums.append(Array(g)) } else { for i in 0..<arena.count { sums[a][i] += g[i] } }
        }
    }
    if count > 1 {
        let scale = 1 / Float(count)
        for (a, arena) in arenas.enumerated() {
            let g = arena.grads!
            for i in 0..<arena.count { g[i] = sums[a][i] * scale }
        }
    }
    return total / Float(count)
}
