import InputText

/// Why a genotype could not be read or does not fit the DARTS search space. Each description
/// names the input (file, key, cell, node, edge or text position) and says how to fix it.
///
/// Nodes are numbered 0..<4 and edges 0..<8 within a cell, as in the flat DARTS lists
/// (node i owns edges 2i and 2i + 1 and may read states 0..<(i + 2)); NNI's keys name the same
/// node as n(i + 2).
public indirect enum GenotypeError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The text is not a well-formed literal; `line` and `column` are 1-based.
    case syntax(line: Int, column: Int, message: String)
    /// The text is well-formed but is none of the known genotype formats.
    case unrecognizedFormat(String)
    /// A value has the wrong type or shape; `at` names where (a key, an argument, a position).
    case badValue(at: String, found: String, expected: String)
    /// An operation name that the format does not know.
    case unknownOperation(String, at: String, known: [String])
    /// `none` on a kept edge: DARTS never keeps a zero edge.
    case noneOperation(cell: Genotype.Cell, node: Int, edge: Int)
    /// A cell whose flat edge list does not have 2 edges for each of its 4 nodes.
    case wrongEdgeCount(cell: Genotype.Cell, count: Int)
    /// A node (in a per-node layout) that does not have exactly 2 edges.
    case wrongNodeEdgeCount(cell: Genotype.Cell, node: Int, count: Int)
    /// A cell given with a number of nodes other than 4 (per-node layout).
    case wrongNodeCount(cell: Genotype.Cell, count: Int)
    /// An edge reading a state that does not exist yet: node i may read states 0..<(i + 2).
    case inputOutOfRange(cell: Genotype.Cell, node: Int, edge: Int, input: Int)
    /// Both edges of a node read the same state (a format with one operation per edge cannot hold it).
    case duplicateInput(cell: Genotype.Cell, node: Int, input: Int)
    /// An output concatenation other than the four intermediate nodes [2, 3, 4, 5].
    case wrongConcat(cell: Genotype.Cell, concat: [Int])
    /// Keys that do not match the format: missing ones and unexpected ones (docs/algorithm.md §9, fault 10).
    case keyMismatch(format: String, missing: [String], unexpected: [String])
    /// An NNI `..._switch` value that does not choose two inputs of its node.
    case badSwitch(key: String, problem: String)
    /// An NNI edge whose operation disagrees with its node's switch.
    case inconsistentEdge(key: String, problem: String)
    /// A genotype file or folder that cannot be read.
    case unreadable(path: String, reason: String)
    /// An error in the genotype read from `path`.
    case inFile(path: String, GenotypeError)
    /// A text longer than any genotype (``Genotype/maximumTextBytes``); `bytes` is its length in bytes.
    case tooLong(bytes: Int)

    public var description: String {
        switch self {
        case let .syntax(line, column, message):
            return "line \(line), column \(column): \(message)"
        case let .tooLong(bytes):
            return "the text is \(bytes) bytes long; a genotype is a few hundred bytes (at most "
                + "\(Genotype.maximumTextBytes) are read): give a genotype file (DARTS text, JSON or NNI JSON)"
        case let .unrecognizedFormat(what):
            return "\(what) is not a genotype: expected DARTS text `Genotype(normal=[('sep_conv_3x3', 0), ...], "
                + "normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])`, our JSON "
                + "{\"normal\": [[\"sep_conv_3x3\", 0], ...], ...} or an NNI exported architecture {\"normal_n2_p0\": ...}"
        case let .badValue(at, found, expected):
            return "\(at): found \(found); expected \(expected)"
        case let .unknownOperation(name, at, known):
            let nni = Primitive.allCases.first { $0.nniName == name && !known.contains(name) }
            return "\(at): unknown operation \(Self.quote(name)); use one of \(known.joined(separator: ", "))"
                + (nni.map { " ('\(name)' is NNI's name for '\($0.rawValue)')" } ?? "")
        case let .noneOperation(cell, node, edge):
            return "\(Self.place(cell, node, edge)): operation 'none' cannot be kept in a genotype "
                + "(DARTS drops zero edges); choose another input or one of "
                + Self.operationNames.joined(separator: ", ")
        case let .wrongEdgeCount(cell, count):
            return "\(cell.rawValue) has \(count) \(count == 1 ? "edge" : "edges"); a DARTS cell has 8: "
                + "two (operation, input) pairs for each of its 4 nodes"
        case let .wrongNodeEdgeCount(cell, node, count):
            return "\(cell.rawValue), node \(node): \(count) \(count == 1 ? "edge" : "edges"); "
                + "each node takes exactly 2 (operation, input) pairs"
        case let .wrongNodeCount(cell, count):
            return "\(cell.rawValue) has \(count) \(count == 1 ? "node" : "nodes"); a DARTS cell has 4, "
                + "each a list of 2 (operation, input) pairs"
        case let .inputOutOfRange(cell, node, edge, input):
            return "\(Self.place(cell, node, edge)): input \(input) is out of range 0..<\(node + 2) "
                + "(node \(node) may read the 2 cell inputs and the nodes before it)"
        case let .duplicateInput(cell, node, input):
            return "\(cell.rawValue), node \(node): both edges read input \(input); "
                + "NNI's exported architecture holds one operation per edge, so the two inputs must differ"
        case let .wrongConcat(cell, concat):
            let shown = concat.count > 10
                ? "[" + concat.prefix(10).map(String.init).joined(separator: ", ") + ", ...] (\(concat.count) values)"
                : "\(concat)"
            return "\(cell.rawValue)_concat is \(shown); DARTS cells concatenate their 4 nodes: "
                + "use [2, 3, 4, 5] or range(2, 6)"
        case let .keyMismatch(format, missing, unexpected):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing keys: \(Self.list(missing))") }
            if !unexpected.isEmpty { parts.append("unexpected keys: \(Self.list(unexpected))") }
            return "\(format) does not match the DARTS cell: " + parts.joined(separator: "; ")
                + (format == "NNI architecture"
                   ? "; an exported DARTS architecture has 36 keys: {normal|reduce}_n{2..5}_p{j} for j < n, "
                     + "and {normal|reduce}_n{2..5}_switch"
                   : "; expected exactly normal, normal_concat, reduce, reduce_concat")
        case let .badSwitch(key, problem):
            return "\(key): \(problem)"
        case let .inconsistentEdge(key, problem):
            return "\(key): \(problem)"
        case let .unreadable(path, reason):
            return "\(path): \(reason)"
        case let .inFile(path, error):
            return "\(path): \(error)"
        }
    }

    /// "normal, node 1 (edge 3)".
    static func place(_ cell: Genotype.Cell, _ node: Int, _ edge: Int) -> String {
        "\(cell.rawValue), node \(node) (edge \(edge))"
    }

    /// `text` in single quotes, as ``escaped(_:)`` gives it.
    public static func quote(_ text: String) -> String { InputText.quote(text) }

    /// At most ``InputText/quoteLimit`` characters of a text from the input, control characters
    /// escaped (``InputText/escaped(_:limit:)``).
    public static func escaped(_ text: String) -> String { InputText.escaped(text) }

    /// Keys for a message: the first 10, escaped, and how many there are when there are more.
    static func list(_ keys: [String]) -> String {
        let shown = keys.prefix(10).map(escaped).joined(separator: ", ")
        return keys.count > 10 ? shown + ", ... (\(keys.count) in all)" : shown
    }

    /// The operation names a genotype may hold (every primitive but `none`).
    static let operationNames = Primitive.allCases.filter { $0 != .none }.map(\.rawValue)
}
