/// A value of the literal language genotype files are written in: the JSON values plus the
/// Python literals of genotypes.py (single-quoted strings, tuples, True/False/None, calls such as
/// `Genotype(normal=[...], ...)` and `range(2, 6)`). Read by ``GenotypeLiteralParser``; nothing is
/// evaluated.
indirect enum GenotypeLiteral {
    case string(String)
    case int(Int)
    case bool(Bool)
    case null
    /// `[a, b]`.
    case list([GenotypeLiteral])
    /// `(a, b)` or `(a,)`.
    case tuple([GenotypeLiteral])
    /// `{"key": value, ...}`, keys in the order written.
    case dict([(key: String, value: GenotypeLiteral)])
    /// `name(positional..., keyword=value...)`; `name` may be dotted (`genotypes.Genotype`).
    case call(name: String, arguments: [GenotypeLiteral], keywords: [(key: String, value: GenotypeLiteral)])

    /// The elements of a list or a tuple, nil for any other value.
    var elements: [GenotypeLiteral]? {
        switch self {
        case .list(let e), .tuple(let e): return e
        default: return nil
        }
    }

    /// A short phrase for error messages: "the string 'x'", "a list of 3 values".
    var summary: String {
        switch self {
        case .string(let s): return "the string \(GenotypeError.quote(s))"
        case .int(let i): return "the integer \(i)"
        case .bool(let b): return "the boolean \(b)"
        case .null: return "null"
        case .list(let e): return e.isEmpty ? "an empty list" : "a list of \(e.count) \(e.count == 1 ? "value" : "values")"
        case .tuple(let e): return "a tuple of \(e.count) \(e.count == 1 ? "value" : "values")"
        case .dict(let e): return "an object with \(e.count) \(e.count == 1 ? "key" : "keys")"
        case .call(let name, _, _): return "a call \(GenotypeError.escaped(name))(...)"
        }
    }
}

/// A tokenizer and recursive-descent parser for ``GenotypeLiteral``:
///
///     document := [NAME '='] value
///     value    := STRING | INT | True | False | None | true | false | null
///               | '[' values ']' | '(' values ')' | '{' STRING ':' value, ... '}'
///               | NAME '(' (value | NAME '=' value), ... ')'
///
/// Whitespace and newlines may appear between any two tokens, `#` starts a comment to the end of
/// the line, and a trailing comma is allowed before any closing bracket (as in Python).
/// Errors are ``GenotypeError/syntax(line:column:message:)`` with 1-based positions.
struct GenotypeLiteralParser {
    enum Kind: Equatable {
        case name(String), string(String), int(Int), punctuation(Character), end
    }

    struct Token {
        let kind: Kind
        let line: Int
        let column: Int
    }

    private var tokens: [Token] = []
    private var position = 0
    /// The brackets opened and not yet closed, innermost last.
    private var open: [Token] = []

    /// Parses a whole document (an optional `NAME = ` prefix, then one value).
    static func parse(_ text: String) throws -> GenotypeLiteral {
        var parser = GenotypeLiteralParser()
        parser.tokens = try tokenize(text)
        if case .name = parser.tokens[0].kind, parser.tokens[1].kind == .punctuation("=") { parser.position = 2 }
        if parser.peek.kind == .end {
            throw parser.error(at: parser.peek, "the text is empty; expected a genotype")
        }
        let value = try parser.value()
        if parser.peek.kind != .end {
            throw parser.error(at: parser.peek, "unexpected \(describe(parser.peek.kind)) after the genotype; "
                + "a file holds one genotype")
        }
        return value
    }

    // MARK: Parser

    private var peek: Token { tokens[position] }

    private mutating func next() -> Token {
        defer { position += 1 }
        return tokens[position]
    }

    private func error(at token: Token, _ message: String) -> GenotypeError {
        .syntax(line: token.line, column: token.column, message: message)
    }

