import DARTS
import Datasets
import Foundation
import NN
import Training

/// An export that cannot be written: the message names the input or output and the fix.
public enum ExportError: Error, CustomStringConvertible, Equatable {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let message): return message
        }
    }
}

/// One float32 tensor of the evaluation network under its official PyTorch name.
public struct NamedArray: Sendable {
    public let name: String
    public let shape: [Int]
    /// prod(shape) values, C order.
    public let values: [Float]
}

/// What an export writes, read from a saved model: the genotype, the configuration, the
/// input normalization, the class names, and every weight and batch-norm buffer of the
/// evaluation network under the names of quark0/darts's `NetworkCIFAR` (cnn/model.py), in its
/// `state_dict()` order (the parameters of each module, then its buffers, depth first).
public struct ExportedModel {
    public let genotype: Genotype
    public let configuration: AugmentConfiguration
    public let normalization: Normalization
    public let classNames: [String]
    /// Weights (`...weight`, `...bias`) and batch-norm statistics (`...running_mean`, `...running_var`).
    public let tensors: [NamedArray]
    /// The prefix of every batch-norm module ("stem.1."), whose `num_batches_tracked` (an int64
    /// scalar in PyTorch's state_dict) the safetensors file also holds.
    public let batchNormPrefixes: [String]

    /// Reads `model` (a model.bin or a retrain run folder).
    /// - Throws: ``ExportError`` for a search run folder (no trained network) or a folder without
    ///   model.bin; ``SectionFileError`` for a damaged file.
    public init(modelPath: String) throws {
        let url = URL(fileURLWithPath: modelPath)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: modelPath, isDirectory: &isDirectory) {
            if isDirectory.boolValue, RunKind.of(folder: url) == .search {
                throw ExportError.invalid("--model \(modelPath) is a search run folder: it holds a genotype, not a trained "
                    + "network; retrain it first (darts-dist retrain --genotype \(modelPath) --out RUN_DIR) and export RUN_DIR")
            }
            if !isDirectory.boolValue, RunKind.of(file: url) == .search {
                throw ExportError.invalid("--model \(modelPath) belongs to a search run, not a trained network; "
                    + "retrain its genotype first (darts-dist retrain --genotype SEARCH_RUN_DIR --out RUN_DIR) and export RUN_DIR")
            }
        }
        let model = try SavedModel(path: modelPath)
        let built = try model.makeNetwork(path: modelPath)
        genotype = model.manifest.genotype
        configuration = model.manifest.configuration
        let kind = DatasetKind(rawValue: model.manifest.dataset)
        guard let normalization = model.manifest.normalization ?? kind.flatMap({ $0.isOwnData ? nil : $0.normalization }) else {
            throw ExportError.invalid("\(modelPath) records no input normalization; retrain it with this version")
        }
        self.normalization = normalization
        classNames = model.manifest.classNames ?? kind.map(\.classNames) ?? (0..<configuration.classes).map(String.init)
        var tensors: [NamedArray] = []
        var prefixes: [String] = []
        // state_dict order: each module's own parameters, then its own buffers, then its children.
        // Our modules register parameters before buffers and children in PyTorch's order, so a
        // stable merge by module prefix gives the same sequence.
        let parameters = built.network.namedParameters(), buffers = built.network.namedBuffers()
        func module(_ name: String) -> String { name.split(separator: ".").dropLast().joined(separator: ".") }
        var bufferIndex = 0
        for (index, parameter) in parameters.enumerated() {
            tensors.append(NamedArray(name: parameter.name, shape: parameter.tensor.shape,
                                      values: Array(UnsafeBufferPointer(start: parameter.tensor.data, count: parameter.tensor.count))))
            let owner = module(parameter.name)
            let nextOwner = index + 1 < parameters.count ? module(parameters[index + 1].name) : nil
            while bufferIndex < buffers.count, module(buffers[bufferIndex].name) == owner, nextOwner != owner {
                let buffer = buffers[bufferIndex]
                tensors.append(NamedArray(name: buffer.name, shape: buffer.tensor.shape,
                                          values: Array(UnsafeBufferPointer(start: buffer.tensor.data, count: buffer.tensor.count))))
                if buffer.name.hasSuffix(".running_var") { prefixes.append(owner + ".") }
                bufferIndex += 1
            }
        }
        guard bufferIndex == buffers.count else {
            throw ExportError.invalid("\(modelPath): the batch-norm buffer \(buffers[bufferIndex].name) belongs to no module "
                + "with parameters (a batch norm without affine weights), which this export does not write")
        }
        self.tensors = tensors
        batchNormPrefixes = prefixes
    }

    /// The tensor named `name`.
    func tensor(_ name: String) throws -> NamedArray {
        guard let found = tensors.first(where: { $0.name == name }) else {
            throw ExportError.invalid("the model has no tensor \(name); its network does not match its genotype")
        }
        return found
    }

    /// The genotype as JSON: {"normal": [["sep_conv_3x3", 0], ...], "normal_concat": [...], "reduce": ..., "reduce_concat": ...}.
    var genotypeJSON: String { genotype.jsonText.replacingOccurrences(of: "\n", with: "").replacingOccurrences(of: "  ", with: " ") }
}

/// Refuses an output path that exists (an export never overwrites) or whose folder cannot take a new file.
/// - Throws: ``ExportError``.
func checkNewFile(_ path: String) throws {
    guard !path.isEmpty, !path.hasSuffix("/") else {
        throw ExportError.invalid("--out \(path.isEmpty ? "is empty" : "\(path) ends in '/'"); give a file path such as model.onnx")
    }
    var info = stat()
    if lstat(path, &info) == 0 {   // lstat: a dangling symbolic link is there too
        try AtomicFile.checkReplaceable(path, name: "--out \(path)")   // names a device, FIFO, link or folder
        throw ExportError.invalid("--out \(path) already exists; an export never overwrites a file: give a new name or remove it")
    }
    do {
        try AtomicFile.checkFolderTakesFiles(URL(fileURLWithPath: path).deletingLastPathComponent().path, for: "--out \(path)")
    } catch {
        throw ExportError.invalid("\(error)")
    }
}

/// Writes `bytes` to the new file `path` through a temporary file in the same folder and a
/// hard link (which fails if `path` appeared meanwhile), so nothing is ever overwritten and a
/// failed write leaves no partial file.
func writeNewFile(_ bytes: Data, to path: String) throws {
    try checkNewFile(path)
    let url = URL(fileURLWithPath: path)
    let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).partial")
    do {
        // A leftover of this process id (a link or FIFO planted there) is removed, never followed.
        unlink(temporary.path)
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ExportError.invalid("cannot create \(temporary.path): \(String(cString: strerror(errno))); check the folder's permissions")
        }
        defer { unlink(temporary.path) }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        try handle.write(contentsOf: bytes)
        try handle.close()
        guard link(temporary.path, path) == 0 else {
            throw ExportError.invalid("cannot create \(path): \(String(cString: strerror(errno))); check the folder's permissions")
        }
    } catch let error as ExportError {
        throw error
    } catch {
        throw ExportError.invalid("cannot write \(path): \(error.localizedDescription); check the folder's permissions and free space")
    }
}
