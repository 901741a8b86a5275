import Testing
@testable import DARTS
@testable import DartsTensor
import NN
import TestSupport

/// Drop path with one generator per sample (`PerSampleDropPathMasks`, `dropPathSampleSeeds`):
/// a sample's masks depend on its seed alone, so splitting a batch over ranks changes nothing.
@Suite struct PerSampleDropPathTests {
    @Test func aSampleMaskDependsOnlyOnItsSeedNotOnItsBatch() {
        var whole = PerSampleDropPathMasks(seeds: [11, 12, 13, 14])
        var firstHalf = PerSampleDropPathMasks(seeds: [11, 12])
        var secondHalf = PerSampleDropPathMasks(seeds: [13, 14])
        for _ in 0..<5 {   // five operations in a row
            let all = whole.keepMask(batch: 4, probability: 0.3)
            #expect(all == firstHalf.keepMask(batch: 2, probability: 0.3) + secondHalf.keepMask(batch: 2, probability: 0.3))
            #expect(all.allSatisfy { $0 == 0 || $0 == 1 / Float(0.7) })
        }
    }

    @Test func perSampleMasksKeepAboutOneMinusPOfTheSamples() {
        var masks = PerSampleDropPathMasks(seeds: (0..<20_000).map { UInt64($0) })
        let kept = masks.keepMask(batch: 20_000, probability: 0.2).filter { $0 > 0 }.count
        #expect(abs(Double(kept) / 20_000 - 0.8) < 0.01)
    }

    @Test func networkWithSampleSeedsDropsTheSamePathsForASampleInAnyBatchPosition() throws {
        var rng = RandomGenerator(seed: 3)
        let config = AugmentConfiguration(inputChannels: 1, imageSize: 28, channels: 4, layers: 3, classes: 10, auxiliary: false)
        let network = try AugmentNetwork(config, genotype: .dartsV2, rng: &rng)
        network.dropPathProbability = 0.5
        network.eval()   // running statistics, so each sample's output depends on that sample alone ...
        // ... but drop path acts only in training: run the cells in training mode with the BN layers in eval mode.
        for (_, child) in network.children where child is ModuleList<AugmentCell> {
            for cell in (child as! ModuleList<AugmentCell>).modules {
                cell.train()
                for bn in descendants(cell).compactMap({ $0 as? BatchNorm2d }) { bn.eval() }
            }
        }
        let a = Tensor.randomNormal(shape: [1, 1, 28, 28], using: &rng)
        let b = Tensor.randomNormal(shape: [1, 1, 28, 28], using: &rng)
        let ab = concatenateBatch([a, b]), ba = concatenateBatch([b, a])
        network.dropPathSampleSeeds = [100, 200]
        let first = network(ab).logits.values
        network.dropPathSampleSeeds = [200, 100]
        let swapped = network(ba).logits.values
        #expect(Array(first[0..<10]) == Array(swapped[10..<20]))
        #expect(Array(first[10..<20]) == Array(swapped[0..<10]))
        // Other seeds draw other masks.
        network.dropPathSampleSeeds = [101, 201]
        #expect(network(ab).logits.values != first)
    }

    private func concatenateBatch(_ xs: [Tensor]) -> Tensor {
        Tensor(shape: [xs.count] + Array(xs[0].shape.dropFirst()), values: xs.flatMap(\.values))
    }
}
