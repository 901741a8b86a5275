/// A discrete cell pair found by the search (official `Genotype` namedtuple): for each of the 4
/// nodes, two (operation, input state) pairs, in the flat order node 0's two, node 1's two, ...;
/// states 0 and 1 are the cell inputs, 2.. the intermediate nodes; `concat` lists the states that
/// form the output.
public struct Genotype: Sendable, Equatable {
    public struct Edge: Sendable, Equatable {
        public let operation: Primitive
        public let input: Int
        public init(_ operation: Primitive, _ input: Int) { self.operation = operation; self.input = input }
    }

    public var normal: [Edge]
    public var normalConcat: [Int]
    public var reduce: [Edge]
    public var reduceConcat: [Int]

    public init(normal: [Edge], normalConcat: [Int] = [2, 3, 4, 5], reduce: [Edge], reduceConcat: [Int] = [2, 3, 4, 5]) {
        self.normal = normal
        self.normalConcat = normalConcat
        self.reduce = reduce
        self.reduceConcat = reduceConcat
    }

    /// Derives the genotype from the softmax of both alpha matrices (14 rows of 8), docs/algorithm.md §5
    /// (official `Network.genotype`): for each node keep the two incoming edges with the largest
    /// non-`none` weight (stable order, strongest first), each with its strongest non-`none` operation.
    ///
    /// With `maxParameterFree` M (P-DARTS' cap, docs/algorithm.md §11.3), at most M of the normal
    /// cell's 8 edges keep a parameter-free operation; `maxParameterFreeReduce` is the same cap on
    /// the reduction cell's 8 edges; nil is no cap, the rule above bit for bit.
    public init(weightsNormal: [[Float]], weightsReduce: [[Float]], maxParameterFree: Int? = nil,
                maxParameterFreeReduce: Int? = nil) {
        var normal = Genotype.derive(weightsNormal), reduce = Genotype.derive(weightsReduce)
        if let maxParameterFree {
            normal = Genotype.capParameterFree(normal, weights: weightsNormal, maximum: maxParameterFree)
        }
        if let maxParameterFreeReduce {
            reduce = Genotype.capParameterFree(reduce, weights: weightsReduce, maximum: maxParameterFreeReduce)
        }
        self.init(normal: normal, reduce: reduce)
    }

    /// The softmax row of each edge of `edges` (flat order, two per node) in a cell's 14 rows.
    static func row(ofEdgeAt position: Int, _ edge: Edge) -> Int {
        CellLayout.firstEdge(ofNode: position / 2) + edge.input
    }

    /// The weight W[edge][operation] of every edge of `cell`, in its flat order: how strongly the
    /// alphas chose each kept operation. `weights` are the cell's 14 softmax rows.
    public func keptWeights(of cell: Cell, weights: [[Float]]) -> [Float] {
        edges(of: cell).enumerated().map { position, edge in
            weights[Genotype.row(ofEdgeAt: position, edge)][edge.operation.index]
        }
    }

    /// P-DARTS' cap on parameter-free operations (Chen, Xie, Wu, Tian, "Progressive
    /// Differentiable Architecture Search", ICCV 2019, which keeps at most M = 2 skip_connect;
    /// docs/algorithm.md §11.3), on max_pool_3x3, avg_pool_3x3 and skip_connect together: when
    /// more than `maximum` of the 8 derived edges hold one, the weakest of them by their kept
    /// weight W[edge][operation] (ties: the later edge in the flat order first) take the
    /// strongest parameterised operation of their edge (argmax of W over sep_conv_3x3,
    /// sep_conv_5x5, dil_conv_3x3, dil_conv_5x5; ties: the first in PRIMITIVES order). The edges
    /// themselves (which two inputs per node) stay as derived.
    /// - Parameters:
    ///   - edges: a derived cell (flat order, two per node).
    ///   - weights: its 14 softmax rows.
    ///   - maximum: M, 0 ... 8.
    public static func capParameterFree(_ edges: [Edge], weights: [[Float]], maximum: Int) -> [Edge] {
        let free = edges.indices.filter { edges[$0].operation.isParameterFree }
        guard free.count > maximum else { return edges }
        func kept(_ p: Int) -> Float { weights[row(ofEdgeAt: p, edges[p])][edges[p].operation.index] }
        let weakestFirst = free.sorted { a, b in kept(a) != kept(b) ? kept(a) < kept(b) : a > b }
        var result = edges
        for p in weakestFirst.prefix(free.count - maximum) {
            let w = weights[row(ofEdgeAt: p, edges[p])]
            var best: Primitive?
            for op in Primitive.allCases where !op.isParameterFree {
                if best == nil || w[op.index] > w[best!.index] { best = op }
            }
            result[p] = Edge(best!, edges[p].input)
        }
        return result
    }

    /// The 8 edges of one cell from its 14 softmax rows (docs/algorithm.md §5).
    static func derive(_ w: [[Float]]) -> [Edge] {
        let noneIndex = Primitive.none.index
        var gene: [Edge] = []
        for node in 0..<CellLayout.steps {
            let start = CellLayout.firstEdge(ofNode: node)
            let inputs = Array(0..<(node + 2))
            func strength(_ j: Int) -> Float {
                w[start + j].enumerated().filter { $0.offset != noneIndex }.map(\.element).max()!
            }
            // Stable sort by descending strength (Python's sorted is stable).
            let ranked = inputs.enumerated().sorted { a, b in
                let (sa, sb) = (strength(a.element), strength(b.element))
                return sa != sb ? sa > sb : a.offset < b.offset
            }.map(\.element)
            for j in ranked.prefix(2) {
                var best = -1
                for (k, v) in w[start + j].enumerated() where k != noneIndex {
                    if best < 0 || v > w[start + j][best] { best = k }
                }
                gene.append(Edge(Primitive.allCases[best], j))
            }
        }
        return gene
    }

