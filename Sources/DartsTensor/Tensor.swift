/// Owns a block of Float memory from the ``TensorMemoryPool``; tensors that are views into an
/// arena have none.
final class FloatBuffer {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int, zeroed: Bool) {
        self.count = max(count, 1)
        pointer = TensorMemoryPool.take(self.count)
        if zeroed { pointer.update(repeating: 0, count: self.count) }
    }

    deinit { TensorMemoryPool.give(pointer, count) }
}

/// A dense float32 tensor in row-major (for images: N, C, H, W) layout, always contiguous,
/// with the bookkeeping of reverse-mode automatic differentiation.
///
/// Operations on tensors (``conv2d(_:_:bias:stride:padding:dilation:groups:)``, ``relu(_:)``, ...)
/// return a new tensor; when any input ``requiresGrad``, the result also records its inputs and a
/// backward closure, so that ``backward()`` on a scalar loss can walk the graph in reverse
/// execution order and accumulate `dLoss/dTensor` into every leaf's ``grad`` (`+=`, so fan-out
/// is right, as in micrograd). Intermediate gradients are freed as soon as they are consumed.
///
/// A tensor's values may live in memory it owns, or be a view into a flat arena (parameters):
/// see ``bind(data:grad:)``.
public final class Tensor {
    /// The dimensions, outermost first; images are (N, C, H, W).
    public let shape: [Int]
    /// The number of elements, the product of `shape`.
    public let count: Int
    /// The first element. Valid while the tensor (or the arena it is bound to) lives.
    public private(set) var data: UnsafeMutablePointer<Float>
    private var owner: FloatBuffer?

    /// The accumulated gradient (`count` floats), or nil before any gradient reached this tensor.
    ///
    /// Also nil while the gradient is a scaled view of another tensor's (only inside
    /// ``backward()``, for the results of operations that read `gradientMemory.scaled`);
    /// ``gradient`` gives the values in every case.
    public var grad: UnsafeMutablePointer<Float>? { gradientMemory.plain }
    /// Where the gradient lives, and whether it may be shared with a scale.
    var gradientMemory = GradientMemory()

    /// Whether gradients flow to (and through) this tensor. Results of operations inherit it
    /// from their inputs; leaves (parameters, inputs) set it.
    public var requiresGrad: Bool

    var parents: [Tensor] = []
    var backwardFunction: ((Tensor) -> Void)?

    /// A tensor with the same shape and values as `other`, sharing its memory (no copy), with no
    /// graph and no gradient.
    init(sharing other: Tensor) {
        shape = other.shape
        count = other.count
        owner = other.owner
        data = other.data
        requiresGrad = false
    }

    /// A tensor of the given shape filled with `value`.
    public init(shape: [Int], repeating value: Float = 0, requiresGrad: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        let buffer = FloatBuffer(count: count, zeroed: false)
        buffer.pointer.initialize(repeating: value, count: max(count, 1))
        owner = buffer
        data = buffer.pointer
        self.requiresGrad = requiresGrad
    }

    /// A tensor holding a copy of `values` (row-major).
    public convenience init(shape: [Int], values: [Float], requiresGrad: Bool = false) {
        self.init(shape: shape, requiresGrad: requiresGrad)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    /// An uninitialised result of an operation; the kernel writes every element.
    init(uninitializedShape shape: [Int]) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        let buffer = FloatBuffer(count: count, zeroed: false)
        owner = buffer
        data = buffer.pointer
        requiresGrad = false
    }

