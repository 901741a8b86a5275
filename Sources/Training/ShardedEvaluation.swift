import DartsTensor
import Distributed

/// The sums of an evaluation over every rank's share: loss x images, top-1 and top-5 hits,
/// images, images whose logits are not all finite, and per class the top-1 hits and the images.
struct EvaluationSums {
    var loss = 0.0, top1 = 0.0, top5 = 0.0, images = 0.0
    /// Images for which the network produced a NaN or an infinity among the logits: never counted
    /// correct (``labelRanks(_:labels:)`` ranks them last).
    var nonFinite = 0.0
    var classHits: [Double]
    var classImages: [Double]

    init(classes: Int) {
        classHits = [Double](repeating: 0, count: classes)
        classImages = classHits
    }

    /// Adds one chunk: its mean loss, logits (N, K) and labels (N).
    mutating func add(loss meanLoss: Float, logits: Tensor, labels: [Int32]) {
        let n = Double(labels.count)
        loss += Double(meanLoss) * n
        images += n
        for (rank, label) in zip(labelRanks(logits, labels: labels), labels) {
            if rank == Int.max { nonFinite += 1 }
            let hit: Double = rank == 0 ? 1 : 0
            top1 += hit
            top5 += rank < 5 ? 1 : 0
            classHits[Int(label)] += hit
            classImages[Int(label)] += 1
        }
    }

    /// The sums over all ranks (every rank must call it).
    func reduced(over communicator: Communicator) -> EvaluationSums {
        var flat = [loss, top1, top5, images, nonFinite] + classHits + classImages
        communicator.allreduceSum(&flat)
        var sums = self
        (sums.loss, sums.top1, sums.top5, sums.images, sums.nonFinite) = (flat[0], flat[1], flat[2], flat[3], flat[4])
        sums.classHits = Array(flat[5..<(5 + classHits.count)])
        sums.classImages = Array(flat[(5 + classHits.count)...])
        return sums
    }

    /// Mean loss and top-1 / top-5 fractions (0 when no image was measured).
    var meanLoss: Double { loss / max(images, 1) }
    var top1Accuracy: Double { top1 / max(images, 1) }
    var top5Accuracy: Double { top5 / max(images, 1) }

    /// "the network produced non-finite outputs (NaN or infinity) for 3 of 64 images", or nil when
    /// every logit and the loss are finite.
    /// - Parameter network: how the sentence names the network and the images ("the search network", "validation images").
    func nonFiniteOutputs(_ network: String, images what: String) -> String? {
        guard nonFinite > 0 || !loss.isFinite else { return nil }
        return nonFinite > 0
            ? "\(network) produced non-finite outputs (NaN or infinity) for \(Int(nonFinite)) of \(Int(images)) \(what)"
            : "\(network) produced a non-finite loss (\(meanLoss)) on the \(Int(images)) \(what)"
    }
}

/// Measures `count` images in evaluation chunks of `chunk`: rank r of P takes chunks r, r + P,
/// r + 2P, ... and the sums are reduced over the ranks, so the result equals one process
/// measuring alone. Cached tensors are released afterwards (evaluation batch sizes are not the
/// training step's).
/// - Parameter forward: the logits (N, K), labels and mean loss of the images in a range.
func evaluateSharded(count: Int, chunk: Int, classes: Int, communicator: Communicator,
                     forward: (Range<Int>) -> (logits: Tensor, labels: [Int32], loss: Float)) -> EvaluationSums {
    precondition(chunk > 0)
    var sums = EvaluationSums(classes: classes)
    var start = communicator.rank * chunk
    while start < count {
        let result = forward(start..<min(start + chunk, count))
        sums.add(loss: result.loss, logits: result.logits, labels: result.labels)
        start += chunk * communicator.worldSize
    }
    TensorMemoryPool.releaseCached()
    return sums.reduced(over: communicator)
}
