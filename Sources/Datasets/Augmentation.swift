/// The random transforms applied to training images when a batch is gathered, in the order of
/// the official DARTS CIFAR-10 pipeline (`utils._data_transforms_cifar10`):
///
///     RandomCrop(H, padding: p) - RandomHorizontalFlip(0.5) - ToTensor - Normalize - Cutout(L)
///
/// A zero value switches a transform off.
public struct Augmentation: Sendable, Equatable, CustomStringConvertible {
    /// p, in pixels: the image is zero-padded by p on every side and an H x W window is cut
    /// at a uniform offset in 0...2p on each axis (torchvision `RandomCrop(padding:)`).
    public var randomCropPadding: Int
    /// Whether the image is mirrored left-right with probability 0.5.
    public var horizontalFlip: Bool
    /// L, in pixels: a square of side L (2 * (L / 2) for odd L) centred on a uniform pixel is
    /// set to 0 after normalization, clipped at the borders (DeVries and Taylor 2017; official
    /// DARTS `utils.Cutout`).
    public var cutoutLength: Int

    public init(randomCropPadding: Int = 0, horizontalFlip: Bool = false, cutoutLength: Int = 0) {
        precondition(randomCropPadding >= 0 && cutoutLength >= 0, "padding and cutout length must be non-negative")
        self.randomCropPadding = randomCropPadding
        self.horizontalFlip = horizontalFlip
        self.cutoutLength = cutoutLength
    }

    /// No transform: batches are plain copies.
    public static let none = Augmentation()

    /// The search-time augmentation used here for each data set: random crop with padding 4
    /// and horizontal flip for CIFAR-10 (official DARTS, pt.darts) and Fashion-MNIST (the
    /// common simpler choice, docs/algorithm.md §7); random crop with padding 4 alone for MNIST,
    /// whose digits change meaning when mirrored. Own data (folder, numpy) gets CIFAR-10's.
    public static func standard(_ kind: DatasetKind) -> Augmentation {
        switch kind {
        case .cifar10, .fashionMNIST, .folder, .numpy: return Augmentation(randomCropPadding: 4, horizontalFlip: true)
        case .mnist: return Augmentation(randomCropPadding: 4)
        }
    }

    /// A name for run configs, e.g. "random-crop(padding 4)+horizontal-flip".
    public var description: String {
        var parts: [String] = []
        if randomCropPadding > 0 { parts.append("random-crop(padding \(randomCropPadding))") }
        if horizontalFlip { parts.append("horizontal-flip") }
        if cutoutLength > 0 { parts.append("cutout(\(cutoutLength))") }
        return parts.isEmpty ? "none" : parts.joined(separator: "+")
    }
}
