import Testing
@testable import DartsTensor

@Suite struct DropPathTests {
    @Test func dropPathScalesKeptSamplesAndZeroesDroppedOnes() {
        let x = randomTensor([3, 2, 2, 2], seed: 1)
        let y = dropPath(x, keepMask: [0, 1.25, 1])
        #expect(y.shape == x.shape)
        let (xs, ys) = (x.values, y.values)
        #expect(ys[0..<8].allSatisfy { $0 == 0 })
        #expect(Array(ys[8..<16]) == xs[8..<16].map { 1.25 * $0 })
        #expect(Array(ys[16..<24]) == Array(xs[16..<24]))
    }

    @Test func dropPathGradientMatchesCentralDifferences() {
        let x = randomTensor([4, 3, 3, 2], seed: 2)
        checkGradients([x]) { dropPath($0[0], keepMask: [0, 1.25, 0, 1.25]) }
    }

    @Test func dropPathGradientOfADroppedSampleIsZeroAndOfAKeptSampleIsTheMaskFactor() {
        let x = randomTensor([2, 1, 2, 2], seed: 3)
        x.requiresGrad = true
        dropPath(x, keepMask: [0, 2]).backward(seed: [Float](repeating: 1, count: 8))
        #expect(x.gradient == [0, 0, 0, 0, 2, 2, 2, 2])
    }
}
