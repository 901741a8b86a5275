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
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // MARK: System libraries (with inline C getters for OpenMPI's macro handles)
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg",
                       providers: [.apt(["libjpeg62-turbo-dev"])]),

        // MARK: Library layers, bottom up
        .target(name: "DartsTensor", dependencies: ["CBLAS"], swiftSettings: kernelSettings),
        .target(name: "NN", dependencies: ["DartsTensor"], swiftSettings: checkedSettings),
        .target(name: "Distributed", dependencies: ["CMPI", "DartsTensor"], swiftSettings: checkedSettings),
        .target(name: "DARTS", dependencies: ["NN", "Distributed"], swiftSettings: checkedSettings),
        .target(name: "Datasets", dependencies: [
            "DartsTensor", "CPNG", "CJPEG",
            .product(name: "CompressNIO", package: "compress-nio"),
            .product(name: "ZIPFoundation", package: "ZIPFoundation"),
        ], swiftSettings: checkedSettings),
        .target(name: "Training", dependencies: [
            "DARTS", "Datasets", "Distributed",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: checkedSettings),

        // A trained network written as safetensors or ONNX (its protobuf types generated once from
        // onnx.proto by protoc-gen-swift and committed: Sources/ModelExport/onnx.pb.swift).
        .target(name: "ModelExport", dependencies: [
            "Training", "DARTS",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ], swiftSettings: checkedSettings),

        // MARK: Command line
        .executableTarget(name: "darts-dist", dependencies: [
            "Training", "ModelExport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // MARK: Tests
        // Helpers the test targets share: numeric comparisons, temporary folders, sample data
        // and JSON files, module trees, a background process runner.
        .target(name: "TestSupport", dependencies: ["NN", "Datasets", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
                path: "Tests/TestSupport"),
        .testTarget(name: "DartsTensorTests", dependencies: ["DartsTensor", "TestSupport"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "TestSupport"]),
        .testTarget(name: "DARTSTests", dependencies: ["DARTS", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "TestSupport"]),
        .testTarget(name: "EndToEndTests", dependencies: ["Training", "TestSupport"]),
        .testTarget(name: "CommandLineTests", dependencies: ["darts-dist", "Training"]),
        .testTarget(name: "ModelExportTests", dependencies: ["ModelExport", "Training", "TestSupport",
                                                             .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
    ],
    swiftLanguageModes: [.v5]
)
