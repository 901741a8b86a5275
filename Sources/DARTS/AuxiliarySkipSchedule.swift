/// The decay of beta_skip, the weight of DARTS-' auxiliary skip connection (Chu et al., "DARTS-:
/// Robustly Stepping out of Performance Collapse Without Indicators", ICLR 2021; docs/algorithm.md
/// §12): linear in the global step, from 1 at the first step of the search to 0 at its last,
///
///     beta_skip(s) = 1 - s / (S - 1),   s = 0 .. S - 1 (S = steps per epoch x epochs),
///
/// and 1 when the search has a single step. The official code decays it per epoch instead,
/// (E - e) / E for epoch e, which never reaches 0; the per-step form is smooth and ends with the
/// auxiliary path switched off. It depends on the global step alone, so a resumed search and
/// every rank compute the same value.
public enum AuxiliarySkipSchedule {
    /// beta_skip for the 0-based global step `step` of a search of `steps` steps.
    public static func weight(step: Int, steps: Int) -> Float {
        guard steps > 1 else { return 1 }
        return Float(1 - Double(min(max(step, 0), steps - 1)) / Double(steps - 1))
    }
}
