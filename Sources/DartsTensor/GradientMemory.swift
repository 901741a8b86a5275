/// Where a tensor's gradient (as many floats as the tensor) lives: nowhere yet, in a buffer of
/// its own, in memory bound from outside (a parameter arena), or in another tensor's gradient
/// memory read with a scale.
///
/// The shared, scaled form saves a weighted sum's backward (paper eq. 2: d op_k = c_k dy) from
/// writing c_k dy for every term: the term's result refers to dy's memory with scale c_k, and its
/// operation's backward folds c_k into its own arithmetic. Only results whose operation reads
/// ``scaled`` accept that (``acceptsSharing``); anything that adds to a shared gradient first
/// gives it a buffer of its own with the same values (``writable(count:zeroed:)``).
struct GradientMemory {
    private enum Place {
        case none
        case owned(FloatBuffer)
        case bound(UnsafeMutablePointer<Float>)
        /// scale times the memory of another tensor's own gradient (kept alive here, never
        /// written through this tensor).
        case shared(FloatBuffer, scale: Float)
    }

    private var place = Place.none
    /// Set by operations whose backward reads ``scaled`` instead of the plain gradient: their
    /// result may then receive a shared, scaled gradient (``share(into:scale:)``).
    var acceptsSharing = false

    /// The memory that may be added to (owned or bound); nil before any gradient arrived, and
    /// while the gradient is shared.
    var plain: UnsafeMutablePointer<Float>? {
        switch place {
        case .owned(let buffer): return buffer.pointer
        case .bound(let pointer): return pointer
        case .none, .shared: return nil
        }
    }

    /// The gradient as (values, scale): the gradient is scale times values; nil before any
    /// gradient arrived. Does not copy a shared gradient.
    var scaled: (values: UnsafePointer<Float>, scale: Float)? {
        switch place {
        case .none: return nil
        case .owned(let buffer): return (UnsafePointer(buffer.pointer), 1)
        case .bound(let pointer): return (UnsafePointer(pointer), 1)
        case .shared(let buffer, let scale): return (UnsafePointer(buffer.pointer), scale)
        }
    }

    /// Whether any gradient has arrived (without copying a shared one).
    var exists: Bool {
        if case .none = place { return false }
        return true
    }

    /// Makes `pointer` (owned elsewhere) the gradient: added to, never freed, kept by ``zero(count:)``.
    mutating func bind(_ pointer: UnsafeMutablePointer<Float>) {
        place = .bound(pointer)
    }

    /// The memory that may be added to, made if needed, and whether this call made it: a new
    /// buffer of `count` floats (zeroed if `zeroed`, otherwise uninitialised, and the caller must
    /// write every element), or a shared gradient replaced by a buffer of its own holding
    /// scale * values (not fresh).
    mutating func writable(count: Int, zeroed: Bool) -> (pointer: UnsafeMutablePointer<Float>, fresh: Bool) {
        switch place {
        case .owned(let buffer): return (buffer.pointer, false)
        case .bound(let pointer): return (pointer, false)
        case .shared(let source, let scale):
            let buffer = FloatBuffer(count: count, zeroed: false)
            for i in 0..<count { buffer.pointer[i] = scale * source.pointer[i] }
            place = .owned(buffer)
            return (buffer.pointer, false)
        case .none:
            let buffer = FloatBuffer(count: count, zeroed: zeroed)
            place = .owned(buffer)
            return (buffer.pointer, true)
        }
    }

    /// Gives `target` the gradient `scale` times this one, sharing this memory instead of writing
    /// a copy, when `target` accepts sharing and holds no gradient yet and this gradient is a
    /// buffer of its own. Returns whether it did; the caller then adds nothing to `target`.
    func share(into target: inout GradientMemory, scale: Float) -> Bool {
        guard target.acceptsSharing, case .none = target.place, case .owned(let buffer) = place else { return false }
        target.place = .shared(buffer, scale: scale)
        return true
    }

    /// Sets the gradient to zero: bound memory is filled with zeros (and stays bound), any other
    /// is dropped.
    mutating func zero(count: Int) {
        if case .bound(let pointer) = place {
            pointer.update(repeating: 0, count: count)
        } else {
            place = .none
        }
    }

    /// Drops the gradient unless it is bound (an intermediate result's, once its backward ran).
    mutating func release() {
        if case .bound = place { return }
        place = .none
    }
}
