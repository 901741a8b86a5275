extension Genotype {
    /// One cell as a Graphviz digraph, drawn as the official cnn/visualize.py draws it: left to
    /// right, the cell inputs `c_{k-2}` and `c_{k-1}` (green), the intermediate nodes `0`..`3`
    /// (blue), the output `c_{k}` (yellow); an edge labelled with its operation name for each
    /// (operation, input) pair, and an unlabelled edge from each concatenated node to `c_{k}`.
    /// Render with `dot -Tpng cell.dot -o cell.png`.
    public func dot(cell: Cell) -> String {
        (["digraph \(cell.rawValue) {"] + Self.dotHeader(indent: "\t") + dotBody(cell: cell, prefix: "", indent: "\t") + ["}"])
            .joined(separator: "\n") + "\n"
    }

    /// Both cells in one Graphviz digraph, as two clusters labelled "normal cell" and
    /// "reduction cell", each drawn as ``dot(cell:)`` draws it (node names prefixed by the cell
    /// type inside the file, labels unchanged).
    public func dot() -> String {
        var lines = ["digraph genotype {"] + Self.dotHeader(indent: "\t")
        for cell in Cell.allCases {
            lines.append("\tsubgraph cluster_\(cell.rawValue) {")
            lines.append("\t\tlabel=\"\(cell == .normal ? "normal cell" : "reduction cell")\" fontname=times fontsize=24")
            lines += dotBody(cell: cell, prefix: "\(cell.rawValue)_", indent: "\t\t")
            lines.append("\t}")
        }
        return (lines + ["}"]).joined(separator: "\n") + "\n"
    }

    /// visualize.py's graph attributes.
    private static func dotHeader(indent: String) -> [String] {
        [indent + "edge [fontname=times fontsize=20]",
         indent + "node [align=center fontname=times fontsize=20 height=0.5 penwidth=2 shape=rect style=filled width=0.5]",
         indent + "rankdir=LR"]
    }

    private func dotBody(cell: Cell, prefix: String, indent: String) -> [String] {
        let edges = edges(of: cell)
        let steps = edges.count / 2
        func id(_ name: String) -> String { "\"\(prefix)\(name)\"" }
        func node(_ name: String, _ color: String) -> String {
            indent + "\(id(name)) [label=\"\(name)\" fillcolor=\(color)]"
        }
        func state(_ j: Int) -> String { j == 0 ? "c_{k-2}" : j == 1 ? "c_{k-1}" : String(j - 2) }
        var lines = [node("c_{k-2}", "darkseagreen2"), node("c_{k-1}", "darkseagreen2")]
        lines += (0..<steps).map { node(String($0), "lightblue") }
        for (k, edge) in edges.enumerated() {
            lines.append(indent + "\(id(state(edge.input))) -> \(id(String(k / 2))) [label=\"\(edge.operation.rawValue)\" fillcolor=gray]")
        }
        lines.append(node("c_{k}", "palegoldenrod"))
        for j in concat(of: cell) {
            lines.append(indent + "\(id(state(j))) -> \(id("c_{k}")) [fillcolor=gray]")
        }
        return lines
    }
}
