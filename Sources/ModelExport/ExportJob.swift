import Foundation

/// The formats `darts-dist export` writes.
public enum ExportFormat: String, CaseIterable, Sendable {
    /// safetensors, for PyTorch (``SafetensorsExport``).
    case safetensors
    /// ONNX, opset 13 (``ONNXExport``).
    case onnx
}

/// `darts-dist export`: reads a saved model and writes it in `format` to the new file `out`.
/// - Throws: ``ExportError`` (a search run folder, an existing output file, a missing output
///   folder), ``SectionFileError`` (a missing or damaged model); nothing is written then.
/// - Returns: a line saying what was written.
public func exportModel(modelPath: String, format: ExportFormat, out: String, producerVersion: String) throws -> String {
    try checkNewFile(out)
    let model = try ExportedModel(modelPath: modelPath)
    let bytes: Data
    switch format {
    case .safetensors: bytes = try SafetensorsExport.encode(model)
    case .onnx: bytes = try ONNXExport.encode(model, producerVersion: producerVersion)
    }
    try writeNewFile(bytes, to: out)
    let c = model.configuration
    return "wrote \(out): \(format.rawValue), \(model.tensors.count) tensors, input N x \(c.inputChannels) x \(c.imageSize) x "
        + "\(c.imageSize) float32 normalized with mean \(model.normalization.mean) std \(model.normalization.std), "
        + "\(c.classes) classes (\(model.classNames.joined(separator: ", ")))"
}