    /// The DARTS text form, as in the official genotypes.py:
    /// `Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])`.
    public var dartsText: String {
        func edges(_ e: [Edge]) -> String { "[" + e.map { "('\($0.operation.rawValue)', \($0.input))" }.joined(separator: ", ") + "]" }
        func list(_ l: [Int]) -> String { "[" + l.map(String.init).joined(separator: ", ") + "]" }
        return "Genotype(normal=\(edges(normal)), normal_concat=\(list(normalConcat)), reduce=\(edges(reduce)), reduce_concat=\(list(reduceConcat)))"
    }

    /// Our JSON (the Codable form) laid out one field to a line, each cell's pairs on one line:
    /// `{"normal": [["sep_conv_3x3", 0], ...], "normal_concat": [2, 3, 4, 5], "reduce": [...], "reduce_concat": [...]}`.
    public var jsonText: String {
        func edges(_ e: [Edge]) -> String { "[" + e.map { "[\"\($0.operation.rawValue)\", \($0.input)]" }.joined(separator: ", ") + "]" }
        func list(_ l: [Int]) -> String { "[" + l.map(String.init).joined(separator: ", ") + "]" }
        return "{\n  \"normal\": \(edges(normal)),\n  \"normal_concat\": \(list(normalConcat)),\n"
            + "  \"reduce\": \(edges(reduce)),\n  \"reduce_concat\": \(list(reduceConcat))\n}"
    }

    /// The two cell types of a genotype: normal cells keep the resolution, reduction cells halve it.
    public enum Cell: String, CaseIterable, Sendable {
        case normal, reduce
    }

    /// The edges of `cell` (flat order, two per node).
    public func edges(of cell: Cell) -> [Edge] {
        cell == .normal ? normal : reduce
    }

    /// The states `cell` concatenates into its output.
    public func concat(of cell: Cell) -> [Int] {
        cell == .normal ? normalConcat : reduceConcat
    }
}

extension Genotype: Codable {
    enum CodingKeys: String, CodingKey {
        case normal, normalConcat = "normal_concat", reduce, reduceConcat = "reduce_concat"
    }

    /// JSON: `{"normal": [["sep_conv_3x3", 0], ...], "normal_concat": [2, 3, 4, 5], "reduce": [...], "reduce_concat": [...]}`.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        func pairs(_ e: [Edge]) -> [[PairElement]] { e.map { [.name($0.operation.rawValue), .index($0.input)] } }
        try c.encode(pairs(normal), forKey: .normal)
        try c.encode(normalConcat, forKey: .normalConcat)
        try c.encode(pairs(reduce), forKey: .reduce)
        try c.encode(reduceConcat, forKey: .reduceConcat)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func edges(_ key: CodingKeys) throws -> [Edge] {
            try c.decode([[PairElement]].self, forKey: key).enumerated().map { i, pair in
                guard pair.count == 2, case .name(let name) = pair[0], case .index(let input) = pair[1] else {
                    throw DecodingError.dataCorruptedError(forKey: key, in: c,
                        debugDescription: "\(key.rawValue)[\(i)] must be [\"operation\", input]")
                }
                guard let op = Primitive(rawValue: name) else {
                    throw DecodingError.dataCorruptedError(forKey: key, in: c,
                        debugDescription: "\(key.rawValue)[\(i)]: unknown operation '\(name)'; known: \(Primitive.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return Edge(op, input)
            }
        }
        self.init(normal: try edges(.normal), normalConcat: try c.decode([Int].self, forKey: .normalConcat),
                  reduce: try edges(.reduce), reduceConcat: try c.decode([Int].self, forKey: .reduceConcat))
    }
}

/// An element of a JSON pair ["sep_conv_3x3", 0].
enum PairElement: Codable {
    case name(String), index(Int)
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) { self = .index(i) } else { self = .name(try c.decode(String.self)) }
    }
    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .name(let s): try c.encode(s)
        case .index(let i): try c.encode(i)
        }
    }
}

extension Genotype {
    /// DARTS_V1 and DARTS_V2, the cells of the paper (official genotypes.py).
    public static let dartsV1 = Genotype(
        normal: [.init(.sepConv3x3, 1), .init(.sepConv3x3, 0), .init(.skipConnect, 0), .init(.sepConv3x3, 1),
                 .init(.skipConnect, 0), .init(.sepConv3x3, 1), .init(.sepConv3x3, 0), .init(.skipConnect, 2)],
        reduce: [.init(.maxPool3x3, 0), .init(.maxPool3x3, 1), .init(.skipConnect, 2), .init(.maxPool3x3, 0),
                 .init(.maxPool3x3, 0), .init(.skipConnect, 2), .init(.skipConnect, 2), .init(.avgPool3x3, 0)])
    public static let dartsV2 = Genotype(
        normal: [.init(.sepConv3x3, 0), .init(.sepConv3x3, 1), .init(.sepConv3x3, 0), .init(.sepConv3x3, 1),
                 .init(.sepConv3x3, 1), .init(.skipConnect, 0), .init(.skipConnect, 0), .init(.dilConv3x3, 2)],
        reduce: [.init(.maxPool3x3, 0), .init(.maxPool3x3, 1), .init(.skipConnect, 2), .init(.maxPool3x3, 1),
                 .init(.maxPool3x3, 0), .init(.skipConnect, 2), .init(.skipConnect, 2), .init(.maxPool3x3, 1)])
}
