import DartsTensor

/// 2-D convolution layer (PyTorch `nn.Conv2d`), weight (Cout, Cin / groups, k, k), bias (Cout) or none.
/// Initialised as PyTorch does (Kaiming uniform with a = sqrt(5)): U(-1/sqrt(fanIn), 1/sqrt(fanIn)),
/// fanIn = Cin / groups * k * k, for the weight and the bias.
/// Input (N, Cin, H, W) -> (N, Cout, Hout, Wout).
public final class Conv2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride, padding, dilation, groups: Int

    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true, rng: inout RandomGenerator) {
        precondition(inputChannels % groups == 0 && outputChannels % groups == 0)
        let fanIn = inputChannels / groups * kernelSize * kernelSize
        let bound = 1 / Float(fanIn).squareRoot()
        weight = .randomUniform(shape: [outputChannels, inputChannels / groups, kernelSize, kernelSize],
                                low: -bound, high: bound, using: &rng)
        self.bias = bias ? .randomUniform(shape: [outputChannels], low: -bound, high: bound, using: &rng) : nil
        self.stride = stride; self.padding = padding; self.dilation = dilation; self.groups = groups
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    public override func callAsFunction(_ x: Tensor) -> Tensor {
        conv2d(x, weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

/// Batch normalization layer (PyTorch `nn.BatchNorm2d`): gamma = 1, beta = 0 when affine; buffers
/// running_mean = 0 and running_var = 1. Input and output (N, C, H, W).
public final class BatchNorm2d: Module {
    public let weight, bias: Tensor?
    public let runningMean, runningVar: Tensor
    public let eps, momentum: Float

    public init(featureCount: Int, eps: Float = 1e-5, momentum: Float = 0.1, affine: Bool = true) {
        weight = affine ? Tensor(shape: [featureCount], repeating: 1) : nil
        bias = affine ? Tensor(shape: [featureCount], repeating: 0) : nil
        runningMean = Tensor(shape: [featureCount], repeating: 0)
        runningVar = Tensor(shape: [featureCount], repeating: 1)
        self.eps = eps; self.momentum = momentum
        super.init()
        if let weight, let bias { registerParameter("weight", weight); registerParameter("bias", bias) }
        registerBuffer("running_mean", runningMean)
        registerBuffer("running_var", runningVar)
    }

    public override func callAsFunction(_ x: Tensor) -> Tensor {
        batchNorm2d(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                    training: isTraining, momentum: momentum, eps: eps)
    }
}

/// Fully connected layer (PyTorch `nn.Linear`), weight (out, in) and bias (out), both
/// U(-1/sqrt(in), 1/sqrt(in)). Input (N, in) -> (N, out).
public final class Linear: Module {
    public let weight: Tensor
    public let bias: Tensor?

    public init(inputFeatures: Int, outputFeatures: Int, bias: Bool = true, rng: inout RandomGenerator) {
        let bound = 1 / Float(inputFeatures).squareRoot()
        weight = .randomUniform(shape: [outputFeatures, inputFeatures], low: -bound, high: bound, using: &rng)
        self.bias = bias ? .randomUniform(shape: [outputFeatures], low: -bound, high: bound, using: &rng) : nil
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    public override func callAsFunction(_ x: Tensor) -> Tensor { linear(x, weight, bias: bias) }
}

/// ReLU layer.
public final class ReLU: Module {
    public override init() { super.init() }
    public override func callAsFunction(_ x: Tensor) -> Tensor { relu(x) }
}

/// Max pooling layer over k x k windows (padding is never chosen as the maximum).
public final class MaxPool2d: Module {
    public let kernelSize, stride, padding: Int
    public init(kernelSize: Int, stride: Int, padding: Int) {
        self.kernelSize = kernelSize; self.stride = stride; self.padding = padding
        super.init()
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        maxPool2d(x, kernelSize: kernelSize, stride: stride, padding: padding)
    }
}

/// Average pooling layer; `countIncludePad: false` divides by the cells inside the image.
public final class AvgPool2d: Module {
    public let kernelSize, stride, padding: Int
    public let countIncludePad: Bool
    public init(kernelSize: Int, stride: Int, padding: Int, countIncludePad: Bool = false) {
        self.kernelSize = kernelSize; self.stride = stride; self.padding = padding
        self.countIncludePad = countIncludePad
        super.init()
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        avgPool2d(x, kernelSize: kernelSize, stride: stride, padding: padding, countIncludePad: countIncludePad)
    }
}
