// swift-tools-version:6.0
import Foundation
import PackageDescription

// The x86-64 level release builds are compiled for: DARTS_DIST_CPU=x86-64-v2, x86-64-v3 (AVX2, FMA),
// x86-64-v4 (AVX-512 F/BW/CD/DQ/VL), or host (the default: the build machine's own level, read from
// /proc/cpuinfo). A binary started on a CPU below its level stops at start-up with a message saying
// which build to make (Sources/CPUCheck). Builds on other architectures get no CPU flag. README,
// "Clusters whose nodes differ".
let targetLevel: String? = {
    #if arch(x86_64)
    let requested = ProcessInfo.processInfo.environment["DARTS_DIST_CPU"] ?? "host"
    if requested != "host" {
        guard ["x86-64-v2", "x86-64-v3", "x86-64-v4"].contains(requested) else {
            fatalError("DARTS_DIST_CPU=\(requested): give x86-64-v2, x86-64-v3 (AVX2), x86-64-v4 (AVX-512) or host")
        }
        return requested
    }
    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let flags = Set((cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") } ?? "").split(separator: " ").map(String.init))
    if ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"].allSatisfy(flags.contains) { return "x86-64-v4" }
    if ["avx2", "fma", "bmi2", "movbe"].allSatisfy(flags.contains) { return "x86-64-v3" }
    return "x86-64-v2"
    #else
    return nil
    #endif
}()
// Swift's -target-cpu takes CPU names, not psABI levels: each level's oldest CPU that has all of it.
let levelCPU = ["x86-64-v2": "nehalem", "x86-64-v3": "haswell", "x86-64-v4": "skylake-avx512"]
let cpuFlags = targetLevel.map { ["-target-cpu", levelCPU[$0] ?? $0] } ?? []

// The kernels (DartsTensor) are plain loops over raw buffers: in release builds they are compiled
// without overflow and bounds checks (-Ounchecked). Every other module keeps its checks (-O) and is
// compiled for the same CPU; the checks cost nothing measurable (docs/performance.md, "Checks kept
// outside the kernels"). Debug builds keep every check.
let kernelSettings: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo"] + cpuFlags, .when(configuration: .release)),
]
let checkedSettings: [SwiftSetting] = [
    .unsafeFlags(["-wmo"] + cpuFlags, .when(configuration: .release)),
]
// The start-up check itself is compiled for the baseline, so that it runs on any x86-64 CPU.
let cpuCheckSettings: [CSetting] = [
    .define("DARTS_DIST_CPU_LEVEL", to: "\"\(targetLevel ?? "")\"", .when(configuration: .release)),
]

let package = Package(
    name: "darts-dist",
    products: [
        .executable(name: "darts-dist", targets: ["darts-dist"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // MARK: System libraries (with inline C getters for OpenMPI's macro handles; zlib for gzip data files and .npz)
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "SystemZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),

        // MARK: The CPU check that runs before main (Sources/CPUCheck)
        .target(name: "CPUCheck", cSettings: cpuCheckSettings),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg",
                       providers: [.apt(["libjpeg62-turbo-dev"])]),

        // MARK: Library layers, bottom up
        .target(name: "DartsTensor", dependencies: ["CBLAS"], swiftSettings: kernelSettings),
        .target(name: "NN", dependencies: ["DartsTensor"], swiftSettings: checkedSettings),
        .target(name: "Distributed", dependencies: ["CMPI", "DartsTensor"], swiftSettings: checkedSettings),
        .target(name: "InputText", swiftSettings: checkedSettings),
        .target(name: "DARTS", dependencies: ["NN", "Distributed", "InputText"], swiftSettings: checkedSettings),
        .target(name: "Datasets", dependencies: [
            "DartsTensor", "InputText", "SystemZlib", "CPNG", "CJPEG",
        ], swiftSettings: checkedSettings),
        .target(name: "Training", dependencies: [
            "DARTS", "Datasets", "Distributed", "InputText",
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
            "Training", "CPUCheck", "ModelExport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // MARK: Tests
        // Helpers the test targets share: numeric comparisons, temporary folders, sample data
        // and JSON files, module trees, a background process runner. ZIPFoundation writes the
        // tests' .npz archives, a zip writer independent of the reader under test.
        .target(name: "TestSupport", dependencies: ["NN", "Datasets", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
                path: "Tests/TestSupport"),
        .testTarget(name: "DartsTensorTests", dependencies: ["DartsTensor", "TestSupport"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "TestSupport"]),
        .testTarget(name: "DARTSTests", dependencies: ["DARTS", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "SystemZlib", "TestSupport"]),
        .testTarget(name: "EndToEndTests", dependencies: ["Training", "TestSupport"]),
        .testTarget(name: "CommandLineTests", dependencies: ["darts-dist", "Training", "CPUCheck"]),
        .testTarget(name: "ModelExportTests", dependencies: ["ModelExport", "Training", "TestSupport",
                                                             .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
    ],
    swiftLanguageModes: [.v5]
)
