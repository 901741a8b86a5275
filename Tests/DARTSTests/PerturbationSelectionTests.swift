import Testing
import TestSupport
@testable import DARTS
@testable import DartsTensor
@testable import NN

/// Perturbation-based selection (DARTS-PT's criterion, docs/algorithm.md §11.5) against a made-up
/// supernet whose accuracy loses a known amount for each masked operation and removed edge.
@Suite struct PerturbationSelectionTests {
    /// Uniform weights: the magnitude rule would keep max_pool_3x3 on the first two edges of every node.
    static let uniform = [[Float]](repeating: [Float](repeating: 0.125, count: Primitive.count), count: CellLayout.edgeCount)

    /// What each masked operation (cell, edge, op) and each removed edge (cell, edge) costs in accuracy.
    struct Costs {
        var operation: [[[Double]]]   // [cell][edge][op]
        var edge: [[Double]]          // [cell][edge]

        init(seed: UInt64) {
            var rng = RandomGenerator(seed: seed)
            operation = (0..<2).map { _ in (0..<CellLayout.edgeCount).map { _ in (0..<Primitive.count).map { _ in Double(rng.nextInt(below: 1_000_000)) / 1e8 } } }
            edge = (0..<2).map { _ in (0..<CellLayout.edgeCount).map { _ in Double(rng.nextInt(below: 1_000_000)) / 1e8 } }
        }

        /// 0.9 minus the cost of every zeroed weight (a zero row costs its edge's cost instead).
        func score(_ normal: [[Float]], _ reduce: [[Float]]) -> PerturbationSelection.Score {
            var accuracy = 0.9
            for (c, rows) in [normal, reduce].enumerated() {
                for (e, row) in rows.enumerated() {
                    if row.allSatisfy({ $0 == 0 }) { accuracy -= edge[c][e]; continue }
                    for (k, w) in row.enumerated() where w == 0 { accuracy -= operation[c][e][k] }
                }
            }
            return .init(accuracy: accuracy, loss: 1 - accuracy)
        }

        /// The genotype the costs call for: on each edge the operation (not `none`) that costs most,
        /// in each node the two edges that cost most, the costlier first.
        func expected() -> Genotype {
            func cell(_ c: Int) -> [Genotype.Edge] {
                (0..<CellLayout.steps).flatMap { node -> [Genotype.Edge] in
                    let first = CellLayout.firstEdge(ofNode: node)
                    let inputs = Array(0..<(node + 2))
                    let kept = inputs.count == 2 ? inputs : Array(inputs.sorted { edge[c][first + $0] > edge[c][first + $1] }.prefix(2))
                    return kept.map { input in
                        let ops = Primitive.allCases.filter { $0 != .none }
                        return Genotype.Edge(ops.max { operation[c][first + input][$0.index] < operation[c][first + input][$1.index] }!, input)
                    }
                }
            }
            return Genotype(normal: cell(0), reduce: cell(1))
        }
    }

    @Test func keepsTheOperationsAndEdgesWhoseRemovalCostsMost() {
        for seed: UInt64 in [1, 2, 3] {
            let costs = Costs(seed: seed)
            var calls = 0
            let (genotype, record) = PerturbationSelection.select(weightsNormal: Self.uniform, weightsReduce: Self.uniform,
                                                                   measure: { calls += 1; return costs.score($0, $1) })
            #expect(genotype == costs.expected(), "seed \(seed)")
            #expect(genotype != Genotype(weightsNormal: Self.uniform, weightsReduce: Self.uniform), "the magnitude rule differs")
            #expect(calls == PerturbationSelection.measurementCount && calls == 1 + 2 * (14 * 7 + 12))
            #expect(record.baseline == .init(accuracy: 0.9, loss: 1 - 0.9))
            // Every operation but none measured, once per edge; every edge of nodes 1 to 3 removed once.
            let normal = record.operationScores["normal"]!
            #expect(normal.count == 14 && normal.allSatisfy { $0.count == 8 && $0[0] == nil && $0[1...].allSatisfy { $0 != nil } })
            #expect(abs(normal[5][4]!.accuracy - (0.9 - costs.operation[0][5][4])) < 1e-12)
            let edges = record.edgeScores["reduce"]!
            #expect(edges[0] == nil && edges[1] == nil && edges[2...].allSatisfy { $0 != nil })
            #expect(abs(edges[9]!.accuracy - (0.9 - costs.edge[1][9])) < 1e-12)
        }
    }

