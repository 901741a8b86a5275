import DartsTensor

/// The base of every layer and network, as PyTorch's `nn.Module`: ordered, named parameters and
/// buffers, and named children. Names join with dots (`cells.0._ops.3.op.1.weight`), and
/// ``namedParameters(prefix:)`` lists a module's own parameters before its children's, in
/// registration order, exactly as PyTorch's `named_parameters()` does; every rank builds the same
/// order, which the flat arenas rely on.
open class Module {
    public private(set) var localParameters: [(name: String, tensor: Tensor)] = []
    public private(set) var localBuffers: [(name: String, tensor: Tensor)] = []
    public private(set) var children: [(name: String, module: Module)] = []
    /// Training mode (batch statistics in batch norm) or evaluation mode (running statistics).
    public private(set) var isTraining = true

    public init() {}

    /// Registers a learnable tensor under `name`.
    public func registerParameter(_ name: String, _ tensor: Tensor) {
        tensor.requiresGrad = true
        localParameters.append((name, tensor))
    }

    /// Registers a state tensor (no gradient) under `name`, e.g. batch-norm running statistics.
    public func registerBuffer(_ name: String, _ tensor: Tensor) {
        localBuffers.append((name, tensor))
    }

    /// Registers `module` as a child named `name` and returns it.
    @discardableResult
    public func registerModule<M: Module>(_ name: String, _ module: M) -> M {
        children.append((name, module))
        return module
    }

    /// Every parameter of this module and its descendants with its dotted name, PyTorch's order.
    public func namedParameters(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        var result = localParameters.map { (prefix + $0.name, $0.tensor) }
        for (name, child) in children { result += child.namedParameters(prefix: prefix + name + ".") }
        return result
    }

    /// Every buffer of this module and its descendants with its dotted name, PyTorch's order.
    public func namedBuffers(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        var result = localBuffers.map { (prefix + $0.name, $0.tensor) }
        for (name, child) in children { result += child.namedBuffers(prefix: prefix + name + ".") }
        return result
    }

    /// Sets training mode on this module and all its descendants.
    public func train(_ on: Bool = true) {
        isTraining = on
        for (_, child) in children { child.train(on) }
    }

    /// Evaluation mode (`train(false)`).
    public func eval() { train(false) }

    /// The forward pass of a module with one input. Modules with other signatures do not override it.
    open func callAsFunction(_ x: Tensor) -> Tensor {
        preconditionFailure("\(type(of: self)) does not take a single input")
    }
}

/// Modules applied one after the other; children are named "0", "1", ... as in `nn.Sequential`.
public final class Sequential: Module {
    public let layers: [Module]

    public init(_ layers: [Module]) {
        self.layers = layers
        super.init()
        for (i, layer) in layers.enumerated() { registerModule(String(i), layer) }
    }

    public override func callAsFunction(_ x: Tensor) -> Tensor {
        layers.reduce(x) { $1($0) }
    }
}

/// A list of modules named "0", "1", ... (PyTorch `nn.ModuleList`); it has no forward of its own.
public final class ModuleList<Element: Module>: Module {
    public let modules: [Element]

    public init(_ modules: [Element]) {
        self.modules = modules
        super.init()
        for (i, m) in modules.enumerated() { registerModule(String(i), m) }
    }

    public subscript(i: Int) -> Element { modules[i] }
    public var count: Int { modules.count }
}
