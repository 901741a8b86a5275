import DARTS
import Foundation
import SwiftProtobuf

/// The ONNX model (opset 13, IR version 7) of an ``ExportedModel``'s inference graph: the
/// evaluation network of quark0/darts's `NetworkCIFAR.forward` (cnn/model.py) in evaluation
/// mode, without the auxiliary head and drop path.
///
/// Input "input": N x C x S x S float32, normalized as the training images were
/// ((pixel / 255 - mean[c]) / std[c], mean and std in the model's metadata_props); output
/// "logits": N x classes float32. N is free ("N").
///
/// Operators (ONNX Operators.md, opset 13): Conv (convolutions, depthwise with group = C),
/// BatchNormalization (inference: running mean and variance, epsilon 1e-5 as PyTorch),
/// Relu, MaxPool and AveragePool (3x3, pad 1; AveragePool with count_include_pad 0 as
/// PyTorch's count_include_pad=False), Slice (FactorizedReduce's x[:, :, 1:, 1:]; the none
/// operation's x[:, :, ::2, ::2]), Mul (none: times 0), Concat, Add, GlobalAveragePool, Flatten,
/// Gemm (classifier, transB = 1). Weights are initializers under the safetensors names.
public enum ONNXExport {
    public static let opset: Int64 = 13
    public static let irVersion: Int64 = 7

    /// The serialized ModelProto.
    /// - Throws: ``ExportError`` when a tensor the graph needs is missing.
    public static func encode(_ model: ExportedModel, producerVersion: String) throws -> Data {
        var builder = GraphBuilder(model: model)
        let logits = try builder.network()
        var graph = Onnx_GraphProto()
        graph.name = "darts_network_cifar"
        graph.node = builder.nodes
        graph.initializer = builder.initializers
        let c = model.configuration
        graph.input = [valueInfo("input", dims: [.param("N"), .value(c.inputChannels), .value(c.imageSize), .value(c.imageSize)])]
        graph.output = [valueInfo(logits, dims: [.param("N"), .value(c.classes)])]
        var onnx = Onnx_ModelProto()
        onnx.irVersion = irVersion
        var opsetImport = Onnx_OperatorSetIdProto()
        opsetImport.domain = ""
        opsetImport.version = opset
        onnx.opsetImport = [opsetImport]
        onnx.producerName = "darts-dist"
        onnx.producerVersion = producerVersion
        onnx.docString = "DARTS evaluation network (NetworkCIFAR), genotype \(model.genotype.dartsText)"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func json<T: Encodable>(_ value: T) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }
        onnx.metadataProps = try [
            ("genotype", model.genotype.dartsText),
            ("mean", json(model.normalization.mean)),
            ("std", json(model.normalization.std)),
            ("class_names", json(model.classNames)),
            ("input", "N x \(c.inputChannels) x \(c.imageSize) x \(c.imageSize) float32, (pixel / 255 - mean[c]) / std[c]"),
        ].map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        onnx.graph = graph
        return try onnx.serializedData()
    }

    enum Dimension { case value(Int), param(String) }

    static func valueInfo(_ name: String, dims: [Dimension]) -> Onnx_ValueInfoProto {
        var shape = Onnx_TensorShapeProto()
        shape.dim = dims.map { d in
            var dimension = Onnx_TensorShapeProto.Dimension()
            switch d {
            case .value(let v): dimension.dimValue = Int64(v)
            case .param(let p): dimension.dimParam = p
            }
            return dimension
        }
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensor
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type = type
        return info
    }
}

/// Builds the nodes of `NetworkCIFAR.forward` one module at a time.
struct GraphBuilder {
    let model: ExportedModel
    var nodes: [Onnx_NodeProto] = []
    var initializers: [Onnx_TensorProto] = []
    private var added: Set<String> = []
    private var counter = 0

    init(model: ExportedModel) { self.model = model }

