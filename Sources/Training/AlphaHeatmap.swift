import Foundation

/// How softmax(alpha) of one cell type moved during a search, as SVG: one small heatmap per edge
/// (rows: the operations, in `primitives` order; columns: the epochs), the edges laid out as the
/// cell's DAG, one row of panels per intermediate node (node i has i + 2 incoming edges: from
/// c_{k-2}, c_{k-1} and the nodes before it). Every square (class "cell") has its weight as
/// tooltip.
///
/// The colour says how far a weight is from uniform, 1 / (number of operations), where every edge
/// starts: uniform is white, above it blue, below it red, on a scale symmetric around uniform
/// (``ColourScale``) whose half-range is the largest deviation in the picture but at least
/// ``minimumHalfRange``, so that a search that has not chosen anything (every weight within
/// 0.001 of 1/8) stays pale instead of being stretched into a decisive-looking picture. The legend
/// prints the range. Epochs whose alphas were frozen (warm-up) are marked by a grey bar over
/// their columns.
struct AlphaHeatmap {
    /// "normal" or "reduce".
    var cell: String
    var primitives: [String]
    /// The epochs, in order, and for each the weights [edge][operation] (rows sum to 1).
    var epochs: [Int]
    var weights: [[[Float]]]
    /// Per epoch (same order): whether the alphas were frozen during it; empty: none were.
    var frozen: [Bool] = []

    /// The smallest half-range of the colour scale: a deviation of 0.05 from uniform is full colour
    /// or less; smaller deviations stay pale.
    static let minimumHalfRange = 0.05

    /// A diverging scale centred on the uniform weight: `position(w)` is 0.5 at uniform, 0 at
    /// uniform - halfRange, 1 at uniform + halfRange (clamped).
    struct ColourScale: Equatable {
        var uniform: Double
        var halfRange: Double

        /// The scale of `values` (softmax weights over `operations` operations).
        init(values: [Double], operations: Int) {
            uniform = 1 / Double(max(1, operations))
            let deviation = values.map { abs($0 - 1 / Double(max(1, operations))) }.max() ?? 0
            halfRange = max(AlphaHeatmap.minimumHalfRange, deviation)
        }

        func position(_ w: Double) -> Double { 0.5 + (w - uniform) / (2 * halfRange) }

        func colour(_ w: Double) -> String { redWhiteBlue(position(w)) }
    }

    /// The name of state j of a cell with the DARTS numbering (0: c_{k-2}, 1: c_{k-1}, 2...: node j-2).
    static func stateName(_ j: Int) -> String { j == 0 ? "c_{k-2}" : j == 1 ? "c_{k-1}" : String(j - 2) }

    /// (node, input state) of each edge, in DARTS' edge order.
    static func edges(count: Int) -> [(node: Int, input: Int)] {
        var result: [(Int, Int)] = []
        var node = 0
        while result.count < count {
            for input in 0..<(node + 2) where result.count < count { result.append((node, input)) }
            node += 1
        }
        return result
    }

