import DartsTensor
import NN

/// ReLU - Conv - BN (official `ReLUConvBN`): the cell's preprocessing of its inputs.
public final class ReLUConvBN: Module {
    let op: Sequential
    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int, padding: Int,
                affine: Bool, rng: inout RandomGenerator) {
        op = Sequential([
            ReLU(),
            Conv2d(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: kernelSize,
                   stride: stride, padding: padding, bias: false, rng: &rng),
            BatchNorm2d(featureCount: outputChannels, affine: affine),
        ])
        super.init()
        registerModule("op", op)
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        // The search cell's 1x1 preprocessing runs as one fused operation.
        if let conv = op.layers[1] as? Conv2d, let bn = op.layers[2] as? BatchNorm2d, bn.weight == nil,
           conv.bias == nil, conv.weight.shape[2] == 1, conv.weight.shape[3] == 1, conv.stride == 1,
           conv.padding == 0, conv.groups == 1 {
            return reluPointwiseBatchNorm(x, weight: conv.weight, runningMean: bn.runningMean, runningVar: bn.runningVar,
                                          training: bn.isTraining, momentum: bn.momentum, eps: bn.eps)
        }
        return op(x)
    }
}

/// An operation whose first layer is a ReLU: given relu(x) it skips that layer, so that the
/// operations of one MixedOp edge share a single ReLU of their common input (the result and every
/// gradient are those of separate ReLUs: the gradients of the shared one add up).
public protocol ReLUFirst: Module {
    /// The operation applied to an input that has already been through ReLU.
    func callAsFunction(activated: Tensor) -> Tensor
    /// Whether `callAsFunction(_:)` applies its ReLU inside a fused kernel, so that a shared
    /// ReLU would cost memory instead of saving work.
    var fusesReLU: Bool { get }
}

extension ReLUFirst {
    public var fusesReLU: Bool { false }
}

/// ReLU - depthwise conv - 1x1 conv - BN(affine: false) through the fused
/// ``reluSeparableBatchNorm(_:depthwise:pointwise:stride:padding:dilation:runningMean:runningVar:training:momentum:eps:)``,
/// which keeps only its input and output for backward; nil for an affine BN (the evaluation network).
func fusedSeparableBlock(_ x: Tensor, _ depthwise: Module, _ pointwise: Module, _ batchNorm: Module) -> Tensor? {
    guard let dw = depthwise as? Conv2d, let pw = pointwise as? Conv2d, let bn = batchNorm as? BatchNorm2d,
          bn.weight == nil, bn.bias == nil, dw.bias == nil, pw.bias == nil,
          dw.groups == dw.weight.shape[0], dw.weight.shape[1] == 1,
          pw.weight.shape[2] == 1, pw.weight.shape[3] == 1, pw.stride == 1, pw.padding == 0 else { return nil }
    return reluSeparableBatchNorm(x, depthwise: dw.weight, pointwise: pw.weight, stride: dw.stride,
                                  padding: dw.padding, dilation: dw.dilation, runningMean: bn.runningMean,
                                  runningVar: bn.runningVar, training: bn.isTraining, momentum: bn.momentum, eps: bn.eps)
}

/// Dilated separable convolution (official `DilConv`): ReLU - depthwise kxk dilation d - 1x1 - BN.
public final class DilConv: Module, ReLUFirst {
    let op: Sequential
    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int, padding: Int, dilation: Int,
                affine: Bool, rng: inout RandomGenerator) {
        op = Sequential([
            ReLU(),
            Conv2d(inputChannels: inputChannels, outputChannels: inputChannels, kernelSize: kernelSize, stride: stride,
                   padding: padding, dilation: dilation, groups: inputChannels, bias: false, rng: &rng),
            Conv2d(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: 1, bias: false, rng: &rng),
            BatchNorm2d(featureCount: outputChannels, affine: affine),
        ])
        super.init()
        registerModule("op", op)
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        let l = op.layers
        return fusedSeparableBlock(x, l[1], l[2], l[3]) ?? op(x)
    }
    public func callAsFunction(activated: Tensor) -> Tensor { op.layers.dropFirst().reduce(activated) { $1($0) } }
    public var fusesReLU: Bool { (op.layers[3] as? BatchNorm2d)?.weight == nil }
}

