// swift-tools-version:6.0
import PackageDescription

// The kernels (DartsTensor) are plain loops over raw buffers: in release builds they are compiled
// without overflow and bounds checks (-Ounchecked). Every other module keeps its checks (-O) and is
// compiled for the same CPU. Debug builds keep every check.
let kernelSettings: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo", "-target-cpu", "haswell"], .when(configuration: .release)),
]
let checkedSettings: [SwiftSetting] = [
    .unsafeFlags(["-wmo", "-target-cpu", "haswell"], .when(configuration: .release)),
]

let package = Package(
    name: "darts-dist",
    products: [
        .executable(name: "darts-dist", targets: ["darts-dist"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // MARK: System libraries (with inline C getters for OpenMPI's macro handles; zlib for gzip data files)
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),

        // MARK: Library layers, bottom up
        .target(name: "DartsTensor", dependencies: ["CBLAS"], swiftSettings: kernelSettings),
        .target(name: "NN", dependencies: ["DartsTensor"], swiftSettings: checkedSettings),
        .target(name: "Distributed", dependencies: ["CMPI", "DartsTensor"], swiftSettings: checkedSettings),
        .target(name: "DARTS", dependencies: ["NN", "Distributed"], swiftSettings: checkedSettings),
        .target(name: "Datasets", dependencies: ["DartsTensor", "CZlib"], swiftSettings: checkedSettings),
        .target(name: "Training", dependencies: [
            "DARTS", "Datasets", "Distributed",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: checkedSettings),

        // MARK: Command line
        .executableTarget(name: "darts-dist", dependencies: [
            "Training",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // MARK: Tests
        // Helpers the test targets share: numeric comparisons, temporary folders, sample data
        // and JSON files, module trees, a background process runner.
        .target(name: "TestSupport", dependencies: ["NN"], path: "Tests/TestSupport"),
        .testTarget(name: "DartsTensorTests", dependencies: ["DartsTensor", "TestSupport"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "TestSupport"]),
        .testTarget(name: "DARTSTests", dependencies: ["DARTS", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "CZlib", "TestSupport"]),
        .testTarget(name: "EndToEndTests", dependencies: ["Training", "TestSupport"]),
        .testTarget(name: "CommandLineTests", dependencies: ["darts-dist", "Training"]),
    ],
    swiftLanguageModes: [.v5]
)
