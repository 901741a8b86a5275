/// Row helpers of the plane kernels: vector loads and stores, and rows of 7 to 36 floats copied,
/// rectified and added inline (a call to memmove per row costs as much as the copy).
///
/// Each helper is written once for any vector width (``FloatVector``) and run with 8 lanes when
/// the row holds at least 8 floats, 4 lanes when it holds 4 to 7, and a scalar loop below. A row
/// whose length is not a multiple of the width ends with the full vector that ends at `count`,
/// overlapping the one before, instead of a scalar tail.

/// Float vectors of 4, 8 and 16 lanes.
typealias Vector4 = SIMD4<Float>
typealias Vector8 = SIMD8<Float>
typealias Vector16 = SIMD16<Float>

/// A float vector of any width, with the integer vector of its bits, its lane numbers, its even
/// and odd lanes as vectors of half the width, and the two lane comparisons the row helpers use.
///
/// The comparisons are requirements, implemented by each width: a lane comparison written in
/// generic code resolves to the SIMD protocol's lane-by-lane loop (a branch per lane), where the
/// concrete vector types compare all lanes in one instruction.
protocol FloatVector: SIMD where Scalar == Float {
    associatedtype Bits: SIMD where Bits.Scalar == Int32
    associatedtype Half: SIMD where Half.Scalar == Float
    /// (0, 1, ..., lanes - 1).
    static var laneNumbers: Bits { get }
    /// Lanes 0, 2, 4, ... and lanes 1, 3, 5, ...
    var evenLanes: Half { get }
    var oddLanes: Half { get }
    /// max(self, 0) lane by lane: self where self < 0 is false (so -0 and NaN stay).
    var rectified: Self { get }
    /// self where x > 0, zero elsewhere (the gradient self through a ReLU of x).
    func kept(where x: Self) -> Self
}

extension SIMD4: FloatVector where Scalar == Float {
    @inline(__always) static var laneNumbers: SIMD4<Int32> { SIMD4<Int32>(0, 1, 2, 3) }
    @inline(__always) var evenLanes: SIMD2<Float> { evenHalf }
    @inline(__always) var oddLanes: SIMD2<Float> { oddHalf }
    @inline(__always) var rectified: Self { replacing(with: 0, where: self .< 0) }
    @inline(__always) func kept(where x: Self) -> Self { Self().replacing(with: self, where: x .> Self()) }
}

extension SIMD8: FloatVector where Scalar == Float {
    @inline(__always) static var laneNumbers: SIMD8<Int32> { SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) }
    @inline(__always) var evenLanes: Vector4 { evenHalf }
    @inline(__always) var oddLanes: Vector4 { oddHalf }
    @inline(__always) var rectified: Self { replacing(with: 0, where: self .< 0) }
    @inline(__always) func kept(where x: Self) -> Self { Self().replacing(with: self, where: x .> Self()) }
}

extension SIMD16: FloatVector where Scalar == Float {
    @inline(__always) static var laneNumbers: SIMD16<Int32> {
        SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
    }
    @inline(__always) var evenLanes: Vector8 { evenHalf }
    @inline(__always) var oddLanes: Vector8 { oddHalf }
    @inline(__always) var rectified: Self { replacing(with: 0, where: self .< 0) }
    @inline(__always) func kept(where x: Self) -> Self { Self().replacing(with: self, where: x .> Self()) }
}

extension FloatVector {
    /// The `scalarCount` floats at `p` (no alignment needed).
    @inline(__always)
    init(loading p: UnsafePointer<Float>) {
        self = UnsafeRawPointer(p).loadUnaligned(as: Self.self)
    }

    /// self with lanes 0 ..< first set to zero. The mask is integer arithmetic, (lane - first)
    /// >> 31 inverted, and an AND of the bits: a SIMDMask built by comparing lane numbers
    /// compiles to a loop over the lanes here.
    @inline(__always)
    func zeroing(below first: Int) -> Self {
        let keep = ~((Self.laneNumbers &- Bits(repeating: Int32(first))) &>> 31)
        return unsafeBitCast(unsafeBitCast(self, to: Bits.self) & keep, to: Self.self)
    }
}

/// Stores the lanes of `v` at p ..< p + lanes (no alignment needed).
@inline(__always)
func store<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<V.Scalar>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
}

/// dst[j] = src[j] for j in 0 ..< count (src and dst must not overlap).
@inline(__always)
func copyRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
    if count >= 8 {
        mapRow(src, dst, count, Vector8.self) { $0 }
    } else if count >= 4 {
        mapRow(src, dst, count, Vector4.self) { $0 }
    } else {
        for j in 0..<count { dst[j] = src[j] }
    }
}

