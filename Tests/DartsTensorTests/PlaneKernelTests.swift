import Testing
@testable import DartsTensor

// The vector helpers, the window kernels of pooling, and each depthwise plane kernel (padded at
// stride 1, phased at stride 2, the row loops otherwise) against their scalar definitions.
@Suite struct PlaneKernelTests {
    @Test(arguments: Array(-2...18))
    func zeroingBelowKeepsTheLanesFromFirst(first: Int) {
        func check<V: FloatVector>(_: V.Type) {
            let v = V((0..<V.scalarCount).map { Float($0) + 0.5 })
            let z = v.zeroing(below: first)
            for i in 0..<V.scalarCount { #expect(z[i] == (i >= first ? v[i] : 0)) }
        }
        check(Vector4.self)
        check(Vector8.self)
        check(Vector16.self)
    }

    @Test func evenAndOddLanesAndRectification() {
        func check<V: FloatVector>(_: V.Type) {
            let v = V((0..<V.scalarCount).map { Float($0 % 3) - 1 })
            for i in 0..<(V.scalarCount / 2) {
                #expect(v.evenLanes[i] == v[2 * i])
                #expect(v.oddLanes[i] == v[2 * i + 1])
            }
            for i in 0..<V.scalarCount { #expect(v.rectified[i] == max(v[i], 0)) }
        }
        check(Vector4.self)
        check(Vector8.self)
        check(Vector16.self)
    }

    @Test(arguments: [(3, 5, 5), (4, 7, 9), (5, 14, 16), (3, 28, 36), (2, 3, 14)])
    func pitchAndUnpitchMoveRows(rows: Int, width: Int, pitchWidth: Int) {
        let src = randomTensor([rows * width], seed: UInt64(width)).values
        var pitched = [Float](repeating: .nan, count: rows * pitchWidth + 8)
        var back = [Float](repeating: .nan, count: rows * width)
        src.withUnsafeBufferPointer { s in
            pitched.withUnsafeMutableBufferPointer { p in
                pitch(s.baseAddress!, rows: rows, width: width, into: p.baseAddress!, pitch: pitchWidth)
                back.withUnsafeMutableBufferPointer {
                    unpitch(p.baseAddress!, pitch: pitchWidth, $0.baseAddress!, rows: rows, width: width)
                }
            }
        }
        #expect(back == src)
        for i in 0..<rows {
            #expect(Array(pitched[(i * pitchWidth)..<(i * pitchWidth + width)]) == Array(src[(i * width)..<((i + 1) * width)]))
            if i < rows - 1 {
                #expect(pitched[(i * pitchWidth + width)..<((i + 1) * pitchWidth)].allSatisfy { $0 == 0 })
            }
        }
    }

    // out[m] = max_t src[m + offsets[t]]; the winner is the first tap (in tap order) reaching it.
    // Values from a few levels, so that windows hold ties.
    @Test(arguments: [1, 7, 8, 15, 16, 17, 31, 32, 33, 65, 100])
    func windowMaximaAndFirstMaximaMatchTheirDefinitions(count: Int) {
        let offsets = [0, 1, 2, 9, 10, 11, 18, 19, 20]
        let src = randomTensor([count + 20], seed: UInt64(count)).values.map { ($0 * 2).rounded() }
        var maxima = [Float](repeating: .nan, count: count)
        var firstMaxima = [Float](repeating: .nan, count: count)
        var winners = [Int32](repeating: -1, count: count)
        src.withUnsafeBufferPointer { s in
            offsets.withUnsafeBufferPointer { o in
                maxima.withUnsafeMutableBufferPointer {
                    windowMaxima(s.baseAddress!, o.baseAddress!, taps: offsets.count, $0.baseAddress!, count)
                }
                firstMaxima.withUnsafeMutableBufferPointer { m in
                    winners.withUnsafeMutableBufferPointer {
                        windowFirstMaxima(s.baseAddress!, o.baseAddress!, taps: offsets.count, m.baseAddress!,
                                          $0.baseAddress!, count)
                    }
                }
            }
        }
        for m in 0..<count {
            let window = offsets.map { src[m + $0] }
            let best = window.max()!
            #expect(maxima[m] == best)
            #expect(firstMaxima[m] == best)
            #expect(winners[m] == Int32(offsets[window.firstIndex(of: best)!]))
        }
    }

    struct PlaneCase: CustomTestStringConvertible, Sendable {
        let k, stride, padding, dilation, size: Int
        var testDescription: String { "k \(k) s \(stride) p \(padding) d \(dilation) \(size)x\(size)" }
    }

    // Padded (stride 1, same size), phased (stride 2) and row-loop (stride 1, smaller output) planes.
    static let planeCases = [
        PlaneCase(k: 3, stride: 1, padding: 1, dilation: 1, size: 14),
        PlaneCase(k: 5, stride: 1, padding: 4, dilation: 2, size: 9),
        PlaneCase(k: 3, stride: 2, padding: 1, dilation: 1, size: 15),
        PlaneCase(k: 5, stride: 2, padding: 4, dilation: 2, size: 16),
        PlaneCase(k: 3, stride: 1, padding: 0, dilation: 1, size: 8),
        PlaneCase(k: 3, stride: 3, padding: 1, dilation: 1, size: 10),
    ]

    // With x' = relu(x) (or x) zero-padded, and (u, v) = (i s - pad + p d, j s - pad + q d):
    // out[i, j] = sum_{p,q} w[p, q] x'[u, v]; dx[u, v] += w[p, q] dy[i, j] (times [x > 0] through
    // the ReLU); dw[p, q] += sum_{i,j} dy[i, j] x'[u, v].
    @Test(arguments: planeCases, [false, true])
    func depthwisePlanesMatchTheirDefinition(_ c: PlaneCase, reluInput: Bool) {
        let g = ConvGeometry(h: c.size, w: c.size, kh: c.k, kw: c.k, stride: c.stride, padding: c.padding,
                             dilation: c.dilation)
        let x = randomTensor([g.h * g.w], seed: 1).values
        let w = randomTensor([c.k * c.k], seed: 2).values
        let dy = randomTensor([g.outH * g.outW], seed: 3).values
        let dxStart = randomTensor([g.h * g.w], seed: 4).values
        let dwStart = randomTensor([c.k * c.k], seed: 5).values
        var out = [Float](repeating: .nan, count: g.outH * g.outW)
        var dx = dxStart, dw = dwStart
        let planes = DepthwisePlanes(g, reluInput: reluInput)
        defer { planes.deallocate() }
        planes.forward(x, w, &out)
        planes.backward(x, w, dy, &dx, &dw)

        let xr = reluInput ? x.map { max($0, 0) } : x
        var expectedOut = [Double](repeating: 0, count: out.count)
        var expectedDx = dxStart.map(Double.init), expectedDw = dwStart.map(Double.init)
        for i in 0..<g.outH {
            for j in 0..<g.outW {
                for p in 0..<c.k {
                    for q in 0..<c.k {
                        let u = i * c.stride - c.padding + p * c.dilation, v = j * c.stride - c.padding + q * c.dilation
                        guard u >= 0, u < g.h, v >= 0, v < g.w else { continue }
                        expectedOut[i * g.outW + j] += Double(w[p * c.k + q]) * Double(xr[u * g.w + v])
                        if !reluInput || x[u * g.w + v] > 0 {
                            expectedDx[u * g.w + v] += Double(w[p * c.k + q]) * Double(dy[i * g.outW + j])
                        }
                        expectedDw[p * c.k + q] += Double(dy[i * g.outW + j]) * Double(xr[u * g.w + v])
                    }
                }
            }
        }
        for (actual, expected) in [(out, expectedOut), (dx, expectedDx), (dw, expectedDw)] {
            for (a, e) in zip(actual, expected) { #expect(abs(Double(a) - e) <= 1e-4 * max(1, abs(e))) }
        }
    }
}
