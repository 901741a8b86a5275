import Testing
@testable import DartsTensor
@testable import NN

/// Two named tensors a (2, 2) = [1, 2, 3, 4] and b (3) = [5, 6, 7], both requiring gradients.
private func twoTensors() -> [(name: String, tensor: Tensor)] {
    [("a", Tensor(shape: [2, 2], values: [1, 2, 3, 4], requiresGrad: true)),
     ("b", Tensor(shape: [3], values: [5, 6, 7], requiresGrad: true))]
}

@Test func arenaLaysTensorsOutBackToBackInRegistrationOrder() {
    let named = twoTensors()
    let arena = ParameterArena(named)
    #expect(arena.count == 7)
    #expect(arena.entries == [.init(name: "a", shape: [2, 2], offset: 0), .init(name: "b", shape: [3], offset: 4)])
    #expect(arena.entry(named: "b")?.count == 3)
    #expect(arena.entry(named: "c") == nil)
    #expect(arena.snapshot() == [1, 2, 3, 4, 5, 6, 7])
}

@Test func writingThroughTheArenaChangesTheTensorsAndViceVersa() {
    let named = twoTensors()
    let arena = ParameterArena(named)
    let (a, b) = (named[0].tensor, named[1].tensor)
    arena.values[1] = -2
    arena.values[6] = 70
    #expect(a.values == [1, -2, 3, 4])
    #expect(b.values == [5, 6, 70])
    a.assign([10, 20, 30, 40])
    b.data[0] = 50
    #expect(arena.snapshot() == [10, 20, 30, 40, 50, 6, 70])
    #expect(a.data == arena.values.baseAddress!)
    #expect(b.data == arena.values.baseAddress! + 4)
    withExtendedLifetime(arena) {}
}

@Test func backwardAccumulatesGradientsIntoTheArena() {
    // y = x W^T + bias with x = [1, 2, 3] (1, 3), W (1, 3), bias (1): dy/dW = x, dy/dbias = 1.
    let w = Tensor(shape: [1, 3], values: [0.5, -1, 2], requiresGrad: true)
    let bias = Tensor(shape: [1], values: [0.25], requiresGrad: true)
    let arena = ParameterArena([("weight", w), ("bias", bias)])
    let x = Tensor(shape: [1, 3], values: [1, 2, 3])
    let y = linear(x, w, bias: bias)
    #expect(y.scalar == 0.5 - 2 + 6 + 0.25)
    y.backward()
    #expect(Array(arena.grads!) == [1, 2, 3, 1])
    #expect(w.gradient == [1, 2, 3])
    // A second backward adds (PyTorch accumulates until zeroGrad).
    linear(x, w, bias: bias).backward()
    #expect(Array(arena.grads!) == [2, 4, 6, 2])
    arena.zeroGrad()
    #expect(Array(arena.grads!) == [0, 0, 0, 0])
    #expect(w.gradient == [0, 0, 0])
    withExtendedLifetime(arena) {}
}

@Test func requiresGradTogglesEveryTensor() {
    let named = twoTensors()
    let arena = ParameterArena(named)
    arena.requiresGrad = false
    #expect(!arena.requiresGrad)
    #expect(named.allSatisfy { !$0.tensor.requiresGrad })
    arena.requiresGrad = true
    #expect(arena.requiresGrad)
    #expect(named.allSatisfy { $0.tensor.requiresGrad })
}

@Test func tensorsWithoutGradientsSkipBackwardWhenRequiresGradIsOff() {
    let w = Tensor(shape: [1, 2], values: [1, 1], requiresGrad: true)
    let arena = ParameterArena([("weight", w)])
    arena.requiresGrad = false
    let y = linear(Tensor(shape: [1, 2], values: [3, 4]), w, bias: nil)
    y.backward()
    #expect(Array(arena.grads!) == [0, 0])
}

@Test func arenaWithoutGradientsHasNoGradientBuffer() {
    let arena = ParameterArena([("running_mean", Tensor(shape: [2], values: [0.5, 1.5]))], keepsGradients: false)
    #expect(arena.grads == nil)
    arena.zeroGrad()   // a no-op, not a crash
    #expect(arena.snapshot() == [0.5, 1.5])
}

@Test func checksumIsEqualForEqualBitsAndChangesWithOneLowestBit() {
    let first = ParameterArena(twoTensors())
    let second = ParameterArena(twoTensors())
    #expect(first.checksum() == second.checksum())
    second.values[3] = Float(bitPattern: second.values[3].bitPattern ^ 1)
    #expect(second.values[3] != first.values[3])
    #expect(abs(second.values[3] - first.values[3]) < 1e-6)
    #expect(first.checksum() != second.checksum())
    second.values[3] = first.values[3]
    #expect(first.checksum() == second.checksum())
}

@Test func checksumDistinguishesPositiveAndNegativeZero() {
    let first = ParameterArena([("z", Tensor(shape: [1], values: [0]))])
    let second = ParameterArena([("z", Tensor(shape: [1], values: [-0.0]))])
    #expect(first.checksum() != second.checksum())
}

@Test func loadThenSnapshotRoundTrips() {
    let named = twoTensors()
    let arena = ParameterArena(named)
    let values: [Float] = [0.1, -0.2, 0.3, -0.4, .pi, 1e-30, -7]
    arena.load(values)
    #expect(arena.snapshot() == values)
    #expect(named[1].tensor.values == [.pi, 1e-30, -7])
    var copy = arena.snapshot()
    copy[0] = 99   // the snapshot is a copy
    #expect(arena.values[0] == 0.1)
}

@Test func emptyArenaHasNoValuesToSnapshotOrHash() {
    // A module without buffers gives an empty arena: its snapshot must load back into it.
    let arena = ParameterArena([])
    #expect(arena.count == 0)
    #expect(arena.snapshot().isEmpty)
    #expect(arena.values.count == 0)
    #expect(arena.checksum() == 0xcbf2_9ce4_8422_2325)   // FNV-1a of no input: the offset basis
}
