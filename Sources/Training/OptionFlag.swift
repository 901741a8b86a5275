/// One command-line flag of an options type (``SearchOptions``, ``RetrainOptions``,
/// ``BenchOptions``): its name, the field it sets, and whether a resumed run may set it anew.
///
/// Each options type lists its flags once, in ``CommandLineOptions/flags``. Everything a command
/// does with its flags is derived from that table: the options built from the parsed command line
/// (``CommandLineOptions/applying(_:)``), the values as text for config comparisons and messages
/// (``CommandLineOptions/flagValues``), and what `--resume` compares and takes anew.
public struct OptionFlag<Options> {
    /// The flag as typed, "--batch-size".
    public let name: String
    /// Whether `--resume` may give this flag another value than the saved run's (where the data
    /// are, how often to print, ...); the other flags define the run and must keep their values.
    public let resumable: Bool
    /// The field's value as text; an unset optional field reads as the `unset` text given to init.
    public let text: (Options) -> String
    /// Sets the field to a parsed command-line value; false if the value has another type.
    let assign: (inout Options, Any) -> Bool
    /// Copies the field from other options.
    let copy: (inout Options, Options) -> Void
    /// Whether the field holds a number (an integer or a floating-point value, optional or not):
    /// the flags whose text must parse as a finite number.
    public let isNumber: Bool

    /// - Parameters:
    ///   - name: the flag, "--lr".
    ///   - field: the options' field it sets.
    ///   - resumable: whether `--resume` may change it.
    ///   - unset: the text of an optional field that is nil ("(all)", "(every epoch)").
    public init<Value>(_ name: String, _ field: WritableKeyPath<Options, Value>, resumable: Bool = false,
                       unset: String = "(none)") {
        self.name = name
        self.resumable = resumable
        text = { options in describeValue(options[keyPath: field]) ?? unset }
        assign = { options, value in
            guard let typed = value as? Value else { return false }
            options[keyPath: field] = typed
            return true
        }
        copy = { options, other in options[keyPath: field] = other[keyPath: field] }
        let numbers: [Any.Type] = [Int.self, Int?.self, UInt64.self, UInt64?.self, Float.self, Float?.self,
                                   Double.self, Double?.self]
        isNumber = numbers.contains { $0 == Value.self }
    }
}

/// An options type whose fields are set by command-line flags, listed in one table.
public protocol CommandLineOptions {
    /// Every flag that sets a field, in `--help` order.
    static var flags: [OptionFlag<Self>] { get }
}

extension CommandLineOptions {
    /// The row of `name` ("--lr"), if it sets a field.
    public static func flag(_ name: String) -> OptionFlag<Self>? {
        flags.first { $0.name == name }
    }

    /// Every flag and its value as text, in `--help` order.
    public var flagValues: [(flag: String, value: String)] {
        Self.flags.map { ($0.name, $0.text(self)) }
    }

    /// The flags that define the run (all but the resumable ones and --out), with their values:
    /// two runs with the same text take the same steps.
    public var definingValues: [(flag: String, value: String)] {
        Self.flags.filter { !$0.resumable && $0.name != "--out" }.map { ($0.name, $0.text(self)) }
    }

    /// These options with the parsed command-line values `given` set, keyed by flag name; flags
    /// that set no field (--resume, --log-level, ...) are left to the caller.
    /// - Precondition: each value has its field's type (a programmer error otherwise: the
    ///   command's declaration and the table disagree, which a test checks).
    public func applying(_ given: [String: Any]) -> Self {
        var options = self
        for row in Self.flags {
            guard let value = given[row.name] else { continue }
            let assigned = row.assign(&options, value)   // not inside precondition: -Ounchecked drops its condition
            precondition(assigned, "\(row.name): the parsed value \(value) does not fit its field")
        }
        return options
    }

    /// These options with the fields of `names` taken from `other`.
    public func copying(_ names: Set<String>, from other: Self) -> Self {
        var options = self
        for row in Self.flags where names.contains(row.name) { row.copy(&options, other) }
        return options
    }
}

/// A value as text for messages ("0.025", "fast"), nil for an optional that is nil.
func describeValue(_ value: Any) -> String? {
    let mirror = Mirror(reflecting: value)
    guard mirror.displayStyle == .optional else {
        if let raw = value as? any RawRepresentable { return "\(raw.rawValue)" }
        return "\(value)"
    }
    guard let wrapped = mirror.children.first?.value else { return nil }
    return describeValue(wrapped)
}
