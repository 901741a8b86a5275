import DartsTensor
import NN

/// The auxiliary classifier of the evaluation network (official `AuxiliaryHeadCIFAR` in
/// cnn/model.py), fed by the cell at 2 * layers / 3:
///
/// ```
/// features:   ReLU - AvgPool 5x5 stride 3 (pad 0, count_include_pad false) - Conv1x1(C, 128) - BN(128) - ReLU
///             - Conv2x2(128, 768) - BN(768) - ReLU                     (N, C, S, S) -> (N, 768, 1, 1)
/// classifier: Linear(768, classes)                                     (N, 768) -> (N, classes)
/// ```
///
/// The head needs a 2 x 2 map after its pooling. On CIFAR (S = 8, also S = 9 or 10) that is the
/// official pool, 5x5 stride 3, exactly. For other sizes the pool is adapted so that its output is
/// again 2 x 2 and its two windows cover the whole map (kernel k, stride S - k), leaving every
/// parameter shape as in the official head:
/// - S = 6 or 7 (Fashion-MNIST's 28 x 28 gives S = 7): kernel 5, stride S - 5 (7: windows at 0 and 2);
/// - 2 <= S <= 5: kernel S - 1, stride 1;
/// - S > 10: kernel ceil(S / 2), stride floor(S / 2).
/// See ``poolGeometry(inputSize:)``.
public final class AuxiliaryHead: Module {
    let features: Sequential
    let classifier: Linear
    /// The pooling window and step chosen for the input size.
    public let poolKernelSize, poolStride: Int

    /// - Parameters:
    ///   - channels: C, the channels of the cell output it reads.
    ///   - inputSize: S, the height (= width) of that output, at least 2.
    ///   - classes: the number of logits.
    public init(channels c: Int, inputSize: Int, classes: Int, rng: inout RandomGenerator) {
        (poolKernelSize, poolStride) = AuxiliaryHead.poolGeometry(inputSize: inputSize)
        features = Sequential([
            ReLU(),
            AvgPool2d(kernelSize: poolKernelSize, stride: poolStride, padding: 0, countIncludePad: false),
            Conv2d(inputChannels: c, outputChannels: 128, kernelSize: 1, bias: false, rng: &rng),
            BatchNorm2d(featureCount: 128),
            ReLU(),
            Conv2d(inputChannels: 128, outputChannels: 768, kernelSize: 2, bias: false, rng: &rng),
            BatchNorm2d(featureCount: 768),
            ReLU(),
        ])
        classifier = Linear(inputFeatures: 768, outputFeatures: classes, rng: &rng)
        super.init()
        registerModule("features", features)
        registerModule("classifier", classifier)
    }

    /// The (kernel, stride) of the head's average pooling for an S x S input: the official (5, 3)
    /// when it yields 2 x 2 (S in 8...10), otherwise a kernel k and stride S - k that yield 2 x 2.
    public static func poolGeometry(inputSize s: Int) -> (kernelSize: Int, stride: Int) {
        precondition(s >= 2, "the auxiliary head needs an input of at least 2 x 2, got \(s) x \(s)")
        if (8...10).contains(s) { return (5, 3) }   // (S - 5) / 3 + 1 == 2
        let k = s <= 5 ? s - 1 : (s <= 10 ? 5 : (s + 1) / 2)
        return (k, s - k)
    }

    /// Auxiliary logits (N, classes) for a cell output (N, C, S, S).
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        let f = features(x)
        return classifier(reshaped(f, [f.shape[0], f.count / f.shape[0]]))
    }
}
