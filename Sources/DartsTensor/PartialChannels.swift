// The tensor operations of partial-channel connections and edge normalization (PC-DARTS, Xu et al.,
// "PC-DARTS: Partial Channel Connections for Memory-Efficient Architecture Search", ICLR 2020;
// docs/algorithm.md §12).

/// The channels `channels` of x: x[:, lower..<upper] as a tensor of its own, (N, upper - lower, H, W).
public func channelSlice(_ x: Tensor, channels: Range<Int>) -> Tensor {
    let (n, c) = (x.shape[0], x.shape[1])
    precondition(x.shape.count == 4 && channels.lowerBound >= 0 && channels.upperBound <= c && !channels.isEmpty,
                 "channelSlice: channels \(channels) of \(x.shape)")
    let plane = x.shape[2] * x.shape[3]
    let width = channels.count
    let out = Tensor.result(shape: [n, width, x.shape[2], x.shape[3]], inputs: [x]) { out in
        guard let dy = out.grad else { return }
        let dx = x.ensureGrad()
        for img in 0..<n {
            saxpy(width * plane, 1, dy + img * width * plane, dx + (img * c + channels.lowerBound) * plane)
        }
    }
    for img in 0..<n {
        (out.data + img * width * plane).update(from: x.data + (img * c + channels.lowerBound) * plane, count: width * plane)
    }
    return out
}

/// The output channel of channel `i` of (N, C, H, W) after the official PC-DARTS `channel_shuffle`
/// with `groups` groups: view (N, groups, C / groups, H, W), swap axes 1 and 2, flatten, so input
/// channel g * (C / groups) + c lands at c * groups + g.
@inline(__always)
public func shuffledChannel(_ i: Int, channels: Int, groups: Int) -> Int {
    let perGroup = channels / groups
    return (i % perGroup) * groups + i / perGroup
}

/// The output of a partial-channel mixed operation (PC-DARTS' MixedOp): the operations' result y
/// on the first C / K channels of x, concatenated with the other channels of x (the bypass,
/// max-pooled 2x2 with stride 2 when the edge reduces, as the official `nn.MaxPool2d(2, 2)`), y
/// first, then channel-shuffled with K groups (``shuffledChannel(_:channels:groups:)``), in one pass.
///
/// - Parameters:
///   - y: (N, C / K, H', W'), the weighted sum of the operations on x[:, :C / K].
///   - x: (N, C, H, W), the edge's whole input; H' = H / 2 when `pooled`, else H.
///   - groups: K.
///   - pooled: whether the bypass is max-pooled (stride-2 edges).
/// - Returns: (N, C, H', W').
/// The max pooling's gradient goes to the first maximum of each window in row-major order, as
/// PyTorch's CPU kernel routes it.
public func partialChannelMerge(_ y: Tensor, bypassFrom x: Tensor, groups k: Int, pooled: Bool) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let part = c / k
    let (oh, ow) = pooled ? (h / 2, w / 2) : (h, w)
    precondition(c % k == 0 && y.shape == [n, part, oh, ow], "partialChannelMerge: y \(y.shape), x \(x.shape), groups \(k)")
    precondition(!pooled || (h % 2 == 0 && w % 2 == 0), "partialChannelMerge: pooling needs an even size, got \(x.shape)")
    let (plane, outPlane) = (h * w, oh * ow)
    /// The flat offset in x's plane of the first maximum of window (i, j).
    @inline(__always) func argmax(_ p: UnsafePointer<Float>, _ i: Int, _ j: Int) -> Int {
        let first = 2 * i * w + 2 * j
        var best = first
        if p[first + 1] > p[best] { best = first + 1 }
        if p[first + w] > p[best] { best = first + w }
        if p[first + w + 1] > p[best] { best = first + w + 1 }
        return best
    }
    let out = Tensor.result(shape: [n, c, oh, ow], inputs: [y, x]) { out in
        guard let dy = out.grad else { return }
        let dyPart = y.requiresGrad ? y.ensureGrad() : nil
        let dx = x.requiresGrad ? x.ensureGrad() : nil
        for img in 0..<n {
            for i in 0..<c {
                let g = dy + (img * c + shuffledChannel(i, channels: c, groups: k)) * outPlane
                if i < part {
                    if let dyPart { saxpy(outPlane, 1, g, dyPart + (img * part + i) * outPlane) }
                } else if let dx {
                    let d = dx + (img * c + i) * plane
                    if pooled {
                        let src = UnsafePointer(x.data + (img * c + i) * plane)
                        for r in 0..<oh { for s in 0..<ow { d[argmax(src, r, s)] += g[r * ow + s] } }
                    } else {
                        saxpy(plane, 1, g, d)
                    }
                }
            }
        }
    }
    for img in 0..<n {
        for i in 0..<c {
            let o = out.data + (img * c + shuffledChannel(i, channels: c, groups: k)) * outPlane
            if i < part {
                o.update(from: y.data + (img * part + i) * outPlane, count: outPlane)
            } else if pooled {
                let src = UnsafePointer(x.data + (img * c + i) * plane)
                for r in 0..<oh { for s in 0..<ow { o[r * ow + s] = src[argmax(src, r, s)] } }
            } else {
                o.update(from: x.data + (img * c + i) * plane, count: plane)
            }
        }
    }
    return out
}

/// Softmax over consecutive segments of a vector: y[s] = softmax(x[s]) for each segment s of the
/// lengths given, in order (PC-DARTS' edge normalization: one softmax over each node's incoming
/// edges). Backward, segment by segment: dx = y * (dy - sum dy y).
public func segmentSoftmax(_ x: Tensor, segments: [Int]) -> Tensor {
    precondition(segments.reduce(0, +) == x.count && segments.allSatisfy { $0 > 0 },
                 "segmentSoftmax: segments \(segments) for \(x.count) values")
    let starts = segments.indices.map { segments[..<$0].reduce(0, +) }
    let out = Tensor.result(shape: x.shape, inputs: [x]) { out in
        guard let dy = out.grad else { return }
        let dx = x.ensureGrad()
        for (start, length) in zip(starts, segments) {
            softmaxBackward(out.data + start, dy + start, into: dx + start, count: length)
        }
    }
    for (start, length) in zip(starts, segments) { softmaxForward(x.data + start, into: out.data + start, count: length) }
    return out
}
