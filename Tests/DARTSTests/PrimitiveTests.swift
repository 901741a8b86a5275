import Testing
@testable import DARTS

@Test func primitivesFollowTheOfficialOrder() {
    #expect(Primitive.allCases.map(\.rawValue) == [
        "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
        "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
    ])
    #expect(Primitive.allCases.map(\.index) == Array(0..<8))
    #expect(Primitive.count == 8)
    #expect(Primitive.none.index == 0 && Primitive.skipConnect.index == 3 && Primitive.dilConv5x5.index == 7)
}

@Test func primitivesCarryNNINamesAndNoneHasNone() {
    #expect(Primitive.allCases.map(\.nniName) == [
        nil, "maxpool", "avgpool", "skipconnect", "sepconv3x3", "sepconv5x5", "dilconv3x3", "dilconv5x5",
    ])
}

@Test func primitivesParseFromTheirOfficialNames() {
    #expect(Primitive(rawValue: "sep_conv_5x5") == .sepConv5x5)
    #expect(Primitive(rawValue: "sepconv5x5") == nil)
}

@Test func cellEdgesIntoNodesStartAtZeroTwoFiveNine() {
    #expect((0..<4).map(CellLayout.firstEdge(ofNode:)) == [0, 2, 5, 9])
    #expect(CellLayout.firstEdge(ofNode: CellLayout.steps) == CellLayout.edgeCount)
    #expect(CellLayout.edgeCount == 14 && CellLayout.steps == 4)
}
