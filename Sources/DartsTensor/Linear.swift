/// Fully connected layer (PyTorch `linear`): y = x W^T + b.
/// - Parameters: x (N, in), w (out, in), bias (out) or nil. Returns (N, out).
public func linear(_ x: Tensor, _ w: Tensor, bias: Tensor?) -> Tensor {
    let (n, fin) = (x.shape[0], x.shape[1])
    let fout = w.shape[0]
    precondition(w.shape[1] == fin, "linear: input \(x.shape) and weight \(w.shape) do not match")
    let inputs = bias.map { [x, w, $0] } ?? [x, w]
    let out = Tensor.result(shape: [n, fout], inputs: inputs) { out in
        guard let dy = out.grad else { return }
        if x.requiresGrad {   // dx (N x in) += dy (N x out) W (out x in)
            sgemm(transA: false, transB: false, m: n, n: fin, k: fout, a: dy, lda: fout, b: w.data, ldb: fin,
                  beta: 1, c: x.ensureGrad(), ldc: fin)
        }
        if w.requiresGrad {   // dW (out x in) += dy^T (out x N) x (N x in)
            sgemm(transA: true, transB: false, m: fout, n: fin, k: n, a: dy, lda: fout, b: x.data, ldb: fin,
                  beta: 1, c: w.ensureGrad(), ldc: fin)
        }
        if let bias, bias.requiresGrad {
            let db = bias.ensureGrad()
            for i in 0..<n { for o in 0..<fout { db[o] += dy[i * fout + o] } }
        }
    }
    Profiler.countFlops(2 * n * fout * fin)
    sgemm(transA: false, transB: true, m: n, n: fout, k: fin, a: x.data, lda: fin, b: w.data, ldb: fin,
          beta: 0, c: out.data, ldc: fout)
    if let bias { for i in 0..<n { for o in 0..<fout { out.data[i * fout + o] += bias.data[o] } } }
    return out
}