    /// The graph from "input" to the logits; returns the logits' name.
    mutating func network() throws -> String {
        let c = model.configuration
        var s0 = try batchNorm(try conv("input", "stem.0.weight", stride: 1, padding: 1), "stem.1.")
        var s1 = s0
        var reductionPrevious = false
        for i in 0..<c.layers {
            let reduction = c.reductionCells.contains(i)
            let output = try cell(i, s0, s1, reduction: reduction, reductionPrevious: reductionPrevious)
            (s0, s1) = (s1, output)
            reductionPrevious = reduction
        }
        let pooled = node("GlobalAveragePool", [s1])
        let flat = node("Flatten", [pooled], attributes: [int("axis", 1)])
        return node("Gemm", [flat, try weight("classifier.weight"), try weight("classifier.bias")],
                    attributes: [int("transB", 1)], output: "logits")
    }

    /// Official `Cell.forward` (no drop path in evaluation).
    mutating func cell(_ i: Int, _ s0: String, _ s1: String, reduction: Bool, reductionPrevious: Bool) throws -> String {
        let prefix = "cells.\(i)."
        var states = [
            reductionPrevious ? try factorizedReduce(s0, prefix + "preprocess0.") : try reluConvBN(s0, prefix + "preprocess0.op."),
            try reluConvBN(s1, prefix + "preprocess1.op."),
        ]
        let edges = reduction ? model.genotype.reduce : model.genotype.normal
        let concat = reduction ? model.genotype.reduceConcat : model.genotype.normalConcat
        for step in 0..<(edges.count / 2) {
            var h: [String] = []
            for k in [2 * step, 2 * step + 1] {
                let edge = edges[k]
                let stride = reduction && edge.input < 2 ? 2 : 1
                h.append(try operation(edge.operation, states[edge.input], prefix + "_ops.\(k).", stride: stride))
            }
            states.append(node("Add", h))
        }
        return node("Concat", concat.map { states[$0] }, attributes: [int("axis", 1)])
    }

    /// Official `OPS[name](C, stride, affine=True)` (cnn/operations.py).
    mutating func operation(_ primitive: Primitive, _ x: String, _ prefix: String, stride: Int) throws -> String {
        switch primitive {
        case .none:
            let sampled = stride == 1 ? x : node("Slice", [x, constant([0, 0]), constant([Int64.max, Int64.max]),
                                                             constant([2, 3]), constant([2, 2])])
            return node("Mul", [sampled, scalarZero()])
        case .maxPool3x3:
            return node("MaxPool", [x], attributes: [ints("kernel_shape", [3, 3]), ints("strides", [stride, stride]),
                                                      ints("pads", [1, 1, 1, 1])])
        case .avgPool3x3:
            return node("AveragePool", [x], attributes: [ints("kernel_shape", [3, 3]), ints("strides", [stride, stride]),
                                                          ints("pads", [1, 1, 1, 1]), int("count_include_pad", 0)])
        case .skipConnect:
            return stride == 1 ? x : try factorizedReduce(x, prefix)
        case .sepConv3x3, .sepConv5x5:
            let padding = primitive == .sepConv3x3 ? 1 : 2
            var y = node("Relu", [x])
            y = try conv(y, prefix + "op.1.weight", stride: stride, padding: padding, depthwise: true)
            y = try batchNorm(try conv(y, prefix + "op.2.weight", stride: 1, padding: 0), prefix + "op.3.")
            y = node("Relu", [y])
            y = try conv(y, prefix + "op.5.weight", stride: 1, padding: padding, depthwise: true)
            return try batchNorm(try conv(y, prefix + "op.6.weight", stride: 1, padding: 0), prefix + "op.7.")
        case .dilConv3x3, .dilConv5x5:
            let padding = primitive == .dilConv3x3 ? 2 : 4
            var y = node("Relu", [x])
            y = try conv(y, prefix + "op.1.weight", stride: stride, padding: padding, dilation: 2, depthwise: true)
            return try batchNorm(try conv(y, prefix + "op.2.weight", stride: 1, padding: 0), prefix + "op.3.")
        }
    }

