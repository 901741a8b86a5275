/// The central difference of a gradient along a direction, DARTS' Hessian-vector product
/// (paper eq. 8; official cnn/architect.py `_hessian_vector_product`):
///
///   d/dw [grad_alpha L(w, alpha)] . v  ~=  (grad_alpha L(w + r v) - grad_alpha L(w - r v)) / (2 r)
///
/// with an error O(r^2). Both points are taken around `original` (the unperturbed weights), and
/// `weights` holds `original` again, bit for bit, when it returns.
///
/// - Parameters:
///   - weights: the live weight buffer that `gradient` reads.
///   - original: the unperturbed weights (weights.count values).
///   - direction: v (weights.count values).
///   - step: r > 0.
///   - gradient: evaluates the gradient (any length) at the current `weights`.
/// - Returns: the difference quotient, one value per gradient entry.
public func centralDifference(weights: UnsafeMutableBufferPointer<Float>, original: [Float], direction v: [Float],
                              step r: Float, gradient: () -> [Float]) -> [Float] {
    centralDifferenceTerms(weights: weights, original: original, direction: v, step: r, gradient: gradient).quotient
}

/// ``centralDifference(weights:original:direction:step:gradient:)`` with both gradients it took:
/// `plus` at original + r v, `minus` at original - r v, and `quotient` = (plus - minus) / (2 r).
func centralDifferenceTerms(weights: UnsafeMutableBufferPointer<Float>, original: [Float], direction v: [Float],
                            step r: Float, gradient: () -> [Float]) -> (plus: [Float], minus: [Float], quotient: [Float]) {
    precondition(original.count == weights.count && v.count == weights.count)
    for i in 0..<weights.count { weights[i] = original[i] + r * v[i] }
    let plus = gradient()
    for i in 0..<weights.count { weights[i] = original[i] - r * v[i] }
    let minus = gradient()
    _ = weights.update(from: original)
    return (plus, minus, zip(plus, minus).map { ($0 - $1) / (2 * r) })
}