/// Separable convolution (official `SepConv`), the dilated separable block applied twice:
/// ReLU - depthwise kxk (stride s) - 1x1 - BN - ReLU - depthwise kxk - 1x1 - BN.
public final class SepConv: Module, ReLUFirst {
    let op: Sequential
    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int, padding: Int,
                affine: Bool, rng: inout RandomGenerator) {
        let c = inputChannels
        op = Sequential([
            ReLU(),
            Conv2d(inputChannels: c, outputChannels: c, kernelSize: kernelSize, stride: stride, padding: padding,
                   groups: c, bias: false, rng: &rng),
            Conv2d(inputChannels: c, outputChannels: c, kernelSize: 1, bias: false, rng: &rng),
            BatchNorm2d(featureCount: c, affine: affine),
            ReLU(),
            Conv2d(inputChannels: c, outputChannels: c, kernelSize: kernelSize, stride: 1, padding: padding,
                   groups: c, bias: false, rng: &rng),
            Conv2d(inputChannels: c, outputChannels: outputChannels, kernelSize: 1, bias: false, rng: &rng),
            BatchNorm2d(featureCount: outputChannels, affine: affine),
        ])
        super.init()
        registerModule("op", op)
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        let l = op.layers
        guard let y = fusedSeparableBlock(x, l[1], l[2], l[3]) else { return op(x) }
        return fusedSeparableBlock(y, l[5], l[6], l[7]) ?? op.layers.dropFirst(4).reduce(y) { $1($0) }
    }
    public func callAsFunction(activated: Tensor) -> Tensor { op.layers.dropFirst().reduce(activated) { $1($0) } }
    public var fusesReLU: Bool { (op.layers[3] as? BatchNorm2d)?.weight == nil }
}

/// Halves the resolution without losing pixels (official `FactorizedReduce`):
/// ReLU, then concat(conv1x1 stride 2 on x, conv1x1 stride 2 on x[:, :, 1:, 1:]) along channels
/// (Cout / 2 each), then BN. (N, Cin, H, W) -> (N, Cout, H / 2, W / 2) for even H, W.
public final class FactorizedReduce: Module, ReLUFirst {
    let conv1, conv2: Conv2d
    let bn: BatchNorm2d
    public init(inputChannels: Int, outputChannels: Int, affine: Bool, rng: inout RandomGenerator) {
        precondition(outputChannels % 2 == 0, "FactorizedReduce needs an even number of output channels")
        conv1 = Conv2d(inputChannels: inputChannels, outputChannels: outputChannels / 2, kernelSize: 1, stride: 2,
                       bias: false, rng: &rng)
        conv2 = Conv2d(inputChannels: inputChannels, outputChannels: outputChannels / 2, kernelSize: 1, stride: 2,
                       bias: false, rng: &rng)
        bn = BatchNorm2d(featureCount: outputChannels, affine: affine)
        super.init()
        registerModule("relu", ReLU())
        registerModule("conv_1", conv1)
        registerModule("conv_2", conv2)
        registerModule("bn", bn)
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        if fusesReLU, x.shape[2] % 2 == 0, x.shape[3] % 2 == 0 {
            return reluFactorizedReduceBatchNorm(x, weight1: conv1.weight, weight2: conv2.weight,
                                                 runningMean: bn.runningMean, runningVar: bn.runningVar,
                                                 training: bn.isTraining, momentum: bn.momentum, eps: bn.eps)
        }
        return self(activated: relu(x))
    }
    public func callAsFunction(activated r: Tensor) -> Tensor {
        bn(concatChannels([conv1(r), conv2(cropTopLeft(r))]))
    }
    /// In the search network (BN without affine parameters) it runs as one fused operation.
    public var fusesReLU: Bool { bn.weight == nil }
}

