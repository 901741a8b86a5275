/// Whether operations record the graph for backward, and whether a forward pass is a
/// recomputation (see ``recomputed(_:_:)``). Task-local (thread-local outside tasks), so that
/// concurrent callers, such as tests run in parallel, never see each other's mode.
public enum Autograd {
    struct Mode {
        var recording = true
        var recomputing = false
    }
    @TaskLocal static var mode = Mode()

    /// False inside ``withoutRecording(_:)``: results keep no inputs and no backward closure.
    public static var isRecording: Bool { mode.recording }
    /// True while ``recomputed(_:_:)`` repeats a forward pass during backward: batch norm then
    /// leaves its running statistics alone (they were updated by the first pass).
    public static var isRecomputing: Bool { mode.recomputing }

    /// Runs `body` without recording a graph (PyTorch's `torch.no_grad()`).
    public static func withoutRecording<T>(_ body: () throws -> T) rethrows -> T {
        var m = mode
        m.recording = false
        return try $mode.withValue(m, operation: body)
    }

    static func recomputing<T>(_ body: () throws -> T) rethrows -> T {
        try $mode.withValue(Mode(recording: true, recomputing: true), operation: body)
    }
}

extension Tensor {
    /// A leaf sharing this tensor's values (no copy), without its graph. When this tensor
    /// requires a gradient, the leaf's gradient is this tensor's gradient buffer, so gradients
    /// that reach the leaf are accumulated straight into this tensor's.
    func detachedLeaf() -> Tensor {
        let leaf = Tensor(sharing: self)
        if requiresGrad {
            leaf.requiresGrad = true
            leaf.bindGradient(ensureGrad())
        }
        return leaf
    }
}

/// Activation recomputation (PyTorch's `torch.utils.checkpoint.checkpoint`, Chen et al. 2016,
/// "Training Deep Nets with Sublinear Memory Cost"): runs `body(inputs)` without keeping its
/// intermediate tensors, and runs it again during backward to get them back. Between the forward
/// and the backward pass only the inputs and the result are held, at the price of a second
/// forward pass of `body`.
///
/// `body` must compute the same values when run twice on the same inputs (no fresh random
/// numbers). Parameters that `body` uses receive their gradients in the second run; batch norm
/// in training mode updates its running statistics in the first run only (``Autograd/isRecomputing``).
/// The gradients equal those of `body` recorded directly, up to the order of floating-point sums.
///
/// - Parameters:
///   - inputs: the tensors `body` reads that gradients flow to (besides parameters).
///   - body: the computation; during backward it is called with leaves that share the inputs'
///     values and gradient buffers.
/// - Returns: `body(inputs)`, a tensor whose backward recomputes `body`.
public func recomputed(_ inputs: [Tensor], _ body: @escaping ([Tensor]) -> Tensor) -> Tensor {
    guard Autograd.isRecording else { return body(inputs) }
    let value = Autograd.withoutRecording { body(inputs) }
    let out = Tensor.result(sharing: value, inputs: inputs) { out in
        guard let dy = out.grad else { return }
        let leaves = inputs.map { $0.detachedLeaf() }
        let y = Autograd.recomputing { body(leaves) }
        y.backward(seed: UnsafeBufferPointer(start: dy, count: out.count))
    }
    return out
}