    /// A tensor of standard normal samples times `scale`.
    public static func randomNormal(shape: [Int], scale: Float = 1, using rng: inout RandomGenerator) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0..<t.count { t.data[i] = scale * rng.nextNormal() }
        return t
    }

    /// A tensor of samples uniform in [low, high).
    public static func randomUniform(shape: [Int], low: Float, high: Float, using rng: inout RandomGenerator) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0..<t.count { t.data[i] = rng.nextUniform(low, high) }
        return t
    }

    /// A copy of the values, row-major.
    public var values: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// A copy of the gradient (zeros if none has arrived).
    public var gradient: [Float] {
        guard let (values, scale) = gradientMemory.scaled else { return [Float](repeating: 0, count: count) }
        if scale == 1 { return Array(UnsafeBufferPointer(start: values, count: count)) }
        return (0..<count).map { scale * values[$0] }
    }

    /// The single value of a one-element tensor (a loss).
    public var scalar: Float {
        precondition(count == 1, "scalar of a tensor of shape \(shape)")
        return data[0]
    }

    /// Overwrites the values with `values`.
    public func assign(_ values: [Float]) {
        precondition(values.count == count)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    /// Makes this tensor a view of `count` floats at `data` (and its gradient a view at `grad`),
    /// copying the current values in. Used by ``ParameterArena``-style flat buffers: after
    /// binding, the memory belongs to the arena, which must outlive the tensor's use.
    public func bind(data newData: UnsafeMutablePointer<Float>, grad newGrad: UnsafeMutablePointer<Float>?) {
        newData.update(from: data, count: count)
        data = newData
        owner = nil
        if let g = newGrad { gradientMemory.bind(g) }
    }

    /// Makes `buffer` (count floats, owned elsewhere) this tensor's gradient: gradients are
    /// accumulated into it and never freed by this tensor.
    func bindGradient(_ buffer: UnsafeMutablePointer<Float>) {
        gradientMemory.bind(buffer)
    }

    /// The gradient buffer, allocated (zeroed) on first use.
    func ensureGrad() -> UnsafeMutablePointer<Float> {
        gradientMemory.writable(count: count, zeroed: true).pointer
    }

    /// The gradient buffer, and whether it was created by this call: then it is uninitialised,
    /// and the caller must write every element instead of adding to it.
    func gradientForAccumulation() -> (pointer: UnsafeMutablePointer<Float>, fresh: Bool) {
        gradientMemory.writable(count: count, zeroed: false)
    }

    /// Sets the gradient to zero (keeps bound memory bound).
    public func zeroGrad() {
        gradientMemory.zero(count: count)
    }

    /// Whether this tensor was produced by an operation that recorded a backward closure.
    public var hasGraph: Bool { backwardFunction != nil }

    /// Creates the result of an operation. If any input requires a gradient, the result does
    /// too and keeps `inputs` and `backward` (called with the result, whose `grad` is set).
    static func result(shape: [Int], inputs: [Tensor], backward: @escaping (Tensor) -> Void) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        record(out, inputs: inputs, backward: backward)
        return out
    }

    /// Like ``result(shape:inputs:backward:)``, for a result whose values are those of `value`
    /// (shared, not copied).
    static func result(sharing value: Tensor, inputs: [Tensor], backward: @escaping (Tensor) -> Void) -> Tensor {
        let out = Tensor(sharing: value)
        record(out, inputs: inputs, backward: backward)
        return out
    }

    private static func record(_ out: Tensor, inputs: [Tensor], backward: @escaping (Tensor) -> Void) {
        if Autograd.isRecording, inputs.contains(where: { $0.requiresGrad }) {
            out.requiresGrad = true
            out.parents = inputs
            out.backwardFunction = backward
        }
    }

    /// Reverse-mode differentiation from this tensor: adds `seed * d(self)/d(leaf)` into the
    /// gradient of every leaf that requires it. A one-element tensor (a loss) is seeded with 1.
    /// The graph is consumed: intermediate gradients and closures are freed as they are used.
    public func backward(seed: [Float]? = nil) {
        if let seed {
            seed.withUnsafeBufferPointer { backward(seed: $0) }
        } else {
            precondition(count == 1, "backward() without a seed needs a one-element tensor, got \(shape)")
            withUnsafePointer(to: Float(1)) { backward(seed: UnsafeBufferPointer(start: $0, count: 1)) }
        }
    }

    /// Reverse-mode differentiation seeded with `seed` (as many values as this tensor has).
    public func backward(seed: UnsafeBufferPointer<Float>) {
        guard requiresGrad else { return }
        precondition(seed.count == count, "backward: \(seed.count) seed values for shape \(shape)")
        let g = ensureGrad()
        for i in 0..<count { g[i] += seed[i] }
        // Iterative depth-first post-order: inputs come before the results that use them.
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded { order.append(node); continue }
            let id = ObjectIdentifier(node)
            if visited.contains(id) { continue }
            visited.insert(id)
            stack.append((node, true))
            for p in node.parents where p.backwardFunction != nil && !visited.contains(ObjectIdentifier(p)) {
                stack.append((p, false))
            }
        }
        // Popped, not iterated: once its backward has run, nothing needs a node's values, and
        // dropping the last reference returns them to the pool for the gradients still to come.
        while let node = order.popLast() {
            if let fn = node.backwardFunction, node.gradientMemory.exists { fn(node) }
            node.backwardFunction = nil
            node.parents = []
            node.gradientMemory.release()
        }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "Tensor(shape: \(shape))" }
}
