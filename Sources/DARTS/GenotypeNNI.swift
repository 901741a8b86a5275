import Foundation

extension Genotype {
    /// One value of an NNI exported architecture (docs/algorithm.md §5).
    public enum NNIValue: Equatable, Sendable {
        /// An edge's chosen operation, by NNI name ("sepconv3x3").
        case operation(String)
        /// A dropped edge, written `[]`.
        case dropped
        /// A node's switch: the keys of its two chosen edges, in input order.
        case edges([String])
    }

    /// NNI's DARTS candidate operations in its order (the official `PRIMITIVES` without `none`);
    /// integer operation values index this list.
    public static let nniOperations: [Primitive] = Primitive.allCases.filter { $0 != .none }

    /// The 36 keys of an exported DARTS architecture, sorted: `{normal|reduce}_n{2..5}_p{j}` for
    /// each edge into node n from input j < n, and `{normal|reduce}_n{2..5}_switch`.
    public static let nniKeys: [String] = Cell.allCases.flatMap { cell in
        (0..<CellLayout.steps).flatMap { node in
            (0..<(node + 2)).map { nniEdgeKey(cell, node: node, input: $0) } + [nniSwitchKey(cell, node: node)]
        }
    }.sorted()

    /// "normal_n3_p1": the edge into node 1 (NNI's n3) from input 1.
    static func nniEdgeKey(_ cell: Cell, node: Int, input: Int) -> String { "\(cell.rawValue)_n\(node + 2)_p\(input)" }

    /// "normal_n3_switch": the input choice of node 1 (NNI's n3).
    static func nniSwitchKey(_ cell: Cell, node: Int) -> String { "\(cell.rawValue)_n\(node + 2)_switch" }

    private static var nniOperationNames: String { nniOperations.map { $0.nniName! }.joined(separator: ", ") }

    // MARK: Writing

    /// The architecture as NNI's DartsTrainer exports it (v1.6+): every edge key holds its
    /// operation name or `.dropped`, every switch the two chosen edge keys in input order.
    /// - Throws: ``GenotypeError`` when the genotype is invalid (``validate()``) or a node reads
    ///   the same input twice (NNI holds one operation per edge).
    public func nniArchitecture() throws -> [String: NNIValue] {
        try validate()
        var architecture: [String: NNIValue] = [:]
        for cell in Cell.allCases {
            let edges = edges(of: cell)
            for node in 0..<CellLayout.steps {
                let pair = edges[2 * node...2 * node + 1].sorted { $0.input < $1.input }
                if pair[0].input == pair[1].input {
                    throw GenotypeError.duplicateInput(cell: cell, node: node, input: pair[0].input)
                }
                for input in 0..<(node + 2) {
                    let chosen = pair.first { $0.input == input }
                    architecture[Self.nniEdgeKey(cell, node: node, input: input)] =
                        chosen.map { .operation($0.operation.nniName!) } ?? .dropped
                }
                architecture[Self.nniSwitchKey(cell, node: node)] =
                    .edges(pair.map { Self.nniEdgeKey(cell, node: node, input: $0.input) })
            }
        }
        return architecture
    }

    /// The NNI architecture as JSON text, keys sorted and indented by 2 as Python's
    /// `json.dump(arch, f, indent=2, sort_keys=True)` writes it (UTF-8, no final newline).
    /// - Throws: as ``nniArchitecture()``.
    public func nniJSON() throws -> Data {
        let architecture = try nniArchitecture()
        let lines = architecture.keys.sorted().map { key -> String in
            let value: String
            switch architecture[key]! {
            case .operation(let name): value = jsonString(name)
            case .dropped: value = "[]"
            case .edges(let keys): value = "[\n" + keys.map { "    " + jsonString($0) }.joined(separator: ",\n") + "\n  ]"
            }
            return "  \(jsonString(key)): \(value)"
        }
        return Data(("{\n" + lines.joined(separator: ",\n") + "\n}").utf8)
    }

    // MARK: Reading

    /// Reads an NNI exported architecture: its 36 keys in any order, edge values as an NNI
    /// operation name (or an official one), an index into ``nniOperations``, a one-hot list of 7
    /// booleans (NNI 1.2-1.5), or `[]` / all false / null when dropped; switches as the two
    /// chosen edge keys, an n-long boolean list with two true (NNI 1.2-1.5), or two input indices.
    /// Each node's edges are listed in input order (NNI does not rank them).
    /// - Throws: ``GenotypeError/keyMismatch(format:missing:unexpected:)`` listing the keys that
    ///   differ, and errors naming the key whose value is wrong or disagrees with its switch.
    init(nni entries: [(key: String, value: GenotypeLiteral)]) throws {
        let values = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        let expected = Set(Self.nniKeys)
        let missing = Self.nniKeys.filter { values[$0] == nil }
        let unexpected = values.keys.filter { !expected.contains($0) }.sorted()
        if !missing.isEmpty || !unexpected.isEmpty {
            throw GenotypeError.keyMismatch(format: "NNI architecture", missing: missing, unexpected: unexpected)
        }
        var cells: [Cell: [Edge]] = [:]
        for cell in Cell.allCases {
            var edges: [Edge] = []
            for node in 0..<CellLayout.steps {
                let switchKey = Self.nniSwitchKey(cell, node: node)
                let chosen = try Self.nniSwitch(values[switchKey]!, key: switchKey, cell: cell, node: node)
                for input in 0..<(node + 2) {
                    let key = Self.nniEdgeKey(cell, node: node, input: input)
                    switch (try Self.nniOperation(values[key]!, key: key), chosen.contains(input)) {
                    case (let op?, true):
                        edges.append(Edge(op, input))
                    case (nil, true):
                        throw GenotypeError.inconsistentEdge(key: key, problem: "\(switchKey) chooses this edge but it is "
                            + "dropped; give it an operation (\(Self.nniOperationNames)) or choose another edge in the switch")
                    case (let op?, false):
                        throw GenotypeError.inconsistentEdge(key: key, problem: "has operation '\(op.nniName!)' but "
                            + "\(switchKey) does not choose it; set it to [] or choose it in the switch")
                    case (nil, false):
                        break
                    }
                }
            }
            cells[cell] = edges
        }
        self.init(normal: cells[.normal]!, reduce: cells[.reduce]!)
    }

