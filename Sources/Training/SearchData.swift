import DartsTensor
import Datasets
import Foundation
import InputText

/// The data of a search on one rank: the training images (every rank reads the files itself),
/// their split into a half that trains the weights and a half that trains the alphas, the
/// samplers of both halves and the augmentation.
///
/// Which images a step uses and how each is augmented are pure functions of (seed, epoch, step)
/// and (seed, epoch, stream, image index), so a position (epoch, step) is enough to continue the
/// data stream exactly after a resume.
struct SearchData {
    let kind: DatasetKind
    /// The folder the files were read from.
    let folder: String
    let dataset: ImageDataset
    let trainIndices: [Int]
    let valIndices: [Int]
    let trainSampler: DistributedSampler
    let valSampler: DistributedSampler
    let augmentation: Augmentation
    let seed: UInt64
    /// The checksum of `dataset`'s images and labels (``dataChecksum(_:)``), compared across ranks
    /// at start and recorded in every checkpoint.
    let checksum: UInt64

    /// Global steps per epoch: the batches of the smaller half.
    var stepsPerEpoch: Int { min(trainSampler.batchCount, valSampler.batchCount) }

    /// The name of each class, indexed by label.
    var classNames: [String] { dataset.classNames ?? kind.classNames }

    /// Loads and splits the data for rank `rank` of `worldSize`.
    /// - Throws: `DatasetError` (missing or damaged files) or ``SearchError/invalidOption(_:)``
    ///   (a subset or batch size the data cannot give), with a sentence naming the input.
    init(options: SearchOptions, kind: DatasetKind, rank: Int, worldSize: Int) throws {
        self.kind = kind
        folder = options.data ?? kind.defaultFolder
        seed = options.seed
        var all = try loadDataset(kind, folder: folder, split: .train, imageSize: options.imageSize)
        if let subset = options.subset {
            guard subset <= all.count else {
                throw SearchError.invalidOption("--subset \(subset) is larger than the \(all.count) training images")
            }
            all = all.prefix(subset)
        }
        dataset = all
        checksum = dataChecksum(all)
        (trainIndices, valIndices) = try splitTrainVal(count: all.count, trainPortion: options.trainPortion)
        let smaller = min(trainIndices.count, valIndices.count)
        guard options.batchSize <= smaller else {
            throw SearchError.invalidOption("--batch-size \(options.batchSize) is larger than the train or val half "
                + "(\(trainIndices.count) and \(valIndices.count) images); lower --batch-size or raise --subset")
        }
        trainSampler = try DistributedSampler(count: trainIndices.count, globalBatchSize: options.batchSize,
                                              rank: rank, worldSize: worldSize, seed: options.seed)
        valSampler = try DistributedSampler(count: valIndices.count, globalBatchSize: options.batchSize,
                                            rank: rank, worldSize: worldSize, seed: options.seed &+ 0x5EED)
        augmentation = Augmentation.standard(kind)
    }

    /// Why these are not the data the checkpoint's search read, or nil: "give 100 train / 100 val
    /// images, but the search had 50 / 50", or other images and labels of the same counts (when
    /// the checkpoint records their checksum; it covers the decoded float32 pixels, so a
    /// darts-dist that decodes or normalizes them differently counts as other data).
    func mismatch(with manifest: Checkpoint.Manifest) -> String? {
        if trainIndices.count != manifest.trainImages || valIndices.count != manifest.valImages {
            return "give \(trainIndices.count) train / \(valIndices.count) val images, but the search had "
                + "\(manifest.trainImages) / \(manifest.valImages)"
        }
        if let recorded = manifest.dataChecksum, recorded != hexChecksum(checksum) {
            return "hold other images or labels than the search read, as many of them (checksum \(hexChecksum(checksum)), "
                + "the search's \(InputText.escaped(recorded)); \(dataChecksumCaveat))"
        }
        return nil
    }

    /// Gathers one shard into the batch tensors. Each image's augmentation draws from a generator
    /// keyed by (seed, epoch, stream, image index), so it does not depend on which rank holds it.
    func fill(_ indices: [Int], _ images: Tensor, _ labels: inout [Int32], _ augmentation: Augmentation,
              _ epoch: Int, stream: UInt64) {
        let start = Profiler.now()
        defer { Profiler.add(Profiler.now() - start, to: .data) }
        let imageSize = dataset.imageSize
        labels.withUnsafeMutableBufferPointer { labelBuffer in
            for (row, index) in indices.enumerated() {
                var rng = RandomGenerator(seed: seed ^ (UInt64(epoch) << 40) ^ (stream << 60) ^ UInt64(index) &* 0x9E37_79B9)
                fillBatch(dataset, indices: [index], images: images.data + row * imageSize,
                          labels: labelBuffer.baseAddress! + row, augmentation: augmentation, rng: &rng)
            }
        }
    }
}
