// Genotype text in every format the parser reads (DARTS text, genotype JSON, NNI JSON), the
// Codable decoding of genotype JSON that run folders and model files use, and the writers that
// follow a successful read. The genotype_text, genotype_json and nni_json harnesses run this
// entry point, each from its own seeds.
@testable import DARTS
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    do {
        let genotype = try Genotype.parse(String(decoding: data, as: UTF8.self))
        _ = genotype.dartsText
        _ = try? genotype.nniJSON()
    } catch {
        _ = "\(error)"
    }
    if let genotype = try? JSONDecoder().decode(Genotype.self, from: data) {
        _ = try? genotype.validate()
    }
    return 0
}
