import Foundation

/// A minimal SVG 1.1 writer: shapes and text appended in drawing order, every attribute value and
/// text escaped, so the document is well-formed XML. Coordinates are in pixels, y downwards.
struct SVGDocument {
    let width: Double
    let height: Double
    private var elements: [String] = []

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    /// Appends `<name attributes>` with an optional `<title>` (the tooltip viewers show).
    mutating func element(_ name: String, _ attributes: [(String, String)], title: String? = nil, text: String? = nil) {
        let attributeText = attributes.map { " \($0.0)=\"\(escapeXML($0.1))\"" }.joined()
        var inner = ""
        if let title { inner += "<title>\(escapeXML(title))</title>" }
        if let text { inner += escapeXML(text) }
        elements.append(inner.isEmpty ? "<\(name)\(attributeText)/>" : "<\(name)\(attributeText)>\(inner)</\(name)>")
    }

    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String,
                       stroke: String? = nil, className: String? = nil, title: String? = nil) {
        var attributes = [("x", svgNumber(x)), ("y", svgNumber(y)), ("width", svgNumber(width)),
                          ("height", svgNumber(height)), ("fill", fill)]
        if let stroke { attributes.append(("stroke", stroke)) }
        if let className { attributes.append(("class", className)) }
        element("rect", attributes, title: title)
    }

    mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double = 1, dashed: Bool = false) {
        var attributes = [("x1", svgNumber(x1)), ("y1", svgNumber(y1)), ("x2", svgNumber(x2)), ("y2", svgNumber(y2)),
                          ("stroke", stroke), ("stroke-width", svgNumber(width))]
        if dashed { attributes.append(("stroke-dasharray", "4 3")) }
        element("line", attributes)
    }

    mutating func polyline(_ points: [(x: Double, y: Double)], stroke: String, width: Double = 2, className: String? = nil) {
        var attributes = [("points", points.map { "\(svgNumber($0.x)),\(svgNumber($0.y))" }.joined(separator: " ")),
                          ("fill", "none"), ("stroke", stroke), ("stroke-width", svgNumber(width))]
        if let className { attributes.append(("class", className)) }
        element("polyline", attributes)
    }

    mutating func circle(x: Double, y: Double, radius: Double, fill: String, className: String? = nil, title: String? = nil) {
        var attributes = [("cx", svgNumber(x)), ("cy", svgNumber(y)), ("r", svgNumber(radius)), ("fill", fill)]
        if let className { attributes.append(("class", className)) }
        element("circle", attributes, title: title)
    }

    enum Anchor: String { case start, middle, end }

    mutating func text(_ text: String, x: Double, y: Double, size: Double = 12, anchor: Anchor = .start,
                       bold: Bool = false, rotated: Bool = false, color: String = "#222") {
        var attributes = [("x", svgNumber(x)), ("y", svgNumber(y)), ("font-size", svgNumber(size)),
                          ("text-anchor", anchor.rawValue), ("fill", color)]
        if bold { attributes.append(("font-weight", "bold")) }
        if rotated { attributes.append(("transform", "rotate(-90 \(svgNumber(x)) \(svgNumber(y)))")) }
        element("text", attributes, text: text)
    }

    /// The whole document.
    var xml: String {
        let w = svgNumber(width), h = svgNumber(height)
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="\(w)" height="\(h)" viewBox="0 0 \(w) \(h)" \
            font-family="Helvetica, Arial, sans-serif">
            <rect x="0" y="0" width="\(w)" height="\(h)" fill="white"/>
            \(elements.joined(separator: "\n"))
            </svg>

            """
    }
}

/// `&`, `<`, `>`, `"` and `'` as XML entities.
func escapeXML(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.count)
    for c in text {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        default: out.append(c)
        }
    }
    return out
}

/// A coordinate with at most two decimals ("12", "12.5", "12.25"); non-finite values as 0.
func svgNumber(_ value: Double) -> String {
    guard value.isFinite else { return "0" }
    // Beyond 1e15 (a value far off the picture) every double is whole: no Int conversion, which traps past 2^63.
    guard abs(value) < 1e15 else { return String(format: "%.0f", value) }
    let rounded = (value * 100).rounded() / 100
    if rounded == rounded.rounded() { return String(Int(rounded)) }
    return String(format: "%.2f", rounded).replacingOccurrences(of: #"0$"#, with: "", options: .regularExpression)
}
