import DartsTensor
import NN

/// How a cell operation runs, decided when it is built from what it is: as fused DartsTensor
/// kernels that keep only their input and output for backward (and, with an affine BN, its
/// normalized values), in the search network (BN without affine parameters) and in the
/// evaluation network (affine BN) alike; layer by layer where no fused kernel covers the geometry.
enum Execution {
    case fused
    case layered

    /// Fused exactly when `fusable` (the fused kernel covers the operation's geometry).
    init(fusable: Bool = true) {
        self = fusable ? .fused : .layered
    }
}

/// ReLU - Conv - BN (official `ReLUConvBN`): the cell's preprocessing of its inputs.
public final class ReLUConvBN: Module {
    let op: Sequential
    let conv: Conv2d
    let bn: BatchNorm2d
    /// Fused (``reluPointwiseBatchNorm(_:weight:bnWeight:bnBias:runningMean:runningVar:training:momentum:eps:)``)
    /// for a cell's 1x1 stride-1 preprocessing.
    let execution: Execution
    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int, padding: Int,
                affine: Bool, rng: inout RandomGenerator) {
        conv = Conv2d(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: kernelSize,
                      stride: stride, padding: padding, bias: false, rng: &rng)
        bn = BatchNorm2d(featureCount: outputChannels, affine: affine)
        op = Sequential([ReLU(), conv, bn])
        execution = Execution(fusable: kernelSize == 1 && stride == 1 && padding == 0)
        super.init()
        registerModule("op", op)
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        switch execution {
        case .fused:
            return reluPointwiseBatchNorm(x, weight: conv.weight, bnWeight: bn.weight, bnBias: bn.bias,
                                          runningMean: bn.runningMean, runningVar: bn.runningVar,
                                          training: bn.isTraining, momentum: bn.momentum, eps: bn.eps)
        case .layered:
            return op(x)
        }
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

/// ReLU - depthwise kxk conv - 1x1 conv - BN, the layers of half a separable convolution: the
/// layers listed as ``layers`` (for the official module names) and held by type for the fused
/// ``reluSeparableBatchNorm(_:depthwise:pointwise:stride:padding:dilation:bnWeight:bnBias:runningMean:runningVar:training:momentum:eps:)``,
/// which keeps only its input and output (and, with an affine BN, its normalized output) for backward.
struct SeparableBlock {
    let depthwise, pointwise: Conv2d
    let batchNorm: BatchNorm2d

    /// C -> C depthwise (stride, padding, dilation), then C -> `outputChannels` 1x1, then BN.
    init(channels c: Int, outputChannels: Int, kernelSize: Int, stride: Int, padding: Int, dilation: Int,
         affine: Bool, rng: inout RandomGenerator) {
        depthwise = Conv2d(inputChannels: c, outputChannels: c, kernelSize: kernelSize, stride: stride,
                           padding: padding, dilation: dilation, groups: c, bias: false, rng: &rng)
        pointwise = Conv2d(inputChannels: c, outputChannels: outputChannels, kernelSize: 1, bias: false, rng: &rng)
        batchNorm = BatchNorm2d(featureCount: outputChannels, affine: affine)
    }

    /// ReLU and the three layers, in order.
    var layers: [Module] { [ReLU(), depthwise, pointwise, batchNorm] }

    /// The block on x (ReLU included) as one fused operation.
    func fused(_ x: Tensor) -> Tensor {
        reluSeparableBatchNorm(x, depthwise: depthwise.weight, pointwise: pointwise.weight, stride: depthwise.stride,
                               padding: depthwise.padding, dilation: depthwise.dilation,
                               bnWeight: batchNorm.weight, bnBias: batchNorm.bias,
                               runningMean: batchNorm.runningMean, runningVar: batchNorm.runningVar,
                               training: batchNorm.isTraining, momentum: batchNorm.momentum, eps: batchNorm.eps)
    }
}

/// Dilated separable convolution (official `DilConv`): ReLU - depthwise kxk dilation d - 1x1 - BN.
public final class DilConv: Module, ReLUFirst {
    let op: Sequential
    let block: SeparableBlock
    let execution: Execution
    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int, padding: Int, dilation: Int,
                affine: Bool, rng: inout RandomGenerator) {
        block = SeparableBlock(channels: inputChannels, outputChannels: outputChannels, kernelSize: kernelSize,
                               stride: stride, padding: padding, dilation: dilation, affine: affine, rng: &rng)
        op = Sequential(block.layers)
        execution = Execution()
        super.init()
        registerModule("op", op)
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        switch execution {
        case .fused: return block.fused(x)
        case .layered: return op(x)
        }
    }
    public func callAsFunction(activated: Tensor) -> Tensor { op.layers.dropFirst().reduce(activated) { $1($0) } }
    public var fusesReLU: Bool { execution == .fused }
}

/// Separable convolution (official `SepConv`), the dilated separable block applied twice:
/// ReLU - depthwise kxk (stride s) - 1x1 - BN - ReLU - depthwise kxk - 1x1 - BN.
public final class SepConv: Module, ReLUFirst {
    let op: Sequential
    let first, second: SeparableBlock
    let execution: Execution
    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int, padding: Int,
                affine: Bool, rng: inout RandomGenerator) {
        let c = inputChannels
        first = SeparableBlock(channels: c, outputChannels: c, kernelSize: kernelSize, stride: stride,
                               padding: padding, dilation: 1, affine: affine, rng: &rng)
        second = SeparableBlock(channels: c, outputChannels: outputChannels, kernelSize: kernelSize, stride: 1,
                                padding: padding, dilation: 1, affine: affine, rng: &rng)
        op = Sequential(first.layers + second.layers)
        execution = Execution()
        super.init()
        registerModule("op", op)
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        switch execution {
        case .fused: return second.fused(first.fused(x))
        case .layered: return op(x)
        }
    }
    public func callAsFunction(activated: Tensor) -> Tensor { op.layers.dropFirst().reduce(activated) { $1($0) } }
    public var fusesReLU: Bool { execution == .fused }
}

