import DartsTensor

extension Genotype {
    /// Checks that the genotype is a DARTS cell pair (docs/algorithm.md §2, §5): in each cell 8 edges
    /// (2 for each of the 4 nodes), node i reading inputs 0..<(i + 2), no `none` operation, and
    /// the concat [2, 3, 4, 5]. Cells are checked normal first, edges in order.
    /// - Throws: ``GenotypeError`` naming the cell, node and edge, e.g.
    ///   "reduce, node 3 (edge 7): input 6 is out of range 0..<5".
    public func validate() throws {
        for cell in Cell.allCases {
            let edges = edges(of: cell)
            guard edges.count == 2 * CellLayout.steps else {
                throw GenotypeError.wrongEdgeCount(cell: cell, count: edges.count)
            }
            for (index, edge) in edges.enumerated() {
                let node = index / 2
                if edge.operation == .none {
                    throw GenotypeError.noneOperation(cell: cell, node: node, edge: index)
                }
                guard (0..<(node + 2)).contains(edge.input) else {
                    throw GenotypeError.inputOutOfRange(cell: cell, node: node, edge: index, input: edge.input)
                }
            }
            let concat = concat(of: cell)
            guard concat == Array(2..<(2 + CellLayout.steps)) else {
                throw GenotypeError.wrongConcat(cell: cell, concat: concat)
            }
        }
    }

    /// The same genotype with each node's two edges listed in input order, the order NNI's format
    /// and ``random(seed:)`` give. DARTS lists a node's stronger edge first; the order does not
    /// change the network, so genotypes that differ only in it become equal here.
    public var inputOrdered: Genotype {
        func ordered(_ edges: [Edge]) -> [Edge] {
            stride(from: 0, to: edges.count, by: 2).flatMap { k -> [Edge] in
                let node = Array(edges[k..<min(k + 2, edges.count)])
                return node.count == 2 && node[1].input < node[0].input ? [node[1], node[0]] : node
            }
        }
        return Genotype(normal: ordered(normal), normalConcat: normalConcat, reduce: ordered(reduce), reduceConcat: reduceConcat)
    }

    /// A genotype drawn uniformly from the DARTS cell space (the random-search baseline of the
    /// paper, Table 1): for each node of each cell two distinct inputs, uniform among the pairs,
    /// listed in input order, each with an operation uniform over the 7 non-`none` primitives.
    /// The same seed gives the same genotype (``RandomGenerator``, xoshiro256**).
    public static func random(seed: UInt64) -> Genotype {
        var rng = RandomGenerator(seed: seed)
        let operations = Primitive.allCases.filter { $0 != .none }
        func cell() -> [Edge] {
            (0..<CellLayout.steps).flatMap { node -> [Edge] in
                let states = node + 2
                let first = rng.nextInt(below: states)
                var second = rng.nextInt(below: states - 1)
                if second >= first { second += 1 }
                return [min(first, second), max(first, second)].map { input in
                    Edge(operations[rng.nextInt(below: operations.count)], input)
                }
            }
        }
        let normal = cell()
        return Genotype(normal: normal, reduce: cell())
    }
}