    /// Official `ReLUConvBN` (1x1 here): relu, conv (`op.1`), BN (`op.2`).
    mutating func reluConvBN(_ x: String, _ prefix: String) throws -> String {
        try batchNorm(try conv(node("Relu", [x]), prefix + "1.weight", stride: 1, padding: 0), prefix + "2.")
    }

    /// Official `FactorizedReduce`: relu, cat(conv_1(x), conv_2(x[:, :, 1:, 1:])) on channels, BN.
    mutating func factorizedReduce(_ x: String, _ prefix: String) throws -> String {
        let y = node("Relu", [x])
        let shifted = node("Slice", [y, constant([1, 1]), constant([Int64.max, Int64.max]), constant([2, 3])])
        let a = try conv(y, prefix + "conv_1.weight", stride: 2, padding: 0)
        let b = try conv(shifted, prefix + "conv_2.weight", stride: 2, padding: 0)
        return try batchNorm(node("Concat", [a, b], attributes: [int("axis", 1)]), prefix + "bn.")
    }

    mutating func conv(_ x: String, _ name: String, stride: Int, padding: Int, dilation: Int = 1,
                       depthwise: Bool = false) throws -> String {
        let w = try model.tensor(name)
        var attributes = [ints("kernel_shape", [w.shape[2], w.shape[3]]), ints("strides", [stride, stride]),
                          ints("pads", [padding, padding, padding, padding]), ints("dilations", [dilation, dilation])]
        if depthwise { attributes.append(int("group", w.shape[0])) }
        return node("Conv", [x, try weight(name)], attributes: attributes)
    }

    mutating func batchNorm(_ x: String, _ prefix: String) throws -> String {
        node("BatchNormalization", [x] + (try ["weight", "bias", "running_mean", "running_var"].map { try weight(prefix + $0) }),
             attributes: [float("epsilon", 1e-5)])
    }

    /// The initializer of model tensor `name` (added once).
    mutating func weight(_ name: String) throws -> String {
        guard !added.contains(name) else { return name }
        let source = try model.tensor(name)
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dims = source.shape.map(Int64.init)
        tensor.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        var raw = Data(capacity: 4 * source.values.count)
        for value in source.values { withUnsafeBytes(of: value.bitPattern.littleEndian) { raw.append(contentsOf: $0) } }
        tensor.rawData = raw
        initializers.append(tensor)
        added.insert(name)
        return name
    }

    /// A 1-D int64 initializer (Slice's starts, ends, axes, steps), shared by value.
    mutating func constant(_ values: [Int64]) -> String {
        let name = "const_" + values.map { $0 == Int64.max ? "max" : String($0) }.joined(separator: "_")
        guard !added.contains(name) else { return name }
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dims = [Int64(values.count)]
        tensor.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        var raw = Data()
        for value in values { withUnsafeBytes(of: value.littleEndian) { raw.append(contentsOf: $0) } }
        tensor.rawData = raw
        initializers.append(tensor)
        added.insert(name)
        return name
    }

    mutating func scalarZero() -> String {
        let name = "const_zero"
        guard !added.contains(name) else { return name }
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.rawData = Data(count: 4)
        initializers.append(tensor)
        added.insert(name)
        return name
    }

    /// Appends a node and returns its (single) output's name.
    mutating func node(_ type: String, _ inputs: [String], attributes: [Onnx_AttributeProto] = [], output: String? = nil) -> String {
        counter += 1
        let name = output ?? "\(type.lowercased())_\(counter)"
        var n = Onnx_NodeProto()
        n.opType = type
        n.name = "\(type)_\(counter)"
        n.input = inputs
        n.output = [name]
        n.attribute = attributes
        nodes.append(n)
        return name
    }

    func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = Int64(value)
        return a
    }

    func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = values.map(Int64.init)
        return a
    }

    func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .float
        a.f = value
        return a
    }
}
