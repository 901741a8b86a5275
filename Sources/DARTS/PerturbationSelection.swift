/// Perturbation-based architecture selection (Wang, Cheng, Chen, Tang, Hsieh, "Rethinking
/// Architecture Selection in Differentiable NAS", ICLR 2021, DARTS-PT; docs/algorithm.md §11.5):
/// an operation is kept for how much the trained supernet's validation accuracy drops when it is
/// masked out, not for the magnitude of its alpha.
///
/// This is the paper's criterion applied once to a finished search, without its progressive
/// projection and the fine-tuning between projections:
/// - operations: for every edge of both cell types and every operation other than `none`, the
///   supernet is measured with that one weight set to 0 (the others unchanged, not renormalized,
///   as DARTS-PT masks); the edge keeps the operation whose removal leaves the lowest accuracy;
/// - edges: for every node with more than two inputs, the supernet is measured with each incoming
///   edge's whole row set to 0; the node keeps the two edges whose removal leaves the lowest
///   accuracy, the more important first.
/// Ties in accuracy go to the higher loss, then to the earlier operation (PRIMITIVES order) or edge.
/// Every measurement starts from the unmasked supernet, so the result does not depend on an order.
public enum PerturbationSelection {
    /// What the supernet measures under one set of operation weights.
    public struct Score: Sendable, Equatable, Codable {
        /// Top-1 accuracy, 0...1.
        public var accuracy: Double
        /// Mean cross-entropy.
        public var loss: Double
        public init(accuracy: Double, loss: Double) { self.accuracy = accuracy; self.loss = loss }

        /// Whether removing what gave `self` hurts more than removing what gave `other`: lower
        /// accuracy, then higher loss.
        func hurtsMore(than other: Score) -> Bool {
            accuracy != other.accuracy ? accuracy < other.accuracy : loss > other.loss
        }
    }

    /// The scores behind one selection, for the record.
    public struct Record: Sendable, Equatable, Codable {
        /// The unmasked supernet.
        public var baseline: Score
        /// Per cell type ("normal", "reduce"): 14 rows of 8, the score with that operation masked
        /// (nil for `none`, which is never measured).
        public var operationScores: [String: [[Score?]]]
        /// Per cell type: 14 entries, the score with the whole edge removed (nil for the edges of
        /// node 0, whose two inputs are both kept without measuring).
        public var edgeScores: [String: [Score?]]
    }

    /// The number of measurements ``select(weightsNormal:weightsReduce:measure:)`` makes: the
    /// baseline, 7 operations on each of 14 edges, and the 12 edges of nodes 1 to 3, per cell type.
    public static let measurementCount = 1 + 2 * (CellLayout.edgeCount * (Primitive.count - 1) + 3 + 4 + 5)

    /// Selects a genotype.
    /// - Parameters:
    ///   - weightsNormal, weightsReduce: the operation weights of the trained supernet, 14 rows of
    ///     8 (softmax of the alphas).
    ///   - measure: the supernet's score on the selection images with the given normal and
    ///     reduction weights (14 rows of 8 each) in place of the trained ones.
    ///   - progress: called after each measurement with the count done so far.
    public static func select(weightsNormal: [[Float]], weightsReduce: [[Float]],
                              measure: (_ normal: [[Float]], _ reduce: [[Float]]) throws -> Score,
                              progress: (Int) -> Void = { _ in }) rethrows -> (genotype: Genotype, record: Record) {
        precondition(weightsNormal.count == CellLayout.edgeCount && weightsReduce.count == CellLayout.edgeCount
                     && (weightsNormal + weightsReduce).allSatisfy { $0.count == Primitive.count },
                     "operation weights must be 14 rows of \(Primitive.count)")
        var done = 0
        func measured(_ normal: [[Float]], _ reduce: [[Float]]) throws -> Score {
            let score = try measure(normal, reduce)
            done += 1
            progress(done)
            return score
        }
        let baseline = try measured(weightsNormal, weightsReduce)
        var operationScores: [String: [[Score?]]] = [:]
        var edgeScores: [String: [Score?]] = [:]
        var cells: [Genotype.Cell: [Genotype.Edge]] = [:]
        for cell in Genotype.Cell.allCases {
            let own = cell == .normal ? weightsNormal : weightsReduce
            func score(_ changed: [[Float]]) throws -> Score {
                cell == .normal ? try measured(changed, weightsReduce) : try measured(weightsNormal, changed)
            }
            var scores = [[Score?]](repeating: [Score?](repeating: nil, count: Primitive.count), count: CellLayout.edgeCount)
            var chosen: [Primitive] = []
            for edge in 0..<CellLayout.edgeCount {
                var best: (Primitive, Score)?
                for op in Primitive.allCases where op != .none {
                    var changed = own
                    changed[edge][op.index] = 0
                    let s = try score(changed)
                    scores[edge][op.index] = s
                    if best == nil || s.hurtsMore(than: best!.1) { best = (op, s) }
                }
                chosen.append(best!.0)
            }
            var removal = [Score?](repeating: nil, count: CellLayout.edgeCount)
            var edges: [Genotype.Edge] = []
            for node in 0..<CellLayout.steps {
                let first = CellLayout.firstEdge(ofNode: node)
                let inputs = Array(0..<(node + 2))
                guard inputs.count > 2 else {
                    edges += inputs.map { Genotype.Edge(chosen[first + $0], $0) }
                    continue
                }
                for input in inputs {
                    var changed = own
                    changed[first + input] = [Float](repeating: 0, count: Primitive.count)
                    removal[first + input] = try score(changed)
                }
                // Stable: among equal scores the earlier input stays first.
                let ranked = inputs.sorted { a, b in
                    let (sa, sb) = (removal[first + a]!, removal[first + b]!)
                    return sa.hurtsMore(than: sb) || (sa == sb && a < b)
                }
                edges += ranked.prefix(2).map { Genotype.Edge(chosen[first + $0], $0) }
            }
            operationScores[cell.rawValue] = scores
            edgeScores[cell.rawValue] = removal
            cells[cell] = edges
        }
        let genotype = Genotype(normal: cells[.normal]!, reduce: cells[.reduce]!)
        return (genotype, Record(baseline: baseline, operationScores: operationScores, edgeScores: edgeScores))
    }
}