    /// An edge's operation, nil when the edge is dropped.
    private static func nniOperation(_ value: GenotypeLiteral, key: String) throws -> Primitive? {
        let expected = "an NNI operation name (\(nniOperationNames)), its index 0..<7, "
            + "a one-hot list of 7 booleans, or [] for a dropped edge"
        switch value {
        case .null:
            return nil
        case .string(let name):
            if let op = nniOperations.first(where: { $0.nniName == name || $0.rawValue == name }) { return op }
            throw GenotypeError.unknownOperation(name, at: key, known: nniOperations.map { $0.nniName! })
        case .int(let index):
            guard nniOperations.indices.contains(index) else {
                throw GenotypeError.badValue(at: key, found: value.summary, expected: expected)
            }
            return nniOperations[index]
        case .list(let items):
            if items.isEmpty { return nil }
            if items.count == 1, case .string = items[0] { return try nniOperation(items[0], key: key) }
            let flags = booleans(items)
            guard let flags, flags.count == nniOperations.count else {
                throw GenotypeError.badValue(at: key, found: value.summary, expected: expected)
            }
            let on = flags.indices.filter { flags[$0] }
            guard on.count <= 1 else {
                throw GenotypeError.badValue(at: key, found: "\(on.count) true values in its one-hot list",
                    expected: "exactly one true (the operation) or none (a dropped edge)")
            }
            return on.first.map { nniOperations[$0] }
        default:
            throw GenotypeError.badValue(at: key, found: value.summary, expected: expected)
        }
    }

    /// The two inputs a switch chooses.
    private static func nniSwitch(_ value: GenotypeLiteral, key: String, cell: Cell, node: Int) throws -> Set<Int> {
        let states = node + 2
        let edgeKeys = (0..<states).map { nniEdgeKey(cell, node: node, input: $0) }
        guard case .list(let items) = value else {
            throw GenotypeError.badValue(at: key, found: value.summary,
                expected: "a list of the two chosen edge keys, e.g. [\"\(edgeKeys[0])\", \"\(edgeKeys[1])\"]")
        }
        var inputs: [Int] = []
        if case .bool? = items.first {
            // NNI 1.2-1.5: one boolean per input, two of them true.
            guard let flags = booleans(items), flags.count == states else {
                throw GenotypeError.badSwitch(key: key, problem: "is a list of \(items.count) values; as booleans "
                    + "it needs one per input of node n\(states), \(states) in all, two of them true")
            }
            inputs = flags.indices.filter { flags[$0] }
        } else {
            guard items.count <= states else {
                throw GenotypeError.badSwitch(key: key, problem: "holds \(items.count) values; a switch names the two chosen "
                        + "edges of node n\(states), e.g. [\"\(edgeKeys[0])\", \"\(edgeKeys[1])\"]")
            }
            for item in items {
                switch item {
                case .string(let name):
                    guard let input = edgeKeys.firstIndex(of: name) else {
                        throw GenotypeError.badSwitch(key: key, problem: "names \(GenotypeError.quote(name)), which is not an edge into "
                            + "node n\(states); choose two of \(edgeKeys.joined(separator: ", "))")
                    }
                    inputs.append(input)
                case .int(let input):
                    guard (0..<states).contains(input) else {
                        throw GenotypeError.badSwitch(key: key, problem: "names input \(input), but node n\(states) "
                            + "has inputs 0..<\(states); choose two of them")
                    }
                    inputs.append(input)
                default:
                    throw GenotypeError.badSwitch(key: key, problem: "holds \(item.summary); expected edge keys such as "
                        + "\"\(edgeKeys[0])\"")
                }
            }
        }
        var seen: Set<Int> = []
        if let repeated = inputs.first(where: { !seen.insert($0).inserted }) {
            throw GenotypeError.badSwitch(key: key, problem: "chooses \(edgeKeys[repeated]) twice; "
                + "a DARTS node keeps two different edges")
        }
        guard inputs.count == 2 else {
            throw GenotypeError.badSwitch(key: key, problem: "chooses \(inputs.count) \(inputs.count == 1 ? "edge" : "edges")"
                + (inputs.isEmpty ? "" : " (\(inputs.map { edgeKeys[$0] }.joined(separator: ", ")))")
                + "; a DARTS node keeps exactly 2 of \(edgeKeys.joined(separator: ", "))")
        }
        return Set(inputs)
    }

    /// The values as booleans, nil unless every one is a boolean.
    private static func booleans(_ items: [GenotypeLiteral]) -> [Bool]? {
        let flags = items.compactMap { item -> Bool? in
            if case .bool(let b) = item { return b }
            return nil
        }
        return flags.count == items.count ? flags : nil
    }
}

/// A JSON string literal.
private func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
