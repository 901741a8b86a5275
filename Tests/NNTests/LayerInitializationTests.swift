import Testing
@testable import DartsTensor
@testable import NN

/// Whether every value lies in [-bound, bound] and the values spread over most of that range
/// (so a much narrower initialisation would not pass either).
private func fillsUniformRange(_ values: [Float], bound: Float) -> Bool {
    let largest = values.map(abs).max() ?? 0
    return values.allSatisfy { abs($0) <= bound } && largest > 0.8 * bound
        && values.contains { $0 > 0 } && values.contains { $0 < 0 }
}

@Test(arguments: [[3, 8, 3, 1], [4, 4, 3, 4], [16, 32, 1, 1], [6, 6, 5, 2]])
func conv2dWeightsAndBiasLieWithinOneOverSquareRootOfFanIn(layout: [Int]) {
    let (cin, cout, k, groups) = (layout[0], layout[1], layout[2], layout[3])
    var rng = RandomGenerator(seed: 7)
    let conv = Conv2d(inputChannels: cin, outputChannels: cout, kernelSize: k, groups: groups, rng: &rng)
    let bound = 1 / Float(cin / groups * k * k).squareRoot()
    #expect(conv.weight.shape == [cout, cin / groups, k, k])
    #expect(fillsUniformRange(conv.weight.values, bound: bound))
    #expect(conv.bias!.values.allSatisfy { abs($0) <= bound })
    #expect(conv.namedParameters().map(\.name) == ["weight", "bias"])
}

@Test func conv2dWithoutBiasHasOnlyAWeight() {
    var rng = RandomGenerator(seed: 8)
    let conv = Conv2d(inputChannels: 2, outputChannels: 3, kernelSize: 3, bias: false, rng: &rng)
    #expect(conv.bias == nil)
    #expect(conv.namedParameters().map(\.name) == ["weight"])
}

@Test(arguments: [(20, 5), (1, 3), (192, 10)])
func linearWeightsAndBiasLieWithinOneOverSquareRootOfFanIn(fin: Int, fout: Int) {
    var rng = RandomGenerator(seed: 9)
    let layer = Linear(inputFeatures: fin, outputFeatures: fout, rng: &rng)
    let bound = 1 / Float(fin).squareRoot()
    #expect(layer.weight.shape == [fout, fin])
    #expect(layer.weight.values.allSatisfy { abs($0) <= bound })
    if fin * fout >= 50 { #expect(fillsUniformRange(layer.weight.values, bound: bound)) }
    #expect(layer.bias!.values.allSatisfy { abs($0) <= bound })
    #expect(layer.namedParameters().map(\.name) == ["weight", "bias"])
}

@Test func batchNormWithoutAffineHasNoParametersAndFreshRunningStatistics() {
    let bn = BatchNorm2d(featureCount: 3, affine: false)
    #expect(bn.namedParameters().isEmpty)
    #expect(bn.weight == nil && bn.bias == nil)
    #expect(bn.namedBuffers().map(\.name) == ["running_mean", "running_var"])
    #expect(bn.runningMean.values == [0, 0, 0])
    #expect(bn.runningVar.values == [1, 1, 1])
}

@Test func batchNormWithAffineHasUnitWeightAndZeroBias() {
    let bn = BatchNorm2d(featureCount: 2)
    #expect(bn.namedParameters().map(\.name) == ["weight", "bias"])
    #expect(bn.weight!.values == [1, 1])
    #expect(bn.bias!.values == [0, 0])
    #expect(bn.namedBuffers().map(\.name) == ["running_mean", "running_var"])
    #expect(bn.runningMean.values == [0, 0])
    #expect(bn.runningVar.values == [1, 1])
    #expect(bn.eps == 1e-5 && bn.momentum == 0.1)
}
