import Testing
@testable import DartsTensor

// The row helpers and tap kernels of the depthwise and pooling kernels against their definitions,
// for every length through their vector blocks, their overlapping last blocks and their scalar
// tails, with guard values around the destination that must stay untouched.
@Suite struct RowKernelTests {
    /// Runs `body` on a destination of `count` floats (initial values `initial`) between guards,
    /// and returns the destination; expects the guards unchanged.
    private func guarded(_ initial: [Float], _ body: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        let guardValue: Float = 12345
        var buffer = [Float](repeating: guardValue, count: 16) + initial + [Float](repeating: guardValue, count: 16)
        buffer.withUnsafeMutableBufferPointer { body($0.baseAddress! + 16) }
        #expect(buffer.prefix(16).allSatisfy { $0 == guardValue })
        #expect(buffer.suffix(16).allSatisfy { $0 == guardValue })
        return Array(buffer[16..<(16 + initial.count)])
    }

    @Test(arguments: Array(0...41))
    func rowCopiesAndAddsMatchTheirDefinitions(count: Int) {
        let src = randomTensor([count + 1], seed: UInt64(count + 1)).values
        let x = randomTensor([count + 1], seed: UInt64(count + 100)).values
        let dst = randomTensor([count + 1], seed: UInt64(count + 200)).values.prefix(count).map { $0 }
        src.withUnsafeBufferPointer { s in
            x.withUnsafeBufferPointer { x in
                #expect(guarded(dst) { copyRow(s.baseAddress!, $0, count) } == Array(src.prefix(count)))
                #expect(guarded(dst) { reluCopy(s.baseAddress!, $0, count) } == src.prefix(count).map { max($0, 0) })
                #expect(guarded(dst) { addInto(s.baseAddress!, $0, count) } == (0..<count).map { dst[$0] + src[$0] })
                #expect(guarded(dst) { maskedAdd(s.baseAddress!, where: x.baseAddress!, $0, count) }
                            == (0..<count).map { x[$0] > 0 ? dst[$0] + src[$0] : dst[$0] })
            }
        }
    }

    // Lengths through the 64- and 32-output blocks of correlate (and its overlapping last block),
    // its 8-wide and scalar tails for short lengths, and tapDots' 16-wide blocks and last block.
    @Test(arguments: [1, 5, 8, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 97, 100, 127, 222, 838])
    func correlationAndTapDotsMatchTheirDefinitions(count: Int) {
        let offsets = [0, 1, 2, 7, 9, 16, 30, 31, 45]
        let taps = offsets.count
        let src = randomTensor([count + 45], seed: UInt64(count)).values
        let d = randomTensor([count], seed: UInt64(count + 1)).values
        let w = randomTensor([taps], seed: 3).values
        var out = [Float](repeating: .nan, count: count)
        var dots = [Float](repeating: 0.5, count: taps)
        src.withUnsafeBufferPointer { s in
            offsets.withUnsafeBufferPointer { o in
                w.withUnsafeBufferPointer { w in
                    out.withUnsafeMutableBufferPointer { correlate(s.baseAddress!, o.baseAddress!, w.baseAddress!, taps: taps, $0.baseAddress!, count) }
                }
                d.withUnsafeBufferPointer { d in
                    dots.withUnsafeMutableBufferPointer { tapDots(d.baseAddress!, s.baseAddress!, o.baseAddress!, taps: taps, count, $0.baseAddress!) }
                }
            }
        }
        for m in 0..<count {
            let expected = (0..<taps).reduce(0.0) { $0 + Double(w[$1]) * Double(src[m + offsets[$1]]) }
            #expect(abs(Double(out[m]) - expected) <= 1e-5 * max(1, abs(expected)))
        }
        for t in 0..<taps {
            let expected = 0.5 + (0..<count).reduce(0.0) { $0 + Double(d[$1]) * Double(src[$1 + offsets[t]]) }
            #expect(abs(Double(dots[t]) - expected) <= 1e-5 * max(1, abs(expected)))
        }
    }
}
