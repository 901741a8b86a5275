import DartsTensor

/// Splits every epoch of a data set into global batches and gives each rank its shard, the
/// way `torch.utils.data.DistributedSampler` feeds DistributedDataParallel.
///
/// Each epoch e draws one permutation of 0..<count from
/// `RandomGenerator(seed: seed &+ UInt64(e) &* 0x9E3779B97F4A7C15)`, so every rank that uses the
/// same seed sees the same order, and each epoch a different one. Global batch k is positions
/// [k * B, (k + 1) * B) of that order (B = `globalBatchSize`), and rank r takes its
/// consecutive positions [k * B + r * b, k * B + (r + 1) * b) with b = B / worldSize, so the
/// shards of one global batch are disjoint and together are the whole batch.
public struct DistributedSampler: Sendable {
    /// N, the number of items sampled from (indices 0..<count).
    public let count: Int
    /// B, the batch summed over all ranks.
    public let globalBatchSize: Int
    /// This process's rank in 0..<worldSize.
    public let rank: Int
    /// The number of ranks.
    public let worldSize: Int
    /// The seed shared by all ranks.
    public let seed: UInt64
    /// Whether the last incomplete global batch is dropped (true) or completed with the first
    /// indices of the same permutation (false, as PyTorch's DistributedSampler pads).
    public let dropLast: Bool

    /// b = B / worldSize, the number of items of each global batch that this rank gets.
    public var localBatchSize: Int { globalBatchSize / worldSize }

    /// Global batches per epoch: floor(N / B) with `dropLast`, ceil(N / B) without.
    public var batchCount: Int {
        dropLast ? count / globalBatchSize : (count + globalBatchSize - 1) / globalBatchSize
    }

    /// - Throws: `DatasetError.invalidParameters` when count, batch size or world size is not
    ///   positive, the rank is outside 0..<worldSize, the global batch is not divisible by the
    ///   world size, or the global batch is larger than the data set.
    public init(count: Int, globalBatchSize: Int, rank: Int, worldSize: Int, seed: UInt64, dropLast: Bool = true) throws {
        guard count > 0 else {
            throw DatasetError.invalidParameters("cannot sample from an empty data set (count \(count))")
        }
        guard worldSize > 0, rank >= 0, rank < worldSize else {
            throw DatasetError.invalidParameters(
                "rank \(rank) is not in 0..<\(worldSize); the world size must be positive and the rank below it")
        }
        guard globalBatchSize > 0 else {
            throw DatasetError.invalidParameters("global batch size \(globalBatchSize) must be positive")
        }
        guard globalBatchSize % worldSize == 0 else {
            throw DatasetError.invalidParameters(
                "global batch size \(globalBatchSize) is not divisible by the world size \(worldSize); "
                + "choose a batch size that is a multiple of the number of ranks")
        }
        guard globalBatchSize <= count else {
            throw DatasetError.invalidParameters(
                "global batch size \(globalBatchSize) is larger than the \(count) items to sample from; "
                + "use a smaller batch size or more data")
        }
        self.count = count
        self.globalBatchSize = globalBatchSize
        self.rank = rank
        self.worldSize = worldSize
        self.seed = seed
        self.dropLast = dropLast
    }

    /// The order of all items in epoch `epoch` (>= 0), identical on every rank.
    public func permutation(epoch: Int) -> [Int] {
        precondition(epoch >= 0, "epoch must be non-negative")
        var rng = RandomGenerator(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        return rng.permutation(count)
    }

    /// This rank's shard of every global batch of epoch `epoch`: `batchCount` arrays of
    /// `localBatchSize` indices into the data set.
    public func indices(epoch: Int) -> [[Int]] {
        let order = permutation(epoch: epoch)
        let local = localBatchSize
        return (0..<batchCount).map { batch in
            let start = batch * globalBatchSize + rank * local
            return (start..<(start + local)).map { order[$0 % count] }
        }
    }
}
