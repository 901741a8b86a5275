import DartsTensor

/// Drop path (official `drop_path` in cnn/utils.py, from FractalNet / NASNet): during training each
/// sample's path through an operation is dropped with probability p, and the kept samples are
/// scaled by 1 / (1 - p) so the expected output is unchanged:
///
///     keep[n] ~ Bernoulli(1 - p),  y[n, ...] = keep[n] / (1 - p) * x[n, ...]
///
/// The evaluation cell applies it to the output of every operation except the identity
/// (docs/algorithm.md §6); the trainer ramps p linearly, p * epoch / epochs.
public enum DropPath {
    /// The per-sample factors: 1 / (1 - p) with probability 1 - p, else 0; one uniform draw from
    /// `rng` per sample (kept when u < 1 - p).
    /// - Parameters:
    ///   - batch: N, the number of samples.
    ///   - probability: p, the drop probability, in [0, 1).
    public static func keepMask(batch: Int, probability p: Float, rng: inout RandomGenerator) -> [Float] {
        precondition(p >= 0 && p < 1, "drop path probability \(p) is outside [0, 1)")
        let keep = 1 - p
        return (0..<batch).map { _ in rng.nextUniform() < keep ? 1 / keep : 0 }
    }

    /// Applies drop path to x (N, C, H, W) when `training` and p > 0; otherwise returns x itself
    /// and draws nothing from `rng`.
    /// - Parameters:
    ///   - x: (N, C, H, W).
    ///   - probability: p, the drop probability, in [0, 1).
    ///   - training: whether the network is in training mode.
    /// - Returns: (N, C, H, W), differentiable in x (the gradient has the same mask and scale).
    public static func apply(_ x: Tensor, probability p: Float, training: Bool, rng: inout RandomGenerator) -> Tensor {
        apply(x, probability: p, training: training, masks: &rng)
    }

    /// ``apply(_:probability:training:rng:)`` with the factors drawn from any ``DropPathMaskSource``.
    public static func apply<Source: DropPathMaskSource>(_ x: Tensor, probability p: Float, training: Bool,
                                                         masks: inout Source) -> Tensor {
        guard training && p > 0 else { return x }
        return dropPath(x, keepMask: masks.keepMask(batch: x.shape[0], probability: p))
    }
}

/// A source of drop path's per-sample keep factors (N factors, each 0 or 1 / (1 - p)).
public protocol DropPathMaskSource {
    /// The factors for a batch of `batch` samples at drop probability p in [0, 1).
    mutating func keepMask(batch: Int, probability p: Float) -> [Float]
}

/// One shared generator: each call draws `batch` uniforms in sample order (``DropPath/keepMask(batch:probability:rng:)``).
extension RandomGenerator: DropPathMaskSource {
    public mutating func keepMask(batch: Int, probability p: Float) -> [Float] {
        DropPath.keepMask(batch: batch, probability: p, rng: &self)
    }
}

/// One generator per sample: sample n's factor comes from one uniform of its own generator, so
/// its masks depend on its seed alone, not on which batch, micro-batch or rank holds it. This is
/// what keeps data-parallel training with drop path identical for any number of ranks.
public struct PerSampleDropPathMasks: DropPathMaskSource {
    public var generators: [RandomGenerator]

    /// - Parameter seeds: one seed per sample of the batch, in batch order.
    public init(seeds: [UInt64]) { generators = seeds.map { RandomGenerator(seed: $0) } }

    public mutating func keepMask(batch: Int, probability p: Float) -> [Float] {
        precondition(batch == generators.count, "drop path: \(generators.count) sample seeds for a batch of \(batch)")
        precondition(p >= 0 && p < 1, "drop path probability \(p) is outside [0, 1)")
        let keep = 1 - p
        return (0..<batch).map { generators[$0].nextUniform() < keep ? 1 / keep : 0 }
    }
}
