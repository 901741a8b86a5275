/// The spatial arithmetic shared by convolutions and pooling: output size, and for a kernel
/// offset the range of output columns whose input column falls inside the image, so that inner
/// loops run without boundary tests.
struct ConvGeometry {
    let h, w, kh, kw, stride, padding, dilation: Int
    let outH, outW: Int

    init(h: Int, w: Int, kh: Int, kw: Int, stride: Int, padding: Int, dilation: Int) {
        self.h = h; self.w = w; self.kh = kh; self.kw = kw
        self.stride = stride; self.padding = padding; self.dilation = dilation
        outH = (h + 2 * padding - dilation * (kh - 1) - 1) / stride + 1
        outW = (w + 2 * padding - dilation * (kw - 1) - 1) / stride + 1
    }

    /// For kernel offset `k` (input index = out * stride - padding + k * dilation), the half-open
    /// range of output indices whose input index lies in 0..<size.
    @inline(__always)
    func validRange(kernelOffset k: Int, size: Int, outSize: Int) -> (Int, Int) {
        let shift = k * dilation - padding            // input = out * stride + shift
        // smallest out with out * stride + shift >= 0
        var lo = shift >= 0 ? 0 : (-shift + stride - 1) / stride
        // largest out with out * stride + shift <= size - 1
        let hiNum = size - 1 - shift
        var hi = hiNum < 0 ? 0 : hiNum / stride + 1
        if lo > outSize { lo = outSize }
        if hi > outSize { hi = outSize }
        if hi < lo { hi = lo }
        return (lo, hi)
    }
}

/// Unfolds `channels` planes (H, W) into columns: col[(c, p, q), (i, j)] = x[c, i*s - pad + p*d, j*s - pad + q*d]
/// (zero outside), a (channels * kH * kW) x (Hout * Wout) matrix.
func im2col(_ x: UnsafePointer<Float>, channels: Int, _ g: ConvGeometry, _ col: UnsafeMutablePointer<Float>) {
    let outPlane = g.outH * g.outW
    var row = 0
    for c in 0..<channels {
        let xc = x + c * g.h * g.w
        for p in 0..<g.kh {
            let (ilo, ihi) = g.validRange(kernelOffset: p, size: g.h, outSize: g.outH)
            for q in 0..<g.kw {
                let (jlo, jhi) = g.validRange(kernelOffset: q, size: g.w, outSize: g.outW)
                let dst = col + row * outPlane
                dst.update(repeating: 0, count: outPlane)
                let colShift = q * g.dilation - g.padding
                for i in ilo..<ihi {
                    let src = xc + (i * g.stride + p * g.dilation - g.padding) * g.w
                    let d = dst + i * g.outW
                    if g.stride == 1 {
                        for j in jlo..<jhi { d[j] = src[j + colShift] }
                    } else {
                        for j in jlo..<jhi { d[j] = src[j * g.stride + colShift] }
                    }
                }
                row += 1
            }
        }
    }
}

/// The adjoint of ``im2col``: adds every column entry back into the plane it came from.
func col2imAdd(_ col: UnsafePointer<Float>, channels: Int, _ g: ConvGeometry, _ dx: UnsafeMutablePointer<Float>) {
    let outPlane = g.outH * g.outW
    var row = 0
    for c in 0..<channels {
        let dxc = dx + c * g.h * g.w
        for p in 0..<g.kh {
            let (ilo, ihi) = g.validRange(kernelOffset: p, size: g.h, outSize: g.outH)
            for q in 0..<g.kw {
                let (jlo, jhi) = g.validRange(kernelOffset: q, size: g.w, outSize: g.outW)
                let src = col + row * outPlane
                let colShift = q * g.dilation - g.padding
                for i in ilo..<ihi {
                    let d = dxc + (i * g.stride + p * g.dilation - g.padding) * g.w
                    let s = src + i * g.outW
                    if g.stride == 1 {
                        for j in jlo..<jhi { d[j + colShift] += s[j] }
                    } else {
                        for j in jlo..<jhi { d[j * g.stride + colShift] += s[j] }
                    }
                }
                row += 1
            }
        }
    }
}
