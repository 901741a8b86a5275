import NN

/// The module and every module below it, depth first, in registration order.
public func descendants(_ module: Module) -> [Module] {
    [module] + module.children.flatMap { descendants($0.module) }
}
