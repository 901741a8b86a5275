import Testing

/// The largest |a - b| relative to the largest |b| (at least 1e-12): 1e-4 is the project's bar
/// for parity with PyTorch. Arrays of different lengths are an issue of the calling test.
public func relativeError(_ a: [Float], _ b: [Float], sourceLocation: SourceLocation = #_sourceLocation) -> Float {
    guard a.count == b.count else {
        Issue.record("relativeError of \(a.count) vs \(b.count) values", sourceLocation: sourceLocation)
        return .infinity
    }
    let scale = max(maxAbs(b), 1e-12)
    return (zip(a, b).map { abs($0 - $1) }.max() ?? 0) / scale
}

/// The largest |x| (0 for no values).
public func maxAbs(_ x: [Float]) -> Float { x.map(abs).max() ?? 0 }

/// Expects the same count and max |a - b| <= tolerance * max(largest |b|, 1).
public func expectClose(_ a: [Float], _ b: [Float], tolerance: Float = 1e-5,
                        sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count, sourceLocation: sourceLocation)
    let scale = max(maxAbs(b), 1)
    let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
    #expect(worst <= tolerance * scale, "max difference \(worst)", sourceLocation: sourceLocation)
}

/// Expects the same count and |a[i] - b[i]| <= tolerance for every i, against values worked out
/// by hand in double precision; names each value that differs.
public func expectEachClose(_ a: [Float], _ b: [Double], tolerance: Double = 1e-6,
                            sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count, sourceLocation: sourceLocation)
    for (x, y) in zip(a, b) {
        #expect(abs(Double(x) - y) <= tolerance, "\(x) vs \(y)", sourceLocation: sourceLocation)
    }
}
