import Foundation

/// The safetensors file of an ``ExportedModel`` (format of huggingface/safetensors, README
/// "Format"):
///
///     8 bytes: N, the header's length, little-endian UInt64
///     N bytes: a UTF-8 JSON object {"NAME": {"dtype": "F32", "shape": [...], "data_offsets": [BEGIN, END]}, ...,
///              "__metadata__": {"KEY": "VALUE", ...}}, padded with spaces (0x20) to a multiple of 8
///     the data: each tensor's bytes, little-endian, C order, at [BEGIN, END) from the data's start
///
/// Tensors: every weight and batch-norm buffer under `NetworkCIFAR`'s `state_dict()` names
/// (F32), plus each batch norm's `num_batches_tracked` (I64, shape [], 0: the count of training
/// batches is not kept, and PyTorch reads it only when its momentum is None), so that
/// `load_state_dict(strict=True)` accepts the file.
///
/// Metadata (strings): "format" "pt"; "genotype" (DARTS text), "genotype_json"; "configuration"
/// (JSON: inputChannels, imageSize, channels, layers, classes, auxiliary, stemMultiplier);
/// "mean" and "std" (JSON arrays, one value per channel: the network takes (x / 255 - mean) / std
/// for 8-bit pixels x); "class_names" (JSON array, indexed by label); "input" ("N x C x H x W float32, normalized").
public enum SafetensorsExport {
    struct Entry: Encodable {
        let dtype: String
        let shape: [Int]
        let data_offsets: [Int]
    }

    /// The file's bytes.
    public static func encode(_ model: ExportedModel) throws -> Data {
        var header: [String: Entry] = [:]
        var data = Data()
        func appendFloats(_ tensor: NamedArray) {
            let begin = data.count
            tensor.values.withUnsafeBufferPointer { buffer in
                for value in buffer { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            }
            header[tensor.name] = Entry(dtype: "F32", shape: tensor.shape, data_offsets: [begin, data.count])
        }
        for tensor in model.tensors { appendFloats(tensor) }
        for prefix in model.batchNormPrefixes {
            let begin = data.count
            withUnsafeBytes(of: Int64(0).littleEndian) { data.append(contentsOf: $0) }
            header[prefix + "num_batches_tracked"] = Entry(dtype: "I64", shape: [], data_offsets: [begin, data.count])
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func json<T: Encodable>(_ value: T) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }
        let c = model.configuration
        let metadata: [String: String] = [
            "format": "pt",
            "genotype": model.genotype.dartsText,
            "genotype_json": model.genotypeJSON,
            "configuration": try json(c),
            "mean": try json(model.normalization.mean),
            "std": try json(model.normalization.std),
            "class_names": try json(model.classNames),
            "input": "N x \(c.inputChannels) x \(c.imageSize) x \(c.imageSize) float32, (pixel / 255 - mean[c]) / std[c]",
        ]
        var text = try json(header)
        // Insert the metadata as the first key (the header is a JSON object; order does not matter).
        text = "{\"__metadata__\":" + (try json(metadata)) + "," + text.dropFirst()
        var headerBytes = Data(text.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        var file = Data()
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { file.append(contentsOf: $0) }
        return file + headerBytes + data
    }
}