    @Test func equalAccuraciesGoToTheHigherLossThenToTheEarlierOperationOrEdge() {
        // Accuracy never changes; the loss rises only when edge 3's sep_conv_5x5 is masked or edge 3 removed.
        let measure: ([[Float]], [[Float]]) -> PerturbationSelection.Score = { normal, _ in
            var loss = 0.5
            if normal[3][Primitive.sepConv5x5.index] == 0 { loss += 0.1 }
            if normal[3].allSatisfy({ $0 == 0 }) { loss += 0.2 }
            return .init(accuracy: 0.8, loss: loss)
        }
        let (genotype, _) = PerturbationSelection.select(weightsNormal: Self.uniform, weightsReduce: Self.uniform, measure: measure)
        // Node 1 (edges 2 to 4) keeps input 1 (edge 3) first, with sep_conv_5x5, then input 0, the
        // earlier of the two equal ones; every other choice is a tie, so the first operation
        // (max_pool_3x3) and inputs 0 and 1.
        #expect(genotype.normal[2] == .init(.sepConv5x5, 1) && genotype.normal[3] == .init(.maxPool3x3, 0))
        let others = Array(genotype.normal[0..<2] + genotype.normal[4...]) + genotype.reduce
        #expect(others.allSatisfy { $0.operation == .maxPool3x3 })
        #expect(others.map(\.input) == [0, 1] + [0, 1, 0, 1] + [0, 1, 0, 1, 0, 1, 0, 1])
    }

    @Test func theOperationChoiceOfAnEdgeFollowsItsCostlierOperation() {
        // Node 1's input 2 (edge 4) costs most to remove; masking its dil_conv_3x3 lowers accuracy most.
        let measure: ([[Float]], [[Float]]) -> PerturbationSelection.Score = { normal, _ in
            var accuracy = 0.8
            if normal[4].allSatisfy({ $0 == 0 }) { accuracy -= 0.3 }
            if normal[4][Primitive.dilConv3x3.index] == 0 { accuracy -= 0.02 }
            if normal[4][Primitive.skipConnect.index] == 0 { accuracy -= 0.01 }
            return .init(accuracy: accuracy, loss: 1 - accuracy)
        }
        let (genotype, _) = PerturbationSelection.select(weightsNormal: Self.uniform, weightsReduce: Self.uniform, measure: measure)
        #expect(genotype.normal[2] == .init(.dilConv3x3, 2) && genotype.normal[3] == .init(.maxPool3x3, 0))
    }

    @Test func logitsUnderSoftmaxAlphaAreTheNetworksOwnBitForBit() {
        let state = smallSearchState(channels: 4, layers: 5, size: 8, seed: 11)
        let network = state.network
        var rng = RandomGenerator(seed: 12)
        for alpha in [network.alphaNormal, network.alphaReduce] {   // away from uniform, so the weights matter
            let moved = Tensor.randomNormal(shape: alpha.shape, scale: 0.5, using: &rng).values
            for i in 0..<alpha.count { alpha.data[i] = moved[i] }
        }
        let x = randomBatch(count: 4, seed: 13).images
        state.weights.requiresGrad = false
        state.alphas.requiresGrad = false
        let own = network(x).values
        // The same softmax as the network's forward, so the same bits.
        let normal = softmax(network.alphaNormal), reduce = softmax(network.alphaReduce)
        let given = network.logits(x, operationWeightsNormal: normal, reduce: reduce).values
        #expect(given.map(\.bitPattern) == own.map(\.bitPattern))
        // Masking one operation of one edge changes the logits; masking `none` does not.
        var masked = normal.values
        masked[5 * 8 + Primitive.sepConv3x3.index] = 0
        let changed = network.logits(x, operationWeightsNormal: Tensor(shape: [14, 8], values: masked), reduce: reduce).values
        #expect(maxAbs(zip(changed, own).map { $0 - $1 }) > 1e-4)
        var noNone = normal.values
        noNone[5 * 8 + Primitive.none.index] = 0
        let same = network.logits(x, operationWeightsNormal: Tensor(shape: [14, 8], values: noNone), reduce: reduce).values
        #expect(same.map(\.bitPattern) == given.map(\.bitPattern))
    }
}
