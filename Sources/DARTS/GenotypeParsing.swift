import Foundation
import InputText

extension Genotype {
    /// The genotype a finished search leaves in its run folder (JSON), and beside it as DARTS text;
    /// a retrain copies both into its own folder.
    public static let fileName = "genotype.json"
    public static let textFileName = "genotype.txt"

    /// Reads a genotype in any of the formats users hold, without evaluating anything, and
    /// validates it (``validate()``). The format is detected:
    /// - a JSON object with a "normal" key: our JSON (``jsonText``, the Codable form);
    /// - a JSON object with "normal_n2_p0"-style keys: an NNI exported architecture (docs/algorithm.md §5);
    /// - otherwise DARTS text, `Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], ...)`
    ///   in the official flat layout or pt.darts's per-node nested lists, concat as a list or
    ///   `range(2, 6)`, single or double quotes, optionally after `NAME = `.
    /// - Throws: ``GenotypeError`` naming the position, key, cell, node or edge at fault.
    public static func parse(_ text: String) throws -> Genotype {
        guard text.utf8.count <= maximumTextBytes else { throw GenotypeError.tooLong(bytes: text.utf8.count) }
        let literal = try GenotypeLiteralParser.parse(text)
        let genotype: Genotype
        switch literal {
        case .call(let name, let arguments, let keywords):
            guard name.split(separator: ".").last == "Genotype" else {
                throw GenotypeError.unrecognizedFormat("a call \(GenotypeError.escaped(name))(...)")
            }
            genotype = try Genotype(fields: try dartsFields(arguments: arguments, keywords: keywords), format: "Genotype(...)")
        case .dict(let entries):
            let keys = entries.map(\.key)
            if keys.contains("normal") {
                // The parser refuses repeated keys, so the first of each is the only one.
                let fields = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
                genotype = try Genotype(fields: fields, format: "genotype JSON")
            } else if keys.contains(where: { $0.hasPrefix("normal_n") || $0.hasPrefix("reduce_n") }) {
                genotype = try Genotype(nni: entries)
            } else {
                let shown = keys.prefix(5).map(GenotypeError.escaped).joined(separator: ", ") + (keys.count > 5 ? ", ..." : "")
                throw GenotypeError.unrecognizedFormat(keys.isEmpty ? "an empty JSON object" : "a JSON object with keys \(shown)")
            }
        default:
            throw GenotypeError.unrecognizedFormat(literal.summary)
        }
        try genotype.validate()
        return genotype
    }

    /// The genotypes of the official genotypes.py by name, case-insensitive: DARTS_V1, DARTS_V2,
    /// and DARTS (= DARTS_V2, as there); nil for any other name.
    public static func named(_ name: String) -> Genotype? {
        switch name.uppercased() {
        case "DARTS_V1": return .dartsV1
        case "DARTS_V2", "DARTS": return .dartsV2
        default: return nil
        }
    }

