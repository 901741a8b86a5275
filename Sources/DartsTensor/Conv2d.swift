/// 2-D convolution (cross-correlation, as PyTorch's `torch.nn.functional.conv2d`).
///
/// y[n, o, i, j] = b[o] + sum_{c in group(o), p, q} w[o, c, p, q] * x[n, c, i*s - pad + p*d, j*s - pad + q*d]
///
/// - Parameters:
///   - x: input (N, Cin, H, W).
///   - w: weight (Cout, Cin / groups, kH, kW).
///   - bias: optional (Cout).
///   - stride, padding, dilation: the same in both spatial dimensions; zero padding.
///   - groups: Cin and Cout are split in `groups` independent blocks (Cin = groups: depthwise).
/// - Returns: (N, Cout, Hout, Wout) with Hout = (H + 2 padding - dilation (kH - 1) - 1) / stride + 1.
///
/// Depthwise convolutions (groups = Cin = Cout) run a direct kernel; 1x1 convolutions with stride 1
/// a single matrix product per image; the others im2col + sgemm per image and group.
public func conv2d(_ x: Tensor, _ w: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                   dilation: Int = 1, groups: Int = 1) -> Tensor {
    precondition(x.shape.count == 4 && w.shape.count == 4, "conv2d wants (N,C,H,W) input and (O,I,kH,kW) weight")
    let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (cout, cinG, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    precondition(cin % groups == 0 && cout % groups == 0 && cinG == cin / groups,
                 "conv2d: input channels \(cin), weight \(w.shape), groups \(groups) do not match")
    let geo = ConvGeometry(h: h, w: wd, kh: kh, kw: kw, stride: stride, padding: padding, dilation: dilation)
    precondition(geo.outH > 0 && geo.outW > 0, "conv2d: output would be empty for input \(x.shape)")
    let inputs = bias.map { [x, w, $0] } ?? [x, w]
    let out = Tensor.result(shape: [n, cout, geo.outH, geo.outW], inputs: inputs) { out in
        conv2dBackward(x: x, w: w, bias: bias, out: out, geo: geo, groups: groups)
    }
    let depthwise = groups == cin && cout == cin && cinG == 1
    let pointwise = kh == 1 && kw == 1 && stride == 1 && padding == 0 && groups == 1
    let outPlane = geo.outH * geo.outW
    Profiler.countFlops(2 * n * cout * outPlane * cinG * kh * kw)
    if depthwise {
        let planes = DepthwisePlanes(geo, reluInput: false)
        defer { planes.deallocate() }
        for img in 0..<n {
            for c in 0..<cin {
                planes.forward(x.data + (img * cin + c) * h * wd, w.data + c * kh * kw, out.data + (img * cin + c) * outPlane)
            }
        }
    } else if pointwise {
        for img in 0..<n {
            sgemm(transA: false, transB: false, m: cout, n: outPlane, k: cin, a: w.data, lda: cin,
                  b: x.data + img * cin * h * wd, ldb: h * wd, beta: 0, c: out.data + img * cout * outPlane, ldc: outPlane)
        }
    } else {
        let coutG = cout / groups
        let kSize = cinG * kh * kw
        let col = UnsafeMutablePointer<Float>.allocate(capacity: kSize * outPlane)
        defer { col.deallocate() }
        for img in 0..<n {
            for g in 0..<groups {
                im2col(x.data + (img * cin + g * cinG) * h * wd, channels: cinG, geo, col)
                sgemm(transA: false, transB: false, m: coutG, n: outPlane, k: kSize,
                      a: w.data + g * coutG * kSize, lda: kSize, b: col, ldb: outPlane, beta: 0,
                      c: out.data + (img * cout + g * coutG) * outPlane, ldc: outPlane)
            }
        }
    }
    if let bias {
        for img in 0..<n {
            for o in 0..<cout {
                let p = out.data + (img * cout + o) * outPlane
                let b = bias.data[o]
                for i in 0..<outPlane { p[i] += b }
            }
        }
    }
    return out
}

private func conv2dBackward(x: Tensor, w: Tensor, bias: Tensor?, out: Tensor, geo: ConvGeometry, groups: Int) {
    guard let dy = out.grad else { return }
    let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (cout, cinG, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let outPlane = geo.outH * geo.outW
    let inPlane = h * wd
    let dx = x.requiresGrad ? x.ensureGrad() : nil
    let dw = w.requiresGrad ? w.ensureGrad() : nil
    if let bias, bias.requiresGrad {
        let db = bias.ensureGrad()
        for img in 0..<n {
            for o in 0..<cout {
                let p = dy + (img * cout + o) * outPlane
                var s: Float = 0
                for i in 0..<outPlane { s += p[i] }
                db[o] += s
            }
        }
    }
    if dx == nil && dw == nil { return }
    Profiler.countFlops(2 * n * cout * outPlane * cinG * kh * kw * ((dx == nil ? 0 : 1) + (dw == nil ? 0 : 1)))
    let depthwise = groups == cin && cout == cin && cinG == 1
    let pointwise = kh == 1 && kw == 1 && geo.stride == 1 && geo.padding == 0 && groups == 1
    if depthwise {
        let planes = DepthwisePlanes(geo, reluInput: false)
        defer { planes.deallocate() }
        for img in 0..<n {
            for c in 0..<cin {
                let plane = img * cin + c
                planes.backward(x.data + plane * inPlane, w.data + c * kh * kw, dy + plane * outPlane,
                                dx.map { $0 + plane * inPlane }, dw.map { $0 + c * kh * kw })
            }
        }
    } else if pointwise {
        for img in 0..<n {
            let dyp = dy + img * cout * outPlane
            if let dw {
                // dW (Cout x Cin) += dY[n] (Cout x HW) * X[n]^T (HW x Cin)
                sgemm(transA: false, transB: true, m: cout, n: cin, k: outPlane, a: dyp, lda: outPlane,
                      b: x.data + img * cin * inPlane, ldb: inPlane, beta: 1, c: dw, ldc: cin)
            }
            if let dx {
                // dX[n] (Cin x HW) += W^T (Cin x Cout) * dY[n] (Cout x HW)
                sgemm(transA: true, transB: false, m: cin, n: outPlane, k: cout, a: w.data, lda: cin,
                      b: dyp, ldb: outPlane, beta: 1, c: dx + img * cin * inPlane, ldc: inPlane)
            }
        }
    } else {
        let coutG = cout / groups
        let kSize = cinG * kh * kw
        let col = UnsafeMutablePointer<Float>.allocate(capacity: kSize * outPlane)
        defer { col.deallocate() }
        for img in 0..<n {
            for g in 0..<groups {
                let dyp = dy + (img * cout + g * coutG) * outPlane
                if let dw {
                    im2col(x.data + (img * cin + g * cinG) * inPlane, channels: cinG, geo, col)
                    sgemm(transA: false, transB: true, m: coutG, n: kSize, k: outPlane, a: dyp, lda: outPlane,
                          b: col, ldb: outPlane, beta: 1, c: dw + g * coutG * kSize, ldc: kSize)
                }
                if let dx {
                    sgemm(transA: true, transB: false, m: kSize, n: outPlane, k: coutG,
                          a: w.data + g * coutG * kSize, lda: kSize, b: dyp, ldb: outPlane, beta: 0, c: col, ldc: outPlane)
                    col2imAdd(col, channels: cinG, geo, dx + (img * cin + g * cinG) * inPlane)
                }
            }
        }
    }
}
