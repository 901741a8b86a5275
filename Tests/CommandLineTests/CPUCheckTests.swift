import CPUCheck
import Testing

/// The start-up check of Sources/CPUCheck: which features an x86-64 level needs, and that this
/// machine runs this build.
@Suite struct CPUCheckTests {
    /// A CPU with AVX2 and FMA but no AVX-512 (an AMD Zen 3, an Intel Haswell).
    static let avx2Only: @convention(c) (UnsafePointer<CChar>?) -> Int32 = { feature in
        String(cString: feature!).hasPrefix("avx512") ? 0 : 1
    }

    @Test func anAVX512BuildOnAnAVX2CPUNamesWhatIsMissing() {
        var out = [CChar](repeating: 0, count: 256)
        #expect(darts_dist_missing_features("x86-64-v4", Self.avx2Only, &out, 256) == 5)
        #expect(String(cString: out) == "avx512f avx512bw avx512cd avx512dq avx512vl")
        #expect(darts_dist_missing_features("x86-64-v3", Self.avx2Only, &out, 256) == 0)
        #expect(String(cString: out) == "")
        #expect(String(cString: darts_dist_highest_level(Self.avx2Only)) == "x86-64-v3")
        #expect(darts_dist_missing_features("x86-64-v9", Self.avx2Only, &out, 256) == -1, "an unknown level")
    }

    @Test func aShortBufferKeepsWholeNamesAndItsEnd() {
        var small = [CChar](repeating: 0x7f, count: 12)
        #expect(darts_dist_missing_features("x86-64-v4", Self.avx2Only, &small, 12) == 5, "all counted")
        #expect(String(cString: small) == "avx512f", "only whole names that fit, NUL-terminated")
        let none: @convention(c) (UnsafePointer<CChar>?) -> Int32 = { _ in 0 }
        #expect(String(cString: darts_dist_highest_level(none)) == "x86-64")
    }

    @Test func thisMachineRunsThisBuild() {
        let level = String(cString: darts_dist_cpu_level())
        guard !level.isEmpty else { return }   // a debug build has no level
        var out = [CChar](repeating: 0, count: 256)
        #expect(darts_dist_missing_features(level, darts_dist_cpu_supports, &out, 256) == 0, "\(String(cString: out))")
        #expect(darts_dist_cpu_supports("avx2") == 1, "every level we build for by default has AVX2 on this machine kind")
    }
}
