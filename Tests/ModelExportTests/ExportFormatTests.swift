import DARTS
import DartsTensor
import Datasets
import Foundation
import NN
import SwiftProtobuf
import Testing
import TestSupport
import Training
@testable import ModelExport

/// The exported files parse, and hold every tensor of the evaluation network with its shape:
/// safetensors (header JSON, offsets, metadata) and ONNX (a ModelProto read back with the same
/// generated types). The numeric check against PyTorch and onnxruntime is scripts/check_export.py.
@Suite struct ExportFormatTests {
    /// A small trained-looking model (random weights, non-trivial batch-norm statistics) saved to `folder`.
    /// The arenas are returned with the network: they own its tensors' storage.
    static func savedModel(in folder: TemporaryFolder, auxiliary: Bool = true, channels: Int = 3) throws
        -> (path: String, network: AugmentNetwork, arenas: [ParameterArena]) {
        let configuration = AugmentConfiguration(inputChannels: channels, imageSize: 16, channels: 4, layers: 3, classes: 5,
                                                 auxiliary: auxiliary)
        var rng = RandomGenerator(seed: 7)
        let network = try AugmentNetwork(configuration, genotype: .dartsV2, rng: &rng)
        let weights = ParameterArena(network.namedParameters())
        let buffers = ParameterArena(network.namedBuffers(), keepsGradients: false)
        buffers.load((0..<buffers.count).map { Float($0 % 7) * 0.1 + 0.5 })
        let model = SavedModel(network: network, weights: weights, buffers: buffers, dataset: "folder", dataFolder: "/data",
                               options: nil, epochs: 1, testTop1: nil, testTop5: nil,
                               normalization: Normalization(mean: Array([0.1, 0.2, 0.3].prefix(channels)), std: Array([0.5, 0.6, 0.7].prefix(channels))),
                               classNames: ["a", "b", "c", "d", "e"])
        let path = folder.file("model.bin")
        try model.write(to: URL(fileURLWithPath: path))
        return (path, network, [weights, buffers])
    }

    /// Every (name, shape) of the network's state_dict: parameters, buffers, num_batches_tracked.
    static func expectedShapes(_ network: AugmentNetwork) -> [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        for p in network.namedParameters() { shapes[p.name] = p.tensor.shape }
        for b in network.namedBuffers() {
            shapes[b.name] = b.tensor.shape
            if b.name.hasSuffix(".running_var") { shapes[String(b.name.dropLast("running_var".count)) + "num_batches_tracked"] = [] }
        }
        return shapes
    }

    @Test func safetensorsHoldsEveryTensorWithItsShapeAndTheMetadata() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (path, network, arenas) = try Self.savedModel(in: folder)
        defer { withExtendedLifetime(arenas) {} }
        let out = folder.file("model.safetensors")
        _ = try exportModel(modelPath: path, format: .safetensors, out: out, producerVersion: "test")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: out)))
        let headerLength = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect((8 + headerLength) % 8 == 0)
        let header = try #require(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)])) as? [String: Any])
        let metadata = try #require(header["__metadata__"] as? [String: String])
        #expect(metadata["genotype"] == Genotype.dartsV2.dartsText)
        #expect(metadata["mean"] == "[0.1,0.2,0.3]")
        #expect(metadata["class_names"] == "[\"a\",\"b\",\"c\",\"d\",\"e\"]")
        let expected = Self.expectedShapes(network)
        #expect(Set(header.keys.filter { $0 != "__metadata__" }) == Set(expected.keys))
        #expect(expected.keys.contains("auxiliary_head.classifier.weight"))
        #expect(expected.keys.contains("cells.0._ops.0.op.1.weight"))
        var covered = 0
        for (name, shape) in expected {
            let entry = try #require(header[name] as? [String: Any], "\(name) missing")
            #expect(entry["shape"] as? [Int] == shape, "\(name)")
            let offsets = try #require(entry["data_offsets"] as? [Int])
            let itemSize = entry["dtype"] as? String == "I64" ? 8 : 4
            #expect(entry["dtype"] as? String == (shape.isEmpty ? "I64" : "F32"))
            #expect(offsets[1] - offsets[0] == itemSize * shape.reduce(1, *), "\(name)")
            covered += offsets[1] - offsets[0]
        }
        #expect(8 + headerLength + covered == bytes.count)
        // The values are the network's: the classifier bias, little-endian float32.
        let bias = try #require(header["classifier.bias"] as? [String: Any])
        let start = 8 + headerLength + (bias["data_offsets"] as! [Int])[0]
        let first = Float(bitPattern: UInt32(bytes[start]) | UInt32(bytes[start + 1]) << 8 | UInt32(bytes[start + 2]) << 16 | UInt32(bytes[start + 3]) << 24)
        let classifierBias = network.namedParameters().first { $0.name == "classifier.bias" }!.tensor
        #expect(first == classifierBias.data[0])
    }

    @Test func onnxParsesAndHoldsEveryInferenceWeight() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (path, network, arenas) = try Self.savedModel(in: folder)
        defer { withExtendedLifetime(arenas) {} }
        let out = folder.file("model.onnx")
        _ = try exportModel(modelPath: path, format: .onnx, out: out, producerVersion: "test")
        let model = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: URL(fileURLWithPath: out)))
        #expect(model.opsetImport.first?.version == 13)
        #expect(model.irVersion == 7)
        let graph = model.graph
        // Every weight and statistic but the auxiliary head's (not in the inference graph).
        var expected = Self.expectedShapes(network).filter { !$0.key.hasPrefix("auxiliary_head.") && !$0.key.hasSuffix("num_batches_tracked") }
        for initializer in graph.initializer where !initializer.name.hasPrefix("const_") {
            let removed = expected.removeValue(forKey: initializer.name)
            let shape = try #require(removed, "unexpected \(initializer.name)")
            #expect(initializer.dims == shape.map(Int64.init), "\(initializer.name)")
            #expect(initializer.rawData.count == 4 * shape.reduce(1, *))
        }
        #expect(expected.isEmpty, "missing: \(expected.keys.sorted())")
        // Every node input is the graph input, an initializer or an earlier node's output.
        var known = Set(graph.initializer.map(\.name) + ["input"])
        for node in graph.node {
            for input in node.input { #expect(known.contains(input), "\(node.name) reads \(input) before it exists") }
            known.formUnion(node.output)
        }
        #expect(graph.output.map(\.name) == ["logits"])
        let input = graph.input[0].type.tensorType.shape.dim
        #expect(input.map(\.dimParam) == ["N", "", "", ""])
        #expect(input.dropFirst().map(\.dimValue) == [3, 16, 16])
        #expect(Set(graph.node.map(\.opType)).isSubset(of: ["Conv", "BatchNormalization", "Relu", "MaxPool", "AveragePool", "Slice",
                                                          "Mul", "Concat", "Add", "GlobalAveragePool", "Flatten", "Gemm"]))
        #expect(model.metadataProps.first { $0.key == "std" }?.value == "[0.5,0.6,0.7]")
    }
}