    private mutating func value() throws -> GenotypeLiteral {
        let token = next()
        switch token.kind {
        case .string(let s): return .string(s)
        case .int(let i): return .int(i)
        case .punctuation("["): return .list(try sequence(opened: token, closing: "]"))
        case .punctuation("("):
            // `(x)` is x; `(x,)` and `(x, y)` are tuples, as in Python.
            let start = position
            let items = try sequence(opened: token, closing: ")")
            let hadComma = tokens[start..<position].contains { $0.kind == .punctuation(",") }
            return items.count == 1 && !hadComma ? items[0] : .tuple(items)
        case .punctuation("{"): return try dictionary(opened: token)
        case .name(let name):
            switch name {
            case "True", "true": return .bool(true)
            case "False", "false": return .bool(false)
            case "None", "null": return .null
            default: break
            }
            if peek.kind == .punctuation("="), let inner = open.last, inner.kind != .punctuation("(") {
                throw error(at: token, "\(GenotypeError.quote(name + "=")) inside the '\(Self.bracket(inner))' opened at line \(inner.line), "
                    + "column \(inner.column); close that bracket before \(GenotypeError.quote(name + "="))")
            }
            guard peek.kind == .punctuation("(") else {
                throw error(at: token, "unknown name \(GenotypeError.quote(name)); a genotype holds only literals "
                    + "(strings, integers, lists, tuples) and the calls Genotype(...) and range(...)")
            }
            return try call(name: name)
        case .end:
            throw error(at: token, "the text ends where a value was expected")
        default:
            throw error(at: token, "unexpected \(Self.describe(token.kind)); expected a value")
        }
    }

    /// Brackets nested deeper than this are refused (a genotype nests 3 deep; the bound keeps the
    /// recursion of the parser, and of freeing what it built, far from the end of the stack).
    static let maximumDepth = 32

    /// Records `opened` as the innermost open bracket.
    /// - Throws: ``GenotypeError/syntax(line:column:message:)`` beyond ``maximumDepth``.
    private mutating func enter(_ opened: Token) throws {
        guard open.count < Self.maximumDepth else {
            throw error(at: opened, "brackets nested more than \(Self.maximumDepth) deep; a genotype nests 3 deep "
                + "(a list of nodes, each a list of pairs)")
        }
        open.append(opened)
    }

    /// Comma-separated values up to `closing`; the opening bracket has been read.
    private mutating func sequence(opened: Token, closing: Character) throws -> [GenotypeLiteral] {
        try enter(opened)
        defer { open.removeLast() }
        var items: [GenotypeLiteral] = []
        while true {
            if peek.kind == .punctuation(closing) { _ = next(); return items }
            try checkNotEnd(opened: opened, closing: closing)
            items.append(try value())
            try separator(opened: opened, closing: closing)
        }
    }

    private mutating func dictionary(opened: Token) throws -> GenotypeLiteral {
        try enter(opened)
        defer { open.removeLast() }
        var entries: [(key: String, value: GenotypeLiteral)] = []
        var keys: Set<String> = []
        while true {
            if peek.kind == .punctuation("}") { _ = next(); return .dict(entries) }
            try checkNotEnd(opened: opened, closing: "}")
            let keyToken = next()
            guard case .string(let key) = keyToken.kind else {
                throw error(at: keyToken, "expected a quoted key, found \(Self.describe(keyToken.kind))")
            }
            guard keys.insert(key).inserted else {
                throw error(at: keyToken, "key \(GenotypeError.quote(key)) appears twice; keep one")
            }
            let colon = next()
            guard colon.kind == .punctuation(":") else {
                throw error(at: colon, "expected ':' after key \(GenotypeError.quote(key)), found \(Self.describe(colon.kind))")
            }
            entries.append((key, try value()))
            try separator(opened: opened, closing: "}")
        }
    }

    private mutating func call(name: String) throws -> GenotypeLiteral {
        let opened = next()
        try enter(opened)
        defer { open.removeLast() }
        var arguments: [GenotypeLiteral] = []
        var keywords: [(key: String, value: GenotypeLiteral)] = []
        var keys: Set<String> = []   // the duplicate check in constant time: a 1 MB call has ~10^5 keywords
        while true {
            if peek.kind == .punctuation(")") {
                _ = next()
                return .call(name: name, arguments: arguments, keywords: keywords)
            }
            try checkNotEnd(opened: opened, closing: ")")
            if case .name(let key) = peek.kind, tokens[position + 1].kind == .punctuation("=") {
                let keyToken = next()
                _ = next()
                if !keys.insert(key).inserted {
                    throw error(at: keyToken, "argument \(GenotypeError.quote(key)) is given twice; keep one")
                }
                keywords.append((key, try value()))
            } else {
                if !keywords.isEmpty {
                    throw error(at: peek, "a positional argument follows keyword arguments in \(name)(...)")
                }
                arguments.append(try value())
            }
            try separator(opened: opened, closing: ")")
        }
    }

    /// After an item: a comma, or the closing bracket (left for the caller's loop).
    private mutating func separator(opened: Token, closing: Character) throws {
        if peek.kind == .punctuation(",") { _ = next(); return }
        if peek.kind == .punctuation(closing) { return }
        try checkNotEnd(opened: opened, closing: closing)
        throw error(at: peek, "expected ',' or '\(closing)' to close the '\(Self.bracket(opened))' opened at "
            + "line \(opened.line), column \(opened.column), found \(Self.describe(peek.kind)); "
            + "check that every bracket is closed in order")
    }

