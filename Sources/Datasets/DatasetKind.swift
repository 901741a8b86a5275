/// The image classification data sets the search can run on.
///
/// Shapes, class counts and normalization constants are those of docs/algorithm.md §7 (the values
/// used by the official DARTS code and pt.darts).
public enum DatasetKind: String, CaseIterable, Sendable {
    /// Fashion-MNIST (Xiao et al. 2017): 28x28x1, 10 classes, IDX files.
    case fashionMNIST = "fashion-mnist"
    /// MNIST (LeCun et al. 1998): 28x28x1, 10 classes, IDX files.
    case mnist
    /// CIFAR-10 (Krizhevsky 2009), binary version: 32x32x3, 10 classes.
    case cifar10
    /// The user's own images in torchvision's ImageFolder layout (DIR/train/CLASS/*.png|*.jpg,
    /// DIR/test/CLASS/...): shape, classes and normalization come from the files (`OwnData`).
    case folder
    /// The user's own NumPy arrays (train_images.npy, train_labels.npy, test_images.npy,
    /// test_labels.npy, or the same four in one .npz): shape, classes and normalization come
    /// from the files (`OwnData`).
    case numpy

    /// Whether the shape, classes and normalization come from the files rather than from the
    /// constants below (which then describe nothing and are not used).
    public var isOwnData: Bool { self == .folder || self == .numpy }

    /// Where the data is looked for when no folder is given.
    public var defaultFolder: String {
        switch self {
        case .fashionMNIST: return "/usr/share/datasets/fashion-mnist"
        case .mnist: return "/usr/share/datasets/mnist"
        case .cifar10: return "./data/cifar-10-batches-bin"
        case .folder, .numpy: return ""
        }
    }

    /// The name in messages: "Fashion-MNIST", "MNIST", "CIFAR-10".
    public var displayName: String {
        switch self {
        case .fashionMNIST: return "Fashion-MNIST"
        case .mnist: return "MNIST"
        case .cifar10: return "CIFAR-10"
        case .folder: return "an image folder"
        case .numpy: return "NumPy arrays"
        }
    }

    /// C.
    public var channels: Int { self == .cifar10 ? 3 : 1 }
    /// H, in pixels.
    public var height: Int { self == .cifar10 ? 32 : 28 }
    /// W, in pixels.
    public var width: Int { self == .cifar10 ? 32 : 28 }
    /// Number of classes.
    public var classCount: Int { 10 }

    /// Per-channel mean and std of the training set, on pixels scaled to [0, 1].
    public var normalization: Normalization {
        switch self {
        case .fashionMNIST:
            return Normalization(mean: [0.2860], std: [0.3530])
        case .mnist:
            return Normalization(mean: [0.1307], std: [0.3081])
        case .cifar10:
            return Normalization(mean: [0.49139968, 0.48215827, 0.44653124],
                                 std: [0.24703233, 0.24348505, 0.26158768])
        case .folder, .numpy:
            return .identity(channels: 1)   // measured from the training images instead (OwnData)
        }
    }

    /// What a user does to get the files, quoted in error messages.
    public var installHint: String {
        switch self {
        case .fashionMNIST:
            return "install the Debian package dataset-fashion-mnist or pass --data DIR"
        case .mnist:
            return "put the four MNIST IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                + "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in that folder or pass --data DIR"
        case .cifar10:
            return "extract the CIFAR-10 binary version (cifar-10-binary.tar.gz, folder cifar-10-batches-bin) "
                + "there or pass --data DIR"
        case .folder:
            return "--dataset folder needs --data DIR, the folder that holds train/CLASS/*.png|*.jpg and test/CLASS/..."
        case .numpy:
            return "--dataset numpy needs --data DIR (train_images.npy, train_labels.npy, test_images.npy, "
                + "test_labels.npy) or --data FILE.npz holding the same four arrays"
        }
    }
}
