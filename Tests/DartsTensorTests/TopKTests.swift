import DartsTensor
import Testing

/// Top-k hits count the logits ranked above the label's, ties to the lower class, and a row with
/// a non-finite logit is never a hit.
@Suite struct TopKTests {
    static func logits(_ rows: [[Float]]) -> Tensor {
        Tensor(shape: [rows.count, rows[0].count], values: rows.flatMap { $0 })
    }

    @Test func ranksCountTheLogitsAboveTheLabelWithTiesToTheLowerClass() {
        let x = Self.logits([[0.1, 0.9, 0.3, 0.2, 0.0, -1, -2], [0.5, 0.5, 0.1, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7]])
        #expect(labelRanks(x, labels: [1, 1, 0]) == [0, 1, 6])
        let hits = topKCorrect(x, labels: [1, 1, 0])
        #expect(hits.top1 == 1 && hits.top5 == 2)
    }

    @Test func nonFiniteLogitsAreNeverCorrect() {
        let x = Self.logits([[.nan, .nan, .nan], [1, .infinity, 0], [0, 0, .nan], [2, 1, 0]])
        #expect(labelRanks(x, labels: [0, 1, 0, 0]) == [.max, .max, .max, 0])
        let hits = topKCorrect(x, labels: [0, 1, 0, 0])
        #expect(hits.top1 == 1 && hits.top5 == 1)
    }
}
