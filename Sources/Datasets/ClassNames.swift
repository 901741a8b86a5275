extension DatasetKind {
    /// The name of each class, indexed by label (the data sets' own documentation: Fashion-MNIST's
    /// README, CIFAR-10's batches.meta.txt; MNIST's digits).
    public var classNames: [String] {
        switch self {
        case .fashionMNIST:
            return ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
        case .mnist:
            return (0..<10).map(String.init)
        case .cifar10:
            return ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        case .folder, .numpy:
            return []   // the loaded ImageDataset's classNames
        }
    }
}
