import DARTS
import Datasets

/// The checks that the search's, the retrain's and the bench's options share, each failing with a
/// sentence that names the flag and the fix, wrapped in the command's own error.
struct OptionCheck {
    let error: (String) -> Error

    init(_ error: @escaping (String) -> Error) { self.error = error }

    func require(_ ok: Bool, _ message: @autoclosure () -> String) throws {
        if !ok { throw error(message()) }
    }

    /// An optional count that must be positive when given (`--subset`, `--check-every`, ...).
    func positive(_ value: Int?, _ flag: String) throws {
        if let value { try require(value > 0, "\(flag) \(value) must be positive") }
    }

    /// `--dataset`: one of the known datasets.
    func dataset(_ name: String) throws -> DatasetKind {
        guard let kind = DatasetKind(rawValue: name) else {
            throw error("--dataset \(name) is not known; use one of: " + DatasetKind.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return kind
    }

    /// The largest `--layers` and `--channels` taken to the memory estimate: beyond them the
    /// network's own arithmetic (4 C channels after two reductions, a configuration per cell)
    /// would overflow or allocate before the estimate could refuse it. 2^20 of either needs
    /// petabytes, so the estimate refuses everything near the bound with its figure.
    static let largestNetworkDimension = 1 << 20
    /// The largest `--epochs`: steps x epochs stays far inside Int.
    static let largestEpochs = 1_000_000
    /// The largest `--image-size` and `--crop-padding`: a side of 4,096 pixels is 16.8 M pixels
    /// per channel and image.
    public static let largestImageSide = 4096

    /// `--layers` and `--channels` of a network with two reduction cells (`what`: "a search network").
    func network(layers: Int, channels: Int, what: String) throws {
        try require(layers >= 3, "--layers \(layers): \(what) needs at least 3 cells (two of them reduction cells)")
        try require(channels > 0 && channels % 2 == 0, "--channels \(channels) must be a positive even number (FactorizedReduce halves it)")
        let most = Self.largestNetworkDimension
        try require(layers <= most, "--layers \(layers) is more than \(most) cells, far beyond the memory of any machine; use fewer")
        try require(channels <= most, "--channels \(channels) is more than \(most), far beyond the memory of any machine; use fewer")
    }

    /// `--image-size S` when given: 4 to ``largestImageSide``, divisible by 4.
    func imageSize(_ side: Int?) throws {
        guard let side else { return }
        try require(side >= 4 && side % 4 == 0 && side <= Self.largestImageSide,
                    "--image-size \(side) must be a multiple of 4 from 4 to \(Self.largestImageSide) (the network halves the image twice)")
    }

    /// `--partial-channels K`: at least 1, and dividing the channels of every cell of `network`
    /// (PC-DARTS' edges work on C / K channels; a reduction cell's skip_connect on C / K halves them).
    func partialChannels(_ k: Int, network: SearchConfiguration) throws {
        try require(k >= 1, "--partial-channels \(k) must be at least 1 (1: every channel, plain DARTS)")
        for (cell, c) in network.cellChannels.enumerated() where c % k != 0 {
            throw error("--partial-channels \(k) does not divide the \(c) channels of cell \(cell) (--channels \(network.channels)); "
                        + "use a K that divides --channels")
        }
    }

    /// The global batch, split over `worldSize` ranks x `accumulate` micro-batches of at least 2
    /// images (batch norm needs 2). The products are formed without overflow.
    func batch(batchSize: Int, accumulate: Int, worldSize: Int) throws {
        try require(batchSize > 0, "--batch-size \(batchSize) must be positive")
        try require(accumulate >= 1, "--accumulate \(accumulate) must be at least 1")
        try require(batchSize % worldSize == 0,
                    "--batch-size \(batchSize) (global) is not divisible by the world size \(worldSize); use a multiple of \(worldSize)")
        let (parts, overflow) = worldSize.multipliedReportingOverflow(by: accumulate)
        try require(!overflow && parts <= batchSize,
                    "--accumulate \(accumulate) on \(worldSize) rank(s) splits the batch of \(batchSize) into more micro-batches "
                    + "than it has images; lower --accumulate")
        try require(batchSize % parts == 0,
                    "--batch-size \(batchSize) is not divisible by world size x --accumulate = \(parts); use a multiple of \(parts)")
        try require(batchSize / parts >= 2,
                    "--batch-size \(batchSize) gives \(batchSize / parts) image(s) per micro-batch; "
                    + "batch norm needs at least 2 (raise --batch-size or lower --accumulate)")
    }

    /// Epochs and the SGD settings of the weights: learning rate cosine-annealed to a minimum,
    /// momentum, weight decay and gradient clipping, all finite.
    func schedule(epochs: Int, learningRate: Float, learningRateMin: Float, momentum: Float, weightDecay: Float,
                  gradClip: Float) throws {
        try require(epochs > 0, "--epochs \(epochs) must be positive")
        try require(epochs <= Self.largestEpochs, "--epochs \(epochs) is more than \(Self.largestEpochs); use fewer")
        try require(learningRate > 0 && learningRate.isFinite, "--lr \(learningRate) must be positive")
        try require(learningRateMin >= 0 && learningRateMin <= learningRate, "--lr-min \(learningRateMin) must be in [0, --lr]")
        try require(momentum >= 0 && momentum < 1, "--momentum \(momentum) must be in [0, 1)")
        try require(weightDecay >= 0 && weightDecay.isFinite, "--weight-decay \(weightDecay) must not be negative")
        try require(gradClip > 0 && gradClip.isFinite, "--grad-clip \(gradClip) must be positive")
    }
}
