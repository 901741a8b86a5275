import DartsTensor

/// Stochastic gradient descent with momentum and coupled weight decay, as PyTorch's `optim.SGD`
/// (dampening 0, no Nesterov) on a flat arena:
///   d = g + lambda w;  m = mu m + d (m = d on the first step);  w = w - lr m.
public final class SGD {
    public let arena: ParameterArena
    public var learningRate: Float
    public let momentum: Float
    public let weightDecay: Float
    /// The momentum buffer m, one float per arena value.
    public var momentumBuffer: [Float]
    /// Whether the momentum buffer holds a value yet (PyTorch starts it at the first gradient).
    public var hasMomentum = false

    public init(arena: ParameterArena, learningRate: Float, momentum: Float = 0.9, weightDecay: Float = 0) {
        self.arena = arena
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        momentumBuffer = [Float](repeating: 0, count: arena.count)
    }

    /// One update from the arena's gradients.
    public func step() {
        guard let g = arena.grads else { preconditionFailure("SGD on an arena without gradients") }
        let w = arena.values
        let (mu, wd, lr) = (momentum, weightDecay, learningRate)
        let first = !hasMomentum
        momentumBuffer.withUnsafeMutableBufferPointer { m in
            for i in 0..<arena.count {
                let d = g[i] + wd * w[i]
                let v = first ? d : mu * m[i] + d
                m[i] = v
                w[i] -= lr * v
            }
        }
        hasMomentum = momentum != 0
    }
}

/// Adam with coupled (L2) weight decay, as PyTorch's `optim.Adam` (Kingma and Ba 2015, Algorithm 1):
///   g = g + lambda w;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
///   w = w - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
public final class Adam {
    public let arena: ParameterArena
    public var learningRate: Float
    public let beta1, beta2, eps, weightDecay: Float
    /// First and second moment estimates, and the number of steps taken.
    public var firstMoment, secondMoment: [Float]
    public var stepCount = 0

    public init(arena: ParameterArena, learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999,
                eps: Float = 1e-8, weightDecay: Float = 0) {
        self.arena = arena
        self.learningRate = learningRate
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
        firstMoment = [Float](repeating: 0, count: arena.count)
        secondMoment = [Float](repeating: 0, count: arena.count)
    }

    /// One update from the arena's gradients.
    public func step() {
        guard let g = arena.grads else { preconditionFailure("Adam on an arena without gradients") }
        stepCount += 1
        let w = arena.values
        let bias1 = 1 - Float(pow(Double(beta1), Double(stepCount)))
        let bias2 = 1 - Float(pow(Double(beta2), Double(stepCount)))
        let stepSize = learningRate / bias1
        let sqrtBias2 = bias2.squareRoot()
        let (b1, b2, e, wd) = (beta1, beta2, eps, weightDecay)
        firstMoment.withUnsafeMutableBufferPointer { m in
            secondMoment.withUnsafeMutableBufferPointer { v in
                for i in 0..<arena.count {
                    let grad = g[i] + wd * w[i]
                    m[i] = b1 * m[i] + (1 - b1) * grad
                    v[i] = b2 * v[i] + (1 - b2) * grad * grad
                    w[i] -= stepSize * m[i] / (v[i].squareRoot() / sqrtBias2 + e)
                }
            }
        }
    }
}

/// Scales the arena's gradients so that their global L2 norm is at most `maxNorm`, as PyTorch's
/// `clip_grad_norm_`: coefficient maxNorm / (norm + 1e-6), applied when below 1.
/// - Returns: the norm before clipping.
@discardableResult
public func clipGradientNorm(_ arena: ParameterArena, maxNorm: Float) -> Float {
    guard let g = arena.grads else { return 0 }
    let norm = Float(VectorMath.norm(arena.count, g.baseAddress!))
    let coefficient = maxNorm / (norm + 1e-6)
    if coefficient < 1 { VectorMath.scale(arena.count, coefficient, g.baseAddress!) }
    return norm
}

/// Cosine annealing of the learning rate per epoch (Loshchilov and Hutter 2017; docs/algorithm.md §4):
/// lr_e = lrMin + (lrMax - lrMin) (1 + cos(pi e / E)) / 2 for epoch e = 0..E-1.
public struct CosineAnnealingLR: Sendable {
    public let maxLearningRate, minLearningRate: Float
    public let epochs: Int

    public init(maxLearningRate: Float, minLearningRate: Float, epochs: Int) {
        self.maxLearningRate = maxLearningRate
        self.minLearningRate = minLearningRate
        self.epochs = epochs
    }

    public func learningRate(epoch: Int) -> Float {
        let c = (1 + cos(Double.pi * Double(epoch) / Double(epochs))) / 2
        return minLearningRate + (maxLearningRate - minLearningRate) * Float(c)
    }
}

#if canImport(Glibc)
import Glibc
#endif
