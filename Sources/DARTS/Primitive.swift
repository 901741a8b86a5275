/// The candidate operations of the DARTS search space, in the official `PRIMITIVES` order
/// (docs/algorithm.md §1); `rawValue` is the official name, `index` the position in an alpha row.
public enum Primitive: String, CaseIterable, Sendable, Codable {
    case none = "none"
    case maxPool3x3 = "max_pool_3x3"
    case avgPool3x3 = "avg_pool_3x3"
    case skipConnect = "skip_connect"
    case sepConv3x3 = "sep_conv_3x3"
    case sepConv5x5 = "sep_conv_5x5"
    case dilConv3x3 = "dil_conv_3x3"
    case dilConv5x5 = "dil_conv_5x5"

    /// The position in `PRIMITIVES` and in each row of an alpha matrix.
    public var index: Int { Primitive.allCases.firstIndex(of: self)! }

    /// The name NNI's DARTS uses for this operation (`none` has none: NNI drops such edges).
    public var nniName: String? {
        switch self {
        case .none: return nil
        case .maxPool3x3: return "maxpool"
        case .avgPool3x3: return "avgpool"
        case .skipConnect: return "skipconnect"
        case .sepConv3x3: return "sepconv3x3"
        case .sepConv5x5: return "sepconv5x5"
        case .dilConv3x3: return "dilconv3x3"
        case .dilConv5x5: return "dilconv5x5"
        }
    }

    /// Whether the operation has no weights: the pools and skip_connect (and `none`). At stride 2
    /// skip_connect is a FactorizedReduce, which has weights; the cap on parameter-free edges
    /// (``Genotype/capParameterFree(_:weights:maximum:)``) applies to the normal cell only, where it
    /// is the identity.
    public var isParameterFree: Bool {
        switch self {
        case .none, .maxPool3x3, .avgPool3x3, .skipConnect: return true
        case .sepConv3x3, .sepConv5x5, .dilConv3x3, .dilConv5x5: return false
        }
    }

    /// The number of candidate operations (the width of an alpha matrix).
    public static let count = allCases.count
}

/// The layout of a DARTS cell: 4 intermediate nodes, node i fed by all 2 + i earlier states,
/// 14 edges in the flat order node0: 0-1, node1: 2-4, node2: 5-8, node3: 9-13.
public enum CellLayout {
    /// Intermediate nodes per cell.
    public static let steps = 4
    /// The number of edges: 2 + 3 + 4 + 5.
    public static let edgeCount = 14
    /// The flat index of the first edge into intermediate node `node` (0-based).
    public static func firstEdge(ofNode node: Int) -> Int { node * (node + 3) / 2 }
}
