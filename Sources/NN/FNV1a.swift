/// The 64-bit FNV-1a hash (Fowler, Noll, Vo): h = (h XOR word) * 1099511628211 from the offset
/// basis 14695981039346656037, over bytes or over whole 64-bit words. Not cryptographic: it
/// tells whether two ranks hold the same bits, and whether a file changed by accident.
public struct FNV1a: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    /// Mixes in one word (a float's bit pattern, a count).
    public mutating func combine(_ word: UInt64) {
        value = (value ^ word) &* 0x0000_0100_0000_01b3
    }

    /// Mixes in the bit patterns of `floats`, one word each.
    public mutating func combine<C: Collection>(floats: C) where C.Element == Float {
        for v in floats { combine(UInt64(v.bitPattern)) }
    }

    /// Mixes in `bytes`, one word each.
    public mutating func combine<C: Sequence>(bytes: C) where C.Element == UInt8 {
        for b in bytes { combine(UInt64(b)) }
    }
}
