import Foundation
import Testing
import TestSupport
@testable import DARTS
@testable import DartsTensor

/// The golden values written by scripts/make_fixtures.py with PyTorch: a manifest (JSON) and
/// the float32 arrays it indexes (little-endian binary).
struct Fixture {
    struct Manifest: Decodable {
        struct Entry: Decodable { let name: String; let shape: [Int]; let offset: Int; let count: Int }
        struct Config: Decodable {
            let input_channels: Int, height: Int, C: Int, layers: Int, num_classes: Int
            let eta: Float, weight_momentum: Float, weight_decay: Float, grad_clip: Float
            let alpha_lr: Float, alpha_weight_decay: Float
        }
        let config: Config
        let tensors: [Entry]
        let labels_train: [Int32]
        let labels_val: [Int32]
        let scalars: [String: Double]
    }

    let manifest: Manifest
    let floats: [Float]
    let index: [String: Manifest.Entry]

    init(_ name: String) throws {
        let folder = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
        let json = try Data(contentsOf: folder.appendingPathComponent(name + ".json"))
        manifest = try JSONDecoder().decode(Manifest.self, from: json)
        let raw = try Data(contentsOf: folder.appendingPathComponent(name + ".bin"))
        floats = raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        index = Dictionary(uniqueKeysWithValues: manifest.tensors.map { ($0.name, $0) })
    }

    func values(_ name: String) -> [Float] {
        guard let e = index[name] else { Issue.record("fixture has no tensor \(name)"); return [] }
        return Array(floats[e.offset..<(e.offset + e.count)])
    }

    func tensor(_ name: String) -> Tensor {
        Tensor(shape: index[name]!.shape, values: values(name))
    }

    /// Names after a prefix ("weight." -> official parameter names), in file order.
    func names(prefix: String) -> [String] {
        manifest.tensors.map(\.name).filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    /// Concatenates `prefix + name` for every name, in order (an arena's layout).
    func flat(_ prefix: String, _ names: [String]) -> [Float] {
        names.flatMap { values(prefix + $0) }
    }
}


/// Records one row of a parity table with PyTorch (printed with the test output) and checks it.
func expectParity(_ name: String, _ mine: [Float], _ theirs: [Float], tolerance: Float = 1e-4,
                  sourceLocation: SourceLocation = #_sourceLocation) {
    let error = relativeError(mine, theirs)
    print(String(format: "parity with PyTorch: %-44@ max relative error %.2e", name as NSString, error))
    #expect(error < tolerance, "\(name)", sourceLocation: sourceLocation)
}