    private func checkNotEnd(opened: Token, closing: Character) throws {
        if peek.kind == .end {
            throw error(at: peek, "the text ends before '\(closing)' closes the '\(Self.bracket(opened))' opened at "
                + "line \(opened.line), column \(opened.column); add the missing '\(closing)'")
        }
    }

    private static func bracket(_ token: Token) -> String {
        if case .punctuation(let c) = token.kind { return String(c) }
        return "?"
    }

    static func describe(_ kind: Kind) -> String {
        switch kind {
        case .name(let n): return GenotypeError.quote(n)
        case .string(let s): return "the string \(GenotypeError.quote(s))"
        case .int(let i): return "the integer \(i)"
        case .punctuation(let c): return "'\(c)'"
        case .end: return "the end of the text"
        }
    }

    // MARK: Tokenizer

    static func tokenize(_ text: String) throws -> [Token] {
        let s = Array(text.unicodeScalars)
        var tokens: [Token] = []
        var i = 0, line = 1, lineStart = 0
        func fail(_ at: Int, _ message: String) -> GenotypeError {
            .syntax(line: line, column: at - lineStart + 1, message: message)
        }
        func isNameStart(_ c: Unicode.Scalar) -> Bool { c == "_" || c.properties.isAlphabetic }
        func isDigit(_ c: Unicode.Scalar) -> Bool { ("0"..."9").contains(c) }
        func slice(_ range: Range<Int>) -> String { String(String.UnicodeScalarView(s[range])) }
        while i < s.count {
            let c = s[i]
            let column = i - lineStart + 1
            if c == "\n" { i += 1; line += 1; lineStart = i; continue }
            if c == " " || c == "\t" || c == "\r" || c == "\u{FEFF}" { i += 1; continue }
            if c == "#" {
                while i < s.count && s[i] != "\n" { i += 1 }
                continue
            }
            if "[](){},:=".unicodeScalars.contains(c) {
                tokens.append(Token(kind: .punctuation(Character(c)), line: line, column: column))
                i += 1
            } else if c == "'" || c == "\"" {
                let start = i
                var value = ""
                i += 1
                while true {
                    guard i < s.count, s[i] != "\n" else {
                        throw fail(start, "the string opened here is not closed; add the closing \(c)")
                    }
                    if s[i] == c { i += 1; break }
                    if s[i] == "\\", i + 1 < s.count {
                        i += 1
                        switch s[i] {
                        case "n": value += "\n"
                        case "t": value += "\t"
                        case "r": value += "\r"
                        case "u":
                            guard i + 4 < s.count, let code = UInt32(slice((i + 1)..<(i + 5)), radix: 16),
                                  let scalar = Unicode.Scalar(code) else { throw fail(i - 1, "bad \\u escape; write \\uXXXX") }
                            value.unicodeScalars.append(scalar)
                            i += 4
                        default: value.unicodeScalars.append(s[i])
                        }
                        i += 1
                        continue
                    }
                    value.unicodeScalars.append(s[i])
                    i += 1
                }
                tokens.append(Token(kind: .string(value), line: line, column: column))
            } else if isDigit(c) || (c == "-" && i + 1 < s.count && isDigit(s[i + 1])) {
                let start = i
                i += 1
                while i < s.count && isDigit(s[i]) { i += 1 }
                let digits = slice(start..<i)
                if i < s.count && (s[i] == "." || s[i] == "e" || s[i] == "E") {
                    throw fail(start, "only integers appear in a genotype; found a number with '\(s[i])' after "
                        + GenotypeError.escaped(digits))
                }
                guard let value = Int(digits) else {
                    throw fail(start, "the integer \(GenotypeError.escaped(digits)) is too large")
                }
                tokens.append(Token(kind: .int(value), line: line, column: column))
            } else if isNameStart(c) {
                let start = i
                while i < s.count && (isNameStart(s[i]) || isDigit(s[i]) || s[i] == ".") { i += 1 }
                tokens.append(Token(kind: .name(slice(start..<i)), line: line, column: column))
            } else {
                throw fail(i, "unexpected character \(GenotypeError.quote(String(c)))")
            }
        }
        // Two end tokens let the parser look one token ahead anywhere.
        let end = Token(kind: .end, line: line, column: i - lineStart + 1)
        return tokens + [end, end]
    }
}
