/// Text taken from an input (a file, a flag) as an error message shows it: cut to a bounded
/// length and with control and formatting characters escaped, so that a 50 MB string or an
/// escape sequence read from a file never reaches the terminal whole.
public enum InputText {
    /// Characters of the input an error message quotes at most.
    public static let quoteLimit = 200

    /// At most `limit` characters of `text`, with control and formatting characters escaped
    /// (`\n`, `\t`, `\r`, `\u{1b}`) and, when it is cut, its length: `abc... (50000000 characters)`.
    public static func escaped(_ text: String, limit: Int = quoteLimit) -> String {
        var out = ""
        var count = 0
        for character in text {
            count += 1
            if count > limit { continue }
            for scalar in character.unicodeScalars {
                switch scalar {
                case "\n": out += "\\n"
                case "\t": out += "\\t"
                case "\r": out += "\\r"
                case _ where scalar.properties.generalCategory == .control || scalar.properties.generalCategory == .format:
                    out += "\\u{" + String(scalar.value, radix: 16) + "}"
                default: out.unicodeScalars.append(scalar)
                }
            }
        }
        return count > limit ? out + "... (\(count) characters)" : out
    }

    /// A file path found on disk (a folder listing), as a message shows it: control and formatting
    /// characters escaped, cut only beyond Linux's PATH_MAX (4096 bytes).
    public static func path(_ path: String) -> String { escaped(path, limit: 4096) }

    /// `text` in single quotes, as ``escaped(_:limit:)`` gives it.
    public static func quote(_ text: String) -> String { "'" + escaped(text) + "'" }
}
