import DartsTensor

/// Flat storage for a list of named tensors: one contiguous value buffer and, when gradients are
/// kept, one gradient buffer, each tensor a view at its offset in registration order (the same on
/// every rank). Broadcast, allreduce, checksums, checkpoints and the optimizers' vector arithmetic
/// then work on one buffer instead of a network.
public final class ParameterArena {
    /// One entry per tensor: its name, shape and offset (in floats) in the buffers.
    public struct Entry: Sendable, Equatable, Codable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
    }

    public let entries: [Entry]
    public let tensors: [Tensor]
    /// The number of floats.
    public let count: Int
    /// The values of all tensors, back to back.
    public let values: UnsafeMutableBufferPointer<Float>
    /// Their gradients (nil for state without gradients, such as batch-norm statistics).
    public let grads: UnsafeMutableBufferPointer<Float>?

    /// Moves the values of `named` into a new arena and rebinds each tensor to its slice.
    public init(_ named: [(name: String, tensor: Tensor)], keepsGradients: Bool = true) {
        var offset = 0
        var entries: [Entry] = []
        for (name, t) in named {
            entries.append(Entry(name: name, shape: t.shape, offset: offset))
            offset += t.count
        }
        self.entries = entries
        self.tensors = named.map(\.tensor)
        count = offset
        // At least one float is allocated, but the buffers' length is the arena's count (maybe 0).
        values = UnsafeMutableBufferPointer(start: .allocate(capacity: max(offset, 1)), count: offset)
        values.initialize(repeating: 0)
        if keepsGradients {
            let g = UnsafeMutableBufferPointer<Float>(start: .allocate(capacity: max(offset, 1)), count: offset)
            g.initialize(repeating: 0)
            grads = g
        } else {
            grads = nil
        }
        for (entry, t) in zip(entries, tensors) {
            t.bind(data: values.baseAddress! + entry.offset, grad: grads.map { $0.baseAddress! + entry.offset })
        }
    }

    deinit {
        values.deallocate()
        grads?.deallocate()
    }

    /// Whether backward passes compute gradients for these tensors (false skips their work).
    public var requiresGrad: Bool {
        get { tensors.first?.requiresGrad ?? false }
        set { for t in tensors { t.requiresGrad = newValue } }
    }

    /// Sets every gradient to zero.
    public func zeroGrad() {
        if let grads { grads.update(repeating: 0) }
    }

    /// A copy of the values.
    public func snapshot() -> [Float] { Array(values) }

    /// Overwrites the values from `source` (count floats).
    public func load(_ source: [Float]) {
        precondition(source.count == count, "arena of \(count) floats loaded with \(source.count)")
        _ = values.update(from: source)
    }

    /// A 64-bit FNV-1a hash of the exact bits of the values: equal on two ranks only if every
    /// float is bit-identical.
    public func checksum() -> UInt64 {
        var h = FNV1a()
        h.combine(floats: values)
        return h.value
    }

    /// The entry named `name`, if any.
    public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }
}