/// Halves the resolution without losing pixels (official `FactorizedReduce`):
/// ReLU, then concat(conv1x1 stride 2 on x, conv1x1 stride 2 on x[:, :, 1:, 1:]) along channels
/// (Cout / 2 each), then BN. (N, Cin, H, W) -> (N, Cout, H / 2, W / 2) for even H, W.
public final class FactorizedReduce: Module, ReLUFirst {
    let conv1, conv2: Conv2d
    let bn: BatchNorm2d
    /// Fused (``reluFactorizedReduceBatchNorm(_:weight1:weight2:bnWeight:bnBias:runningMean:runningVar:training:momentum:eps:)``)
    /// for even H and W.
    let execution: Execution
    public init(inputChannels: Int, outputChannels: Int, affine: Bool, rng: inout RandomGenerator) {
        precondition(outputChannels % 2 == 0, "FactorizedReduce needs an even number of output channels")
        conv1 = Conv2d(inputChannels: inputChannels, outputChannels: outputChannels / 2, kernelSize: 1, stride: 2,
                       bias: false, rng: &rng)
        conv2 = Conv2d(inputChannels: inputChannels, outputChannels: outputChannels / 2, kernelSize: 1, stride: 2,
                       bias: false, rng: &rng)
        bn = BatchNorm2d(featureCount: outputChannels, affine: affine)
        execution = Execution()
        super.init()
        registerModule("relu", ReLU())
        registerModule("conv_1", conv1)
        registerModule("conv_2", conv2)
        registerModule("bn", bn)
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        if execution == .fused, x.shape[2] % 2 == 0, x.shape[3] % 2 == 0 {
            return reluFactorizedReduceBatchNorm(x, weight1: conv1.weight, weight2: conv2.weight,
                                                 bnWeight: bn.weight, bnBias: bn.bias, runningMean: bn.runningMean, runningVar: bn.runningVar,
                                                 training: bn.isTraining, momentum: bn.momentum, eps: bn.eps)
        }
        return self(activated: relu(x))
    }
    public func callAsFunction(activated r: Tensor) -> Tensor {
        bn(concatChannels([conv1(r), conv2(cropTopLeft(r))]))
    }
    /// For even H and W it runs as one fused operation.
    public var fusesReLU: Bool { execution == .fused }
}

/// A pool followed by BN(affine: false), the search network's pooling operations (the official
/// MixedOp's `nn.Sequential(pool, nn.BatchNorm2d(C, affine=False))`, with the same module names
/// "0" and "1"), run as one operation by
/// ``pooledBatchNorm(_:runningMean:runningVar:training:momentum:eps:pool:poolBackward:)``, which keeps only
/// its input and output for backward.
public final class PoolBatchNorm: Module {
    /// The pool, by kind: its backward is chosen from it.
    enum Pool {
        case max(MaxPool2d)
        case average(AvgPool2d)
    }
    let pool: Pool
    let batchNorm: BatchNorm2d
    public convenience init(pool: MaxPool2d, batchNorm: BatchNorm2d) {
        self.init(.max(pool), pool, batchNorm)
    }
    public convenience init(pool: AvgPool2d, batchNorm: BatchNorm2d) {
        self.init(.average(pool), pool, batchNorm)
    }
    private init(_ kind: Pool, _ module: Module, _ batchNorm: BatchNorm2d) {
        pool = kind
        self.batchNorm = batchNorm
        super.init()
        registerModule("0", module)
        registerModule("1", batchNorm)
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        let forward: (Tensor) -> Tensor
        let backward: (Tensor, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
        switch pool {
        case .max(let p):
            forward = { p($0) }
            backward = { maxPool2dBackward($0, $1, into: $2, kernelSize: p.kernelSize, stride: p.stride, padding: p.padding) }
        case .average(let p):
            forward = { p($0) }
            backward = { avgPool2dBackward($0.shape, $1, into: $2, kernelSize: p.kernelSize, stride: p.stride,
                                           padding: p.padding, countIncludePad: p.countIncludePad) }
        }
        return pooledBatchNorm(x, runningMean: batchNorm.runningMean, runningVar: batchNorm.runningVar,
                               training: batchNorm.isTraining, momentum: batchNorm.momentum, eps: batchNorm.eps,
                               pool: forward, poolBackward: backward)
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
    func batchNorm() -> BatchNorm2d { BatchNorm2d(featureCount: c, affine: false) }
    switch primitive {
    case .none: return Zero(stride: stride)
    case .maxPool3x3:
        let pool = MaxPool2d(kernelSize: 3, stride: stride, padding: 1)
        return poolBatchNorm ? PoolBatchNorm(pool: pool, batchNorm: batchNorm()) : pool
    case .avgPool3x3:
        let pool = AvgPool2d(kernelSize: 3, stride: stride, padding: 1, countIncludePad: false)
        return poolBatchNorm ? PoolBatchNorm(pool: pool, batchNorm: batchNorm()) : pool
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