    /// Reads the genotype in the file at `path` (any format ``parse(_:)`` reads); for a folder,
    /// the genotype.json of the search run it holds.
    /// - Throws: ``GenotypeError/unreadable(path:reason:)`` when the file cannot be read, and
    ///   ``GenotypeError/inFile(path:_:)`` wrapping the problem in its content.
    public static func load(path: String) throws -> Genotype {
        var file = path
        var isDirectory: ObjCBool = false
        guard !path.isEmpty else {
            throw GenotypeError.unreadable(path: "\"\"", reason: "an empty name; give a genotype file (DARTS text, JSON or "
                + "NNI JSON), a search run folder, DARTS_V1 or DARTS_V2")
        }
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            let trimmed = path.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.hasPrefix("Genotype(") || trimmed.hasPrefix("{") {
                throw GenotypeError.unreadable(path: InputText.escaped(path), reason: "this is a genotype itself, not the "
                    + "name of a file; genotypes are read from files: write it to one (e.g. genotype.txt) and give that file")
            }
            throw GenotypeError.unreadable(path: path, reason: "no such file or folder; give a genotype file "
                + "(DARTS text, JSON or NNI JSON), a search run folder, DARTS_V1 or DARTS_V2")
        }
        if isDirectory.boolValue {
            file = URL(fileURLWithPath: path).appendingPathComponent(Genotype.fileName).path
            guard FileManager.default.fileExists(atPath: file) else {
                throw GenotypeError.unreadable(path: path, reason: "a folder without genotype.json; give a search run "
                    + "folder that finished (it writes genotype.json), or one of its epoch_N.genotype.json files")
            }
        }
        var status = stat()
        if stat(file, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFREG else {
                throw GenotypeError.unreadable(path: file, reason: "is not a regular file (\(fileKind(status.st_mode))); "
                    + "give a genotype file (DARTS text, JSON or NNI JSON), a search run folder, DARTS_V1 or DARTS_V2")
            }
            guard Int(status.st_size) <= maximumTextBytes else {
                throw GenotypeError.inFile(path: file, .tooLong(bytes: Int(status.st_size)))
            }
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw GenotypeError.unreadable(path: file, reason: "cannot be read (\(error.localizedDescription)); check its permissions")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw GenotypeError.unreadable(path: file, reason: "is not UTF-8 text; give a genotype text or JSON file")
        }
        do {
            return try parse(text)
        } catch let error as GenotypeError {
            throw GenotypeError.inFile(path: file, error)
        }
    }

    // MARK: DARTS text and our JSON

    /// The longest `range(...)` a concat may give (a DARTS cell concatenates 4 nodes).
    static let maximumConcatLength = 64

    /// The longest genotype text read, in UTF-8 bytes (a genotype is a few hundred; an NNI
    /// architecture with indentation about 2,000).
    public static let maximumTextBytes = 1_000_000

    /// The field names of the official `Genotype` namedtuple, in its positional order.
    static let fieldNames = ["normal", "normal_concat", "reduce", "reduce_concat"]

    /// The fields of `Genotype(...)`, given by keyword or position.
    private static func dartsFields(arguments: [GenotypeLiteral],
                                    keywords: [(key: String, value: GenotypeLiteral)]) throws -> [String: GenotypeLiteral] {
        if arguments.count > fieldNames.count {
            throw GenotypeError.badValue(at: "Genotype(...)", found: "\(arguments.count) positional arguments",
                expected: "at most 4: normal, normal_concat, reduce, reduce_concat")
        }
        var fields: [String: GenotypeLiteral] = [:]
        for (name, value) in zip(fieldNames, arguments) { fields[name] = value }
        for (key, value) in keywords {
            if fields[key] != nil {
                throw GenotypeError.badValue(at: "Genotype(...)", found: "\(GenotypeError.quote(key)) given by position and by name",
                    expected: "each field once")
            }
            fields[key] = value
        }
        return fields
    }

    /// A genotype from its four fields (DARTS text or our JSON): each cell a flat list of 8
    /// (operation, input) pairs or 4 lists of 2, each concat a list or `range(...)`.
    init(fields: [String: GenotypeLiteral], format: String) throws {
        let missing = Self.fieldNames.filter { fields[$0] == nil }
        let unexpected = fields.keys.filter { !Self.fieldNames.contains($0) }.sorted()
        if !missing.isEmpty || !unexpected.isEmpty {
            throw GenotypeError.keyMismatch(format: format, missing: missing, unexpected: unexpected)
        }
        self.init(normal: try Self.cellEdges(fields["normal"]!, .normal),
                  normalConcat: try Self.concatList(fields["normal_concat"]!, .normal),
                  reduce: try Self.cellEdges(fields["reduce"]!, .reduce),
                  reduceConcat: try Self.concatList(fields["reduce_concat"]!, .reduce))
    }

    /// The 8 edges of a cell from the official flat list or pt.darts's 4 per-node lists.
    private static func cellEdges(_ value: GenotypeLiteral, _ cell: Cell) throws -> [Edge] {
        guard let items = value.elements else {
            throw GenotypeError.badValue(at: cell.rawValue, found: value.summary,
                expected: "a list of (operation, input) pairs, e.g. [('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...]")
        }
        // Nested when every item is a list of lists (a node of pairs).
        let nested = !items.isEmpty && items.allSatisfy { item in
            item.elements.map { $0.allSatisfy { $0.elements != nil } } ?? false
        }
        var pairs: [GenotypeLiteral] = []
        if nested {
            guard items.count == CellLayout.steps else {
                throw GenotypeError.wrongNodeCount(cell: cell, count: items.count)
            }
            for (node, item) in items.enumerated() {
                let nodePairs = item.elements!
                guard nodePairs.count == 2 else {
                    throw GenotypeError.wrongNodeEdgeCount(cell: cell, node: node, count: nodePairs.count)
                }
                pairs += nodePairs
            }
        } else {
            pairs = items
            guard pairs.count == 2 * CellLayout.steps else {
                throw GenotypeError.wrongEdgeCount(cell: cell, count: pairs.count)
            }
        }
        return try pairs.enumerated().map { edge, pair in
            let place = GenotypeError.place(cell, edge / 2, edge)
            guard let p = pair.elements, p.count == 2, case .string(let name) = p[0], case .int(let input) = p[1] else {
                throw GenotypeError.badValue(at: place, found: pair.summary,
                    expected: "an (operation, input) pair such as ('sep_conv_3x3', 0)")
            }
            guard let operation = Primitive(rawValue: name) else {
                throw GenotypeError.unknownOperation(name, at: place, known: GenotypeError.operationNames)
            }
            return Edge(operation, input)
        }
    }

    /// A concat from `[2, 3, 4, 5]`, `range(2, 6)`, `range(6)` or `list(range(2, 6))`.
    private static func concatList(_ value: GenotypeLiteral, _ cell: Cell) throws -> [Int] {
        let key = "\(cell.rawValue)_concat"
        func integer(_ v: GenotypeLiteral) throws -> Int {
            guard case .int(let i) = v else {
                throw GenotypeError.badValue(at: key, found: v.summary, expected: "a list of node indices [2, 3, 4, 5] or range(2, 6)")
            }
            return i
        }
        switch value {
        case .list(let items), .tuple(let items):
            return try items.map(integer)
        case .call("range", let args, let keywords) where keywords.isEmpty && (1...2).contains(args.count):
            let bounds = try args.map(integer)
            let (low, high) = bounds.count == 1 ? (0, bounds[0]) : (bounds[0], bounds[1])
            guard low < high else { return [] }
            // A concat has 4 nodes; a longer range is refused before it is built.
            let (length, overflow) = high.subtractingReportingOverflow(low)
            guard !overflow, length <= maximumConcatLength else {
                throw GenotypeError.badValue(at: key, found: "range(\(low), \(high)), "
                    + (overflow ? "more values than an integer counts" : "\(length) values"),
                    expected: "the 4 intermediate nodes, [2, 3, 4, 5] or range(2, 6)")
            }
            return Array(low..<high)
        case .call("list", let args, let keywords) where keywords.isEmpty && args.count == 1:
            return try concatList(args[0], cell)
        default:
            return [try integer(value)]
        }
    }
}

/// "a FIFO", "a character device", ... for a file's `st_mode`.
func fileKind(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFIFO: return "a FIFO"
    case S_IFCHR: return "a character device"
    case S_IFBLK: return "a block device"
    case S_IFSOCK: return "a socket"
    case S_IFDIR: return "a folder"
    case S_IFLNK: return "a symbolic link"
    default: return "a regular file"
    }
}