/// dst[j] = max(src[j], 0) for j in 0 ..< count (src and dst must not overlap).
@inline(__always)
func reluCopy(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
    if count >= 8 {
        mapRow(src, dst, count, Vector8.self) { $0.rectified }
    } else if count >= 4 {
        mapRow(src, dst, count, Vector4.self) { $0.rectified }
    } else {
        for j in 0..<count { dst[j] = max(src[j], 0) }
    }
}

/// dst[j] = f(src[j]) for j in 0 ..< count >= V.scalarCount, whole vectors, the last one ending
/// at `count` (its lanes before the end are written twice with the same values).
@inline(__always)
private func mapRow<V: FloatVector>(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int,
                                    _: V.Type, _ f: (V) -> V) {
    let n = V.scalarCount
    var j = 0
    while j + n <= count {
        store(f(V(loading: src + j)), dst + j)
        j += n
    }
    if j < count { store(f(V(loading: src + count - n)), dst + count - n) }
}

/// dst[j] += src[j] for j in 0 ..< count.
@inline(__always)
func addInto(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
    if count >= 8 {
        accumulateRow(dst, count, Vector8.self) { Vector8(loading: src + $0) }
    } else if count >= 4 {
        accumulateRow(dst, count, Vector4.self) { Vector4(loading: src + $0) }
    } else {
        for j in 0..<count { dst[j] += src[j] }
    }
}

/// dst[j] += src[j] where x[j] > 0 (the gradient through a ReLU of x), for j in 0 ..< count,
/// without branches on the data.
@inline(__always)
func maskedAdd(_ src: UnsafePointer<Float>, where x: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
    @inline(__always) func kept<V: FloatVector>(_ j: Int) -> V { V(loading: src + j).kept(where: V(loading: x + j)) }
    if count >= 8 {
        accumulateRow(dst, count, Vector8.self) { kept($0) }
    } else if count >= 4 {
        accumulateRow(dst, count, Vector4.self) { kept($0) }
    } else {
        for j in 0..<count {
            let keep: UInt32 = x[j] > 0 ? .max : 0
            dst[j] += Float(bitPattern: src[j].bitPattern & keep)
        }
    }
}

/// dst[j] += term(j)[0 ..< lanes] for j in 0 ..< count >= V.scalarCount by whole vectors, where
/// term(j) is the vector of addends for dst[j ..< j + lanes]. The last two vectors, the full one
/// and the one that ends at `count` (its lanes that overlap the full one added as zero), are both
/// loaded before either is stored, the one at the end first: a load that overlaps a store just
/// made stalls store-to-load forwarding.
@inline(__always)
private func accumulateRow<V: FloatVector>(_ dst: UnsafeMutablePointer<Float>, _ count: Int, _: V.Type,
                                           _ term: (Int) -> V) {
    let n = V.scalarCount
    var j = 0
    while j + 2 * n <= count {
        store(V(loading: dst + j) + term(j), dst + j)
        j += n
    }
    let end = count - n
    let head = V(loading: dst + j) + term(j)
    let tail = V(loading: dst + end) + term(end).zeroing(below: j + n - end)
    store(tail, dst + end)
    store(head, dst + j)
}

/// Copies a (rows, width) plane to row pitch `pitch`, zeroing the pitch - width scratch columns
/// between rows (those after the last row are left as they are).
@inline(__always)
func pitch(_ src: UnsafePointer<Float>, rows: Int, width: Int, into dst: UnsafeMutablePointer<Float>, pitch: Int) {
    // Up to 8 scratch columns are zeroed by one vector store, whose overflow into the next row
    // that row's copy overwrites.
    let vectorZero = pitch - width <= 8 && pitch >= 8
    for i in 0..<rows {
        copyRow(src + i * width, dst + i * pitch, width)
        guard i < rows - 1 else { continue }
        if vectorZero {
            store(Vector8(), dst + i * pitch + width)
        } else {
            for j in width..<pitch { dst[i * pitch + j] = 0 }
        }
    }
}

/// Copies the first `width` columns of `rows` rows at row pitch `pitch` into a dense plane.
@inline(__always)
func unpitch(_ src: UnsafePointer<Float>, pitch: Int, _ dst: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
    for i in 0..<rows { copyRow(src + i * pitch, dst + i * width, width) }
}