    func svg() -> String {
        let edgeCount = weights.first?.count ?? 0
        let edges = Self.edges(count: edgeCount)
        let nodes = (edges.last?.node ?? -1) + 1
        let maxPanels = (0..<nodes).map { n in edges.filter { $0.node == n }.count }.max() ?? 0
        let opHeight = 11.0
        // Panels at least 72 px wide (room for their titles), columns 3 to 18 px.
        let epochWidth = max(3, min(18, 120 / Double(max(1, epochs.count))), 72 / Double(max(1, epochs.count)))
        let panelWidth = epochWidth * Double(epochs.count), panelHeight = opHeight * Double(primitives.count)
        let labelWidth = 104.0, gap = 16.0, titleHeight = 18.0, top = 48.0
        let rowHeight = titleHeight + panelHeight + 22
        let width = max(labelWidth + Double(maxPanels) * (panelWidth + gap) + 80, 480)
        let height = top + Double(nodes) * rowHeight + 10
        let scale = ColourScale(values: weights.joined().joined().map(Double.init), operations: primitives.count)
        func shade(_ w: Double) -> String { scale.colour(w) }
        let frozenEpochs = zip(epochs, frozen).filter(\.1).map(\.0)

        var doc = SVGDocument(width: width, height: height)
        let cellName = cell == "reduce" ? "reduction" : cell
        doc.text("softmax(alpha) of the \(cellName) cell per edge over \(epochs.count) epoch(s)",
                 x: 10, y: 22, size: 15, bold: true)
        doc.text("rows: operations; columns: epochs \(epochs.first ?? 0) to \(epochs.last ?? 0); white = uniform (1/\(primitives.count))"
                 + (frozenEpochs.isEmpty ? "" : "; grey bar: alphas frozen (warm-up), epoch(s) \(Self.ranges(frozenEpochs))"),
                 x: 10, y: 38, size: 11, color: "#555")

        var panelIndex = [Int](repeating: 0, count: nodes)
        for (e, edge) in edges.enumerated() {
            let column = panelIndex[edge.node]
            panelIndex[edge.node] += 1
            let x0 = labelWidth + Double(column) * (panelWidth + gap)
            let y0 = top + Double(edge.node) * rowHeight + titleHeight
            doc.text("\(Self.stateName(edge.input)) → \(edge.node)", x: x0 + panelWidth / 2, y: y0 - 5, size: 11, anchor: .middle)
            if column == 0 {
                for (o, name) in primitives.enumerated() {
                    doc.text(name, x: x0 - 6, y: y0 + (Double(o) + 0.8) * opHeight, size: 9, anchor: .end)
                }
            }
            for (t, epoch) in epochs.enumerated() {
                if t < frozen.count && frozen[t] {
                    doc.rect(x: x0 + Double(t) * epochWidth, y: y0 - 3, width: epochWidth, height: 3, fill: "#999",
                             className: "frozen", title: "epoch \(epoch): alphas frozen (warm-up)")
                }
                for (o, name) in primitives.enumerated() {
                    let w = Double(weights[t][e][o])
                    doc.rect(x: x0 + Double(t) * epochWidth, y: y0 + Double(o) * opHeight, width: epochWidth,
                             height: opHeight, fill: shade(w), className: "cell",
                             title: "\(Self.stateName(edge.input)) → \(edge.node), \(name), epoch \(epoch): \(String(format: "%.4f", w))")
                }
            }
            doc.rect(x: x0, y: y0, width: panelWidth, height: panelHeight, fill: "none", stroke: "#888")
        }
        // Colour scale: uniform +- the half-range, uniform in the middle.
        let barX = width - 70, barY = top + titleHeight, barHeight = min(160, height - barY - 30)
        for i in 0..<21 {
            let f = 1 - Double(i) / 20
            doc.rect(x: barX, y: barY + Double(i) * barHeight / 21, width: 12, height: barHeight / 21 + 0.5, fill: redWhiteBlue(f))
        }
        doc.text(String(format: "+%.4f", scale.halfRange), x: barX + 16, y: barY + 9, size: 10)
        doc.text(String(format: "%.4f", scale.uniform), x: barX + 16, y: barY + barHeight / 2 + 4, size: 10)
        doc.text(String(format: "-%.4f", scale.halfRange), x: barX + 16, y: barY + barHeight, size: 10)
        doc.text("from uniform", x: barX - 4, y: barY + barHeight + 14, size: 10)
        return doc.xml
    }

    /// "0-2, 5" for [0, 1, 2, 5].
    static func ranges(_ values: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        while i < values.count {
            var j = i
            while j + 1 < values.count && values[j + 1] == values[j] + 1 { j += 1 }
            parts.append(i == j ? "\(values[i])" : "\(values[i])-\(values[j])")
            i = j + 1
        }
        return parts.joined(separator: ", ")
    }
}

/// A diverging colour for `f` in [0, 1]: dark red at 0, white at 0.5, dark blue at 1 (ColorBrewer's
/// RdBu, linearly interpolated).
func redWhiteBlue(_ f: Double) -> String {
    let stops: [(Double, Double, Double)] = [(103, 0, 31), (214, 96, 77), (253, 219, 199), (255, 255, 255),
                                             (209, 229, 240), (67, 147, 195), (5, 48, 97)]
    let t = min(1, max(0, f.isFinite ? f : 0.5)) * Double(stops.count - 1)
    let i = min(stops.count - 2, Int(t)), u = t - Double(i)
    let a = stops[i], b = stops[i + 1]
    func mix(_ p: Double, _ q: Double) -> Int { Int((p + (q - p) * u).rounded()) }
    return String(format: "#%02x%02x%02x", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}
