import Foundation

/// Decodes the JSON file at `url` as `type`.
public func readJSON<T: Decodable>(_ type: T.Type, _ url: URL) throws -> T {
    try JSONDecoder().decode(type, from: Data(contentsOf: url))
}
