import Synchronization

/// A caching allocator for tensor memory, in the spirit of PyTorch's caching allocators: freed
/// blocks are kept in per-size free lists and handed out again for the next request of the same
/// size. A training step allocates the same sizes in the same order every time, so after the
/// first step no memory comes from the operating system (no page faults, no zeroing by the kernel).
///
/// Thread-safe (one mutex; a rank's tensor code runs on one thread, tests run in parallel).
public enum TensorMemoryPool {
    struct State {
        var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    }
    private static let state = Mutex(State())

    /// A block of `count` floats (uninitialised).
    static func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        let reused: UnsafeMutablePointer<Float>? = state.withLock { s in s.free[count]?.popLast() }
        return reused ?? .allocate(capacity: count)
    }

    /// Returns a block taken with ``take(_:)`` to the cache.
    static func give(_ pointer: UnsafeMutablePointer<Float>, _ count: Int) {
        state.withLock { s in s.free[count, default: []].append(pointer) }
    }

    /// Frees every cached block (after a phase with other sizes, such as validation).
    public static func releaseCached() {
        state.withLock { s in
            for (_, blocks) in s.free { for p in blocks { p.deallocate() } }
            s.free = [:]
        }
    }
}
