import Foundation

/// How softmax(alpha) of one cell type moved during a search, as SVG: one small heatmap per edge
/// (rows: the operations, in `primitives` order; columns: the epochs), the edges laid out as the
/// cell's DAG, one row of panels per intermediate node (node i has i + 2 incoming edges: from
/// c_{k-2}, c_{k-1} and the nodes before it). Every square (class "cell") has its weight as
/// tooltip; the colour scale runs from the smallest to the largest weight in the picture (early in
/// a search every weight is near 1 / 8, and the differences are what matters).
struct AlphaHeatmap {
    /// "normal" or "reduce".
    var cell: String
    var primitives: [String]
    /// The epochs, in order, and for each the weights [edge][operation] (rows sum to 1).
    var epochs: [Int]
    var weights: [[[Float]]]

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
        let values = weights.joined().joined().map(Double.init)
        let vmin = values.min() ?? 0, vmax = values.max() ?? 1
        func shade(_ w: Double) -> String { blues(vmax - vmin > 1e-9 ? (w - vmin) / (vmax - vmin) : 0.5) }

        var doc = SVGDocument(width: width, height: height)
        let cellName = cell == "reduce" ? "reduction" : cell
        doc.text("softmax(alpha) of the \(cellName) cell per edge over \(epochs.count) epoch(s)",
                 x: 10, y: 22, size: 15, bold: true)
        doc.text("rows: operations; columns: epochs \(epochs.first ?? 0) to \(epochs.last ?? 0)", x: 10, y: 38, size: 11, color: "#555")

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
                for (o, name) in primitives.enumerated() {
                    let w = Double(weights[t][e][o])
                    doc.rect(x: x0 + Double(t) * epochWidth, y: y0 + Double(o) * opHeight, width: epochWidth,
                             height: opHeight, fill: shade(w), className: "cell",
                             title: "\(Self.stateName(edge.input)) → \(edge.node), \(name), epoch \(epoch): \(String(format: "%.4f", w))")
                }
            }
            doc.rect(x: x0, y: y0, width: panelWidth, height: panelHeight, fill: "none", stroke: "#888")
        }
        // Colour scale.
        let barX = width - 56, barY = top + titleHeight, barHeight = min(160, height - barY - 20)
        for i in 0..<20 {
            let f = 1 - Double(i) / 19
            doc.rect(x: barX, y: barY + Double(i) * barHeight / 20, width: 12, height: barHeight / 20 + 0.5, fill: blues(f))
        }
        doc.text(String(format: "%.4f", vmax), x: barX + 16, y: barY + 9, size: 10)
        doc.text(String(format: "%.4f", vmin), x: barX + 16, y: barY + barHeight, size: 10)
        return doc.xml
    }
}

/// A white-to-dark-blue colour for `f` in [0, 1] (ColorBrewer's Blues, linearly interpolated).
func blues(_ f: Double) -> String {
    let stops: [(Double, Double, Double)] = [(247, 251, 255), (198, 219, 239), (107, 174, 214), (33, 113, 181), (8, 48, 107)]
    let t = min(1, max(0, f.isFinite ? f : 0)) * Double(stops.count - 1)
    let i = min(stops.count - 2, Int(t)), u = t - Double(i)
    let a = stops[i], b = stops[i + 1]
    func mix(_ p: Double, _ q: Double) -> Int { Int((p + (q - p) * u).rounded()) }
    return String(format: "#%02x%02x%02x", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}
