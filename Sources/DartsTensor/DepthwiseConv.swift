/// The depthwise convolution of single planes for one geometry (PyTorch's `conv2d` with
/// groups = channels, one channel's plane at a time), of x or of relu(x):
/// out[i, j] = sum_{p,q} w[p, q] x'[i s - pad + p d, j s - pad + q d] with x' zero outside the
/// plane. It runs the padded kernel when the output keeps the padded size at stride 1
/// (``PaddedDepthwise``), the phase kernel at stride 2 (``PhasedDepthwise``), and the row loops
/// below otherwise. Planes are x (H, W), w (kH, kW), out and dy (Hout, Wout), in floats.
struct DepthwisePlanes {
    let g: ConvGeometry
    let reluInput: Bool
    private let padded: PaddedDepthwise?
    private let phased: PhasedDepthwise?
    /// Scratch planes (H, W): relu(x), and the input gradient before the ReLU mask.
    private let activated: UnsafeMutablePointer<Float>
    private let gradient: UnsafeMutablePointer<Float>

    init(_ g: ConvGeometry, reluInput: Bool) {
        self.g = g
        self.reluInput = reluInput
        padded = PaddedDepthwise.applies(g) ? PaddedDepthwise(g, reluInput: reluInput) : nil
        phased = padded == nil && g.stride == 2 ? PhasedDepthwise(g, reluInput: reluInput) : nil
        activated = .allocate(capacity: g.h * g.w)
        gradient = .allocate(capacity: g.h * g.w)
    }

    func deallocate() {
        padded?.deallocate()
        phased?.deallocate()
        activated.deallocate()
        gradient.deallocate()
    }

    private func input(_ x: UnsafePointer<Float>) -> UnsafePointer<Float> {
        guard reluInput else { return x }
        for i in 0..<(g.h * g.w) { activated[i] = max(x[i], 0) }
        return UnsafePointer(activated)
    }

    /// out (Hout, Wout) = depthwise(x or relu(x)) with the kxk weight `w`.
    func forward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        if let padded { return padded.forward(x, w, out) }
        if let phased { return phased.forward(x, w, out) }
        depthwiseForwardPlane(input(x), w, out, g)
    }

    /// dx += the input gradient (masked by x > 0 for relu(x)), dw += the weight gradient.
    func backward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                  _ dx: UnsafeMutablePointer<Float>?, _ dw: UnsafeMutablePointer<Float>?) {
        if let padded { return padded.backward(x, w, dy, dx, dw) }
        if let phased { return phased.backward(x, w, dy, dx, dw) }
        if let dw { depthwiseBackwardWeightPlane(dy, input(x), dw, g) }
        guard let dx else { return }
        if !reluInput { return depthwiseBackwardInputPlane(dy, w, dx, g) }
        let count = g.h * g.w
        gradient.update(repeating: 0, count: count)
        depthwiseBackwardInputPlane(dy, w, gradient, g)
        maskedAdd(gradient, where: x, dx, count)
    }
}

// MARK: Row loops for any geometry

/// For every tap t = p kW + q, in order: the output rows and columns whose input pixel
/// (i s + rowShift, j s + colShift), with rowShift = p d - pad and colShift = q d - pad, lies in
/// the plane, so that the loops over them need no boundary tests.
@inline(__always)
private func forEachTap(_ g: ConvGeometry,
                        _ body: (_ t: Int, _ rows: Range<Int>, _ columns: Range<Int>, _ rowShift: Int, _ colShift: Int) -> Void) {
    for p in 0..<g.kh {
        let (ilo, ihi) = g.validRange(kernelOffset: p, size: g.h, outSize: g.outH)
        for q in 0..<g.kw {
            let (jlo, jhi) = g.validRange(kernelOffset: q, size: g.w, outSize: g.outW)
            body(p * g.kw + q, ilo..<ihi, jlo..<jhi, p * g.dilation - g.padding, q * g.dilation - g.padding)
        }
    }
}

/// Depthwise forward on one plane: out[i, j] = sum_{p,q} w[p, q] * x[i*s - pad + p*d, j*s - pad + q*d].
/// Loops over kernel taps outermost so that the inner loop is a row AXPY (stride 1 vectorizes).
func depthwiseForwardPlane(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
    out.update(repeating: 0, count: g.outH * g.outW)
    forEachTap(g) { t, rows, columns, rowShift, colShift in
        let wv = w[t]
        for i in rows {
            let src = x + (i * g.stride + rowShift) * g.w + colShift
            let dst = out + i * g.outW
            if g.stride == 1 {
                for j in columns { dst[j] += wv * src[j] }
            } else {
                for j in columns { dst[j] += wv * src[j * g.stride] }
            }
        }
    }
}

/// Depthwise backward to the input on one plane: dx[i*s - pad + p*d, j*s - pad + q*d] += w[p, q] * dy[i, j].
func depthwiseBackwardInputPlane(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
    forEachTap(g) { t, rows, columns, rowShift, colShift in
        let wv = w[t]
        for i in rows {
            let dst = dx + (i * g.stride + rowShift) * g.w + colShift
            let src = dy + i * g.outW
            if g.stride == 1 {
                for j in columns { dst[j] += wv * src[j] }
            } else {
                for j in columns { dst[j * g.stride] += wv * src[j] }
            }
        }
    }
}

/// Depthwise backward to the weight on one plane: dw[p, q] += sum_{i,j} dy[i, j] * x[i*s - pad + p*d, j*s - pad + q*d].
func depthwiseBackwardWeightPlane(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
    forEachTap(g) { t, rows, columns, rowShift, colShift in
        var acc: Float = 0
        for i in rows {
            let src = x + (i * g.stride + rowShift) * g.w + colShift
            let d = dy + i * g.outW
            if g.stride == 1 {
                for j in columns { acc += d[j] * src[j] }
            } else {
                for j in columns { acc += d[j] * src[j * g.stride] }
            }
        }
        dw[t] += acc
    }
}
