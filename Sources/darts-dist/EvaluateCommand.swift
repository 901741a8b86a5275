import ArgumentParser
import Distributed
import Foundation
import Training

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Measure a saved model on the test set: top-1, top-5, loss and per-class accuracy.",
        discussion: """
            --model is the model.bin a retrain writes, or its run folder. The network is rebuilt from \
            the genotype and configuration saved with the weights and measured in evaluation mode on \
            the test split of the data set it was trained on. Prints a table, or JSON with --json. \
            Runs on one process or under mpirun (each rank measures a share of the test set).
            """)

    @Option(help: ArgumentHelp("A saved model (model.bin) or the retrain run folder that holds it.", valueName: "file"))
    var model: String
    @Option(help: "The data folder (default: the one the model was trained with, else the dataset's).") var data: String?
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Images per forward pass.", transform: wholeNumber)
    var batchSize: Int = 100
    @Option(name: .customLong("test-subset"), parsing: .unconditional, help: "Measure on only the first N test images.", transform: wholeNumber) var testSubset: Int?
    @Option(name: .customLong("save-logits"), help: ArgumentHelp(
        "Also write the test images (normalized), labels and logits as images.npy, labels.npy and logits.npy to this new folder.",
        valueName: "dir")) var saveLogits: String?
    @Flag(help: "Print the report as JSON.") var json = false

    func validate() throws {
        if batchSize <= 0 { throw ValidationError("--batch-size \(batchSize) must be positive") }
        if let testSubset, testSubset <= 0 { throw ValidationError("--test-subset \(testSubset) must be positive") }
    }

    func run() throws {
        try runDistributed { communicator in
            let report = try EvaluateJob(modelPath: model, data: data, testSubset: testSubset, batchSize: batchSize,
                                         saveLogits: saveLogits, communicator: communicator).run()
            guard communicator.rank == 0 else { return }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(report.table)
            }
        }
    }
}