/// A pool followed by BN(affine: false), the search network's pooling operations (the official
/// MixedOp's `nn.Sequential(pool, nn.BatchNorm2d(C, affine=False))`, with the same module names
/// "0" and "1"), run as one operation by
/// ``pooledBatchNorm(_:runningMean:runningVar:training:momentum:eps:pool:poolBackward:)``, which keeps only
/// its input and output for backward.
public final class PoolBatchNorm: Module {
    let pool: Module
    let batchNorm: BatchNorm2d
    public init(pool: Module, batchNorm: BatchNorm2d) {
        self.pool = pool
        self.batchNorm = batchNorm
        super.init()
        registerModule("0", pool)
        registerModule("1", batchNorm)
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        let backward: (Tensor, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
        switch pool {
        case let p as MaxPool2d:
            backward = { maxPool2dBackward($0, $1, into: $2, kernelSize: p.kernelSize, stride: p.stride, padding: p.padding) }
        case let p as AvgPool2d:
            backward = { avgPool2dBackward($0.shape, $1, into: $2, kernelSize: p.kernelSize, stride: p.stride,
                                           padding: p.padding, countIncludePad: p.countIncludePad) }
        default:
            return batchNorm(pool(x))
        }
        return pooledBatchNorm(x, runningMean: batchNorm.runningMean, runningVar: batchNorm.runningVar,
                               training: batchNorm.isTraining, momentum: batchNorm.momentum, eps: batchNorm.eps,
                               pool: { self.pool($0) }, poolBackward: backward)
    }
}

/// The identity (skip_connect at stride 1).
public final class Identity: Module {
    public override init() { super.init() }
    public override func callAsFunction(_ x: Tensor) -> Tensor { x }
}

/// DARTS' `none`: zeros of the strided shape.
public final class Zero: Module {
    let stride: Int
    public init(stride: Int) { self.stride = stride; super.init() }
    public override func callAsFunction(_ x: Tensor) -> Tensor { stridedZeros(like: x, stride: stride) }
}

/// Builds one candidate operation (the official `OPS` table) for C channels at `stride`.
/// In the search network (`affine: false`) pooling is followed by BN(affine: false) as in the
/// official MixedOp; `poolBatchNorm: false` gives the evaluation network's bare pools.
public func makeOperation(_ primitive: Primitive, channels c: Int, stride: Int, affine: Bool,
                          poolBatchNorm: Bool, rng: inout RandomGenerator) -> Module {
    func pooled(_ pool: Module) -> Module {
        poolBatchNorm ? PoolBatchNorm(pool: pool, batchNorm: BatchNorm2d(featureCount: c, affine: false)) : pool
    }
    switch primitive {
    case .none: return Zero(stride: stride)
    case .maxPool3x3: return pooled(MaxPool2d(kernelSize: 3, stride: stride, padding: 1))
    case .avgPool3x3: return pooled(AvgPool2d(kernelSize: 3, stride: stride, padding: 1, countIncludePad: false))
    case .skipConnect:
        return stride == 1 ? Identity() : FactorizedReduce(inputChannels: c, outputChannels: c, affine: affine, rng: &rng)
    case .sepConv3x3:
        return SepConv(inputChannels: c, outputChannels: c, kernelSize: 3, stride: stride, padding: 1, affine: affine, rng: &rng)
    case .sepConv5x5:
        return SepConv(inputChannels: c, outputChannels: c, kernelSize: 5, stride: stride, padding: 2, affine: affine, rng: &rng)
    case .dilConv3x3:
        return DilConv(inputChannels: c, outputChannels: c, kernelSize: 3, stride: stride, padding: 2, dilation: 2,
                       affine: affine, rng: &rng)
    case .dilConv5x5:
        return DilConv(inputChannels: c, outputChannels: c, kernelSize: 5, stride: stride, padding: 4, dilation: 2,
                       affine: affine, rng: &rng)
    }
}
