import Testing
import TestSupport
@testable import DartsTensor
@testable import NN

/// A leaf with two parameters and one buffer, registered in the order w, b, s.
private final class Leaf: Module {
    init(_ value: Float) {
        super.init()
        registerParameter("w", Tensor(shape: [2], repeating: value))
        registerParameter("b", Tensor(shape: [1], repeating: value))
        registerBuffer("s", Tensor(shape: [3], repeating: value))
    }
}

/// A module that registers a child BEFORE its own parameter, to check that PyTorch's order
/// (own parameters first, then children) does not depend on the interleaving of registrations.
private final class Tree: Module {
    let left, right: Leaf
    override init() {
        left = Leaf(1)
        right = Leaf(2)
        super.init()
        registerModule("left", left)
        registerParameter("scale", Tensor(shape: [1], repeating: 3))
        registerBuffer("count", Tensor(shape: [1]))
        registerModule("right", right)
        registerParameter("shift", Tensor(shape: [1], repeating: 4))
    }
}

@Test func namedParametersListOwnParametersBeforeChildrenInRegistrationOrder() {
    let tree = Tree()
    #expect(tree.namedParameters().map(\.name) == ["scale", "shift", "left.w", "left.b", "right.w", "right.b"])
    #expect(tree.namedParameters().map { $0.tensor.values[0] } == [3, 4, 1, 1, 2, 2])
}

@Test func namedParametersNestDottedNamesAndApplyThePrefix() {
    let outer = Sequential([Tree(), Leaf(5)])
    #expect(outer.namedParameters(prefix: "net.").map(\.name) == [
        "net.0.scale", "net.0.shift", "net.0.left.w", "net.0.left.b", "net.0.right.w", "net.0.right.b",
        "net.1.w", "net.1.b",
    ])
}

@Test func namedBuffersListOwnBuffersBeforeChildrenInRegistrationOrder() {
    let tree = Tree()
    #expect(tree.namedBuffers().map(\.name) == ["count", "left.s", "right.s"])
    #expect(tree.namedBuffers().map(\.tensor.count) == [1, 3, 3])
}

@Test func registeredParametersRequireGradientsAndBuffersDoNot() {
    let leaf = Leaf(1)
    #expect(leaf.namedParameters().allSatisfy { $0.tensor.requiresGrad })
    #expect(leaf.namedBuffers().allSatisfy { !$0.tensor.requiresGrad })
}

@Test func trainAndEvalReachEveryDescendant() {
    let net = Sequential([Tree(), Sequential([Leaf(1), ModuleList([Leaf(2), Leaf(3)])])])
    let all = descendants(net)
    #expect(all.count == 9)
    #expect(all.allSatisfy { $0.isTraining })
    net.eval()
    #expect(all.allSatisfy { !$0.isTraining })
    net.train()
    #expect(all.allSatisfy { $0.isTraining })
    net.train(false)
    #expect(all.allSatisfy { !$0.isTraining })
}

@Test func sequentialNamesItsChildrenByPosition() {
    var rng = RandomGenerator(seed: 1)
    let seq = Sequential([Linear(inputFeatures: 3, outputFeatures: 2, rng: &rng), ReLU(),
                          Linear(inputFeatures: 2, outputFeatures: 1, bias: false, rng: &rng)])
    #expect(seq.children.map(\.name) == ["0", "1", "2"])
    #expect(seq.namedParameters().map(\.name) == ["0.weight", "0.bias", "2.weight"])
    #expect(seq.namedParameters().map(\.tensor.shape) == [[2, 3], [2], [1, 2]])
}

@Test func sequentialAppliesLayersInOrder() {
    var rng = RandomGenerator(seed: 2)
    let first = Linear(inputFeatures: 2, outputFeatures: 2, rng: &rng)
    first.weight.assign([1, 0, 0, -1])
    first.bias!.assign([0, 0])
    let seq = Sequential([first, ReLU()])
    // relu([1, 2] W^T) = relu([1, -2]) = [1, 0]
    #expect(seq(Tensor(shape: [1, 2], values: [1, 2])).values == [1, 0])
}

@Test func moduleListNamesItsChildrenByPosition() {
    let list = ModuleList([Leaf(1), Leaf(2), Leaf(3)])
    #expect(list.count == 3)
    #expect(list.children.map(\.name) == ["0", "1", "2"])
    #expect(list[2].namedParameters()[0].tensor.values == [3, 3])
    #expect(list.namedParameters().map(\.name) == ["0.w", "0.b", "1.w", "1.b", "2.w", "2.b"])
    #expect(list.namedBuffers().map(\.name) == ["0.s", "1.s", "2.s"])
}
