import Testing
@testable import DartsTensor

/// Checks every input gradient of `f` against central differences.
///
/// The scalar probed is L = sum(f(inputs) * r) for a fixed random r, so every output element
/// contributes; each input element is moved by +/- eps and (L+ - L-) / (2 eps) compared to the
/// analytic gradient from ``Tensor/backward(seed:)``. float32 throughout, so the tolerance is
/// relative to the largest gradient magnitude.
func checkGradients(_ inputs: [Tensor], eps: Float = 1e-2, tolerance: Float = 1e-2,
                    sourceLocation: SourceLocation = #_sourceLocation, _ f: ([Tensor]) -> Tensor) {
    var rng = RandomGenerator(seed: 99)
    for x in inputs { x.requiresGrad = true; x.zeroGrad() }
    let probe = f(inputs)
    let r = (0..<probe.count).map { _ in rng.nextUniform(-1, 1) }
    probe.backward(seed: r)
    func loss() -> Double {
        let y = f(inputs)
        var s = 0.0
        for i in 0..<y.count { s += Double(y.data[i]) * Double(r[i]) }
        return s
    }
    for (which, x) in inputs.enumerated() {
        let analytic = x.gradient
        var numeric = [Float](repeating: 0, count: x.count)
        for i in 0..<x.count {
            let saved = x.data[i]
            x.data[i] = saved + eps
            let plus = loss()
            x.data[i] = saved - eps
            let minus = loss()
            x.data[i] = saved
            numeric[i] = Float((plus - minus) / Double(2 * eps))
        }
        let scale = max(numeric.map { abs($0) }.max() ?? 0, 1e-3)
        var worst: Float = 0
        for i in 0..<x.count { worst = max(worst, abs(analytic[i] - numeric[i]) / scale) }
        #expect(worst < tolerance, "input \(which) \(x.shape): max relative gradient error \(worst)",
                sourceLocation: sourceLocation)
        #expect(numeric.contains { $0 != 0 } == analytic.contains { $0 != 0 },
                "input \(which): one gradient is all zeros", sourceLocation: sourceLocation)
    }
}

func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    return Tensor.randomNormal(shape: shape, scale: scale, using: &rng)
}

/// A direct, obviously correct convolution for comparing forward values.
func naiveConv2d(_ x: Tensor, _ w: Tensor, stride s: Int, padding p: Int, dilation d: Int, groups: Int) -> [Float] {
    let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (cout, cinG, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let oh = (h + 2 * p - d * (kh - 1) - 1) / s + 1, ow = (wd + 2 * p - d * (kw - 1) - 1) / s + 1
    let coutG = cout / groups
    var y = [Float](repeating: 0, count: n * cout * oh * ow)
    for b in 0..<n { for o in 0..<cout { for i in 0..<oh { for j in 0..<ow {
        var acc: Float = 0
        let g = o / coutG
        for c in 0..<cinG { for u in 0..<kh { for v in 0..<kw {
            let r = i * s - p + u * d, q = j * s - p + v * d
            if r >= 0 && r < h && q >= 0 && q < wd {
                acc += w.data[((o * cinG + c) * kh + u) * kw + v] * x.data[((b * cin + g * cinG + c) * h + r) * wd + q]
            }
        }}}
        y[((b * cout + o) * oh + i) * ow + j] = acc
    }}}}
    _ = cin
    return y
}

