import Testing
@testable import DartsTensor

// Where a gradient lives: owned, bound, or another tensor's shared with a scale.
@Suite struct GradientMemoryTests {
    /// A source holding an owned gradient [1, 2, 3] and a target that accepts sharing.
    private func sourceAndTarget() -> (Tensor, Tensor) {
        let source = Tensor(shape: [3]), target = Tensor(shape: [3])
        let g = source.ensureGrad()
        for i in 0..<3 { g[i] = Float(i + 1) }
        target.gradientMemory.acceptsSharing = true
        return (source, target)
    }

    @Test func aSharedGradientIsTheScaledSourceUntilWrittenTo() {
        let (source, target) = sourceAndTarget()
        #expect(source.gradientMemory.share(into: &target.gradientMemory, scale: 0.5))
        #expect(target.grad == nil)
        #expect(target.gradientMemory.exists)
        #expect(target.gradientMemory.scaled?.scale == 0.5)
        #expect(target.gradient == [0.5, 1, 1.5])
        // Adding to it first gives it a buffer of its own with the same values.
        let (own, fresh) = target.gradientForAccumulation()
        #expect(!fresh)
        #expect(own != source.grad)
        #expect(target.grad == own)
        #expect(target.gradient == [0.5, 1, 1.5])
        #expect(source.gradient == [1, 2, 3])
    }

    @Test func sharingNeedsAnAcceptingEmptyTargetAndAnOwnedSource() {
        var (source, target) = sourceAndTarget()
        target.gradientMemory.acceptsSharing = false
        #expect(!source.gradientMemory.share(into: &target.gradientMemory, scale: 2))
        (source, target) = sourceAndTarget()
        _ = target.ensureGrad()
        #expect(!source.gradientMemory.share(into: &target.gradientMemory, scale: 2))
        (source, target) = sourceAndTarget()
        var bound: [Float] = [0, 0, 0]
        bound.withUnsafeMutableBufferPointer { b in
            let arena = Tensor(shape: [3])
            arena.bindGradient(b.baseAddress!)
            #expect(!arena.gradientMemory.share(into: &target.gradientMemory, scale: 2))
        }
        let shared = Tensor(shape: [3])
        shared.gradientMemory.acceptsSharing = true
        #expect(source.gradientMemory.share(into: &target.gradientMemory, scale: 2))
        #expect(!target.gradientMemory.share(into: &shared.gradientMemory, scale: 2))
    }

    @Test func zeroingAndReleasingKeepBoundMemoryAndDropTheRest() {
        var memory: [Float] = [4, 5]
        memory.withUnsafeMutableBufferPointer { m in
            let bound = Tensor(shape: [2])
            bound.bindGradient(m.baseAddress!)
            bound.gradientMemory.release()
            #expect(bound.grad == m.baseAddress!)
            bound.zeroGrad()
            #expect(bound.grad == m.baseAddress!)
        }
        #expect(memory == [0, 0])
        let owned = Tensor(shape: [2])
        _ = owned.ensureGrad()
        owned.zeroGrad()
        #expect(owned.grad == nil && !owned.gradientMemory.exists)
        _ = owned.ensureGrad()
        owned.gradientMemory.release()
        #expect(owned.grad == nil)
    }

    @Test func aNewBufferIsZeroedOnlyWhenAsked() {
        let t = Tensor(shape: [4])
        let (pointer, fresh) = t.gradientForAccumulation()
        #expect(fresh)
        #expect(t.grad == pointer)
        let u = Tensor(shape: [4])
        #expect(UnsafeBufferPointer(start: u.ensureGrad(), count: 4).allSatisfy { $0 == 0 })
        #expect(u.gradientForAccumulation().fresh == false)
    }
}
