import ArgumentParser
import Foundation
import ModelExport

extension ExportFormat: ExpressibleByArgument {}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a trained network for PyTorch (safetensors) or any ONNX runtime.",
        discussion: """
            --model is the model.bin a retrain writes, or its run folder. safetensors holds every weight and \
            batch-norm buffer under the names of the official DARTS NetworkCIFAR, with the genotype, \
            configuration, normalization and class names in its metadata (scripts/torch_network.py loads it). \
            onnx (opset 13) is the inference graph: input N x C x H x W float32, normalized as the training \
            images ((pixel / 255 - mean) / std), output the logits. The output file is never overwritten.
            """)

    @Option(help: ArgumentHelp("A saved model (model.bin) or the retrain run folder that holds it.", valueName: "file"))
    var model: String
    @Option(help: "safetensors or onnx.") var format: ExportFormat
    @Option(help: ArgumentHelp("The file to create (never overwritten).", valueName: "file")) var out: String

    func run() throws {
        do {
            print(try exportModel(modelPath: model, format: format, out: out, producerVersion: DartsDist.version))
        } catch {
            FileHandle.standardError.write(Data("darts-dist export: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
