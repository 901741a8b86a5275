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
    public init(weightsNormal: [[Float]], weightsReduce: [[Float]]) {
        self.init(normal: Genotype.derive(weightsNormal), reduce: Genotype.derive(weightsReduce))
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
