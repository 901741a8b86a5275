import Datasets
import Testing

@Suite struct DistributedSamplerTests {
    func samplers(count: Int = 100, globalBatch: Int = 12, worldSize: Int = 4, seed: UInt64 = 7,
                  dropLast: Bool = true) throws -> [DistributedSampler] {
        try (0..<worldSize).map {
            try DistributedSampler(count: count, globalBatchSize: globalBatch, rank: $0,
                                   worldSize: worldSize, seed: seed, dropLast: dropLast)
        }
    }

    @Test func everyRankDrawsTheSamePermutation() throws {
        let ranks = try samplers()
        for epoch in 0..<3 {
            let reference = ranks[0].permutation(epoch: epoch)
            #expect(reference.sorted() == Array(0..<100))
            for sampler in ranks { #expect(sampler.permutation(epoch: epoch) == reference) }
        }
    }

    @Test func shardsAreDisjointConsecutiveAndCoverEachGlobalBatch() throws {
        let ranks = try samplers()
        #expect(ranks[0].batchCount == 8)
        #expect(ranks[0].localBatchSize == 3)
        let order = ranks[0].permutation(epoch: 2)
        let shards = ranks.map { $0.indices(epoch: 2) }
        for batch in 0..<8 {
            let global = Array(order[(batch * 12)..<((batch + 1) * 12)])
            for rank in 0..<4 {
                #expect(shards[rank][batch] == Array(global[(rank * 3)..<((rank + 1) * 3)]))
            }
            let union = shards.flatMap { $0[batch] }
            #expect(union == global)
            #expect(Set(union).count == 12)
        }
        // No index is seen twice in an epoch.
        let all = shards.flatMap { $0.flatMap { $0 } }
        #expect(Set(all).count == all.count && all.count == 96)
    }

    @Test func epochsDrawDifferentOrdersAndRepeatDeterministically() throws {
        let sampler = try samplers()[1]
        #expect(sampler.indices(epoch: 0) != sampler.indices(epoch: 1))
        #expect(sampler.permutation(epoch: 0) != sampler.permutation(epoch: 1))
        #expect(sampler.indices(epoch: 5) == sampler.indices(epoch: 5))
        let again = try DistributedSampler(count: 100, globalBatchSize: 12, rank: 1, worldSize: 4, seed: 7)
        #expect(again.indices(epoch: 3) == sampler.indices(epoch: 3))
        let otherSeed = try DistributedSampler(count: 100, globalBatchSize: 12, rank: 1, worldSize: 4, seed: 8)
        #expect(otherSeed.indices(epoch: 3) != sampler.indices(epoch: 3))
    }

    @Test func keepingTheLastBatchPadsItFromTheStartOfTheOrder() throws {
        let ranks = try samplers(dropLast: false)
        #expect(ranks[0].batchCount == 9)
        let order = ranks[0].permutation(epoch: 0)
        let lastGlobal = ranks.flatMap { $0.indices(epoch: 0)[8] }
        #expect(lastGlobal == Array(order[96..<100]) + Array(order[0..<8]))
        #expect(try samplers(count: 96, dropLast: false)[0].batchCount == 8)
    }

    @Test func singleRankTakesWholeGlobalBatches() throws {
        let sampler = try DistributedSampler(count: 10, globalBatchSize: 5, rank: 0, worldSize: 1, seed: 0)
        let order = sampler.permutation(epoch: 0)
        #expect(sampler.indices(epoch: 0) == [Array(order[0..<5]), Array(order[5..<10])])
    }

    @Test func globalBatchNotDivisibleByWorldSizeThrows() {
        let error = #expect(throws: DatasetError.self) {
            try DistributedSampler(count: 100, globalBatchSize: 10, rank: 0, worldSize: 4, seed: 0)
        }
        #expect(error?.description.contains("global batch size 10 is not divisible by the world size 4") == true)
    }

    @Test func globalBatchLargerThanTheDataThrows() {
        let error = #expect(throws: DatasetError.self) {
            try DistributedSampler(count: 10, globalBatchSize: 16, rank: 0, worldSize: 2, seed: 0)
        }
        #expect(error?.description.contains("larger than the 10 items") == true)
    }

    @Test func rankOutsideTheWorldThrows() {
        let error = #expect(throws: DatasetError.self) {
            try DistributedSampler(count: 10, globalBatchSize: 4, rank: 2, worldSize: 2, seed: 0)
        }
        #expect(error?.description.contains("rank 2 is not in 0..<2") == true)
        #expect(throws: DatasetError.self) {
            try DistributedSampler(count: 10, globalBatchSize: 0, rank: 0, worldSize: 1, seed: 0)
        }
        #expect(throws: DatasetError.self) {
            try DistributedSampler(count: 0, globalBatchSize: 1, rank: 0, worldSize: 1, seed: 0)
        }
    }
}
