import InputText

/// Reader and writer of NumPy's .npy format, version 1.0, 2.0 and 3.0 (NumPy's "format" module
/// documentation, `numpy.lib.format`, "Format Version 1.0" ff.; NEP 1):
///
///     magic "\x93NUMPY" (6 bytes), major version (1 byte), minor version (1 byte),
///     header length HLEN: little-endian UInt16 (version 1.0) or UInt32 (2.0, 3.0),
///     header: HLEN bytes of ASCII (UTF-8 in 3.0), a Python dict literal with exactly the keys
///     'descr' (a dtype string such as '<f4' or '|u1'), 'fortran_order' (True or False) and
///     'shape' (a tuple of integers), padded with spaces and ended by '\n',
///     data: prod(shape) items of the dtype, C order unless fortran_order is True.
///
/// The header is parsed by a strict grammar of exactly that dict, nothing is evaluated. Every
/// size is computed with overflow checks and compared with the file's length.
public enum NPYFile {
    /// The six magic bytes.
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]

    /// The element types read here, by their .npy `descr`.
    public enum DType: String, Sendable, CaseIterable {
        case uint8 = "|u1", int8 = "|i1"
        case int16 = "<i2", uint16 = "<u2", int32 = "<i4", uint32 = "<u4", int64 = "<i8", uint64 = "<u8"
        case float32 = "<f4", float64 = "<f8"

        /// Bytes per item.
        public var size: Int {
            switch self {
            case .uint8, .int8: return 1
            case .int16, .uint16: return 2
            case .int32, .uint32, .float32: return 4
            case .int64, .uint64, .float64: return 8
            }
        }

        public var isInteger: Bool { self != .float32 && self != .float64 }

        /// The dtype of `descr`, also accepting NumPy's equivalent spellings of the one-byte types
        /// ('<u1', '>u1', '|b1' is not one) and '=' for native (little-endian here) byte order.
        init?(descr: String) {
            var text = descr
            if text.count == 3, ["<", "=", ">", "|"].contains(text.first!), text.hasSuffix("1") {
                text = "|" + text.dropFirst()
            } else if text.hasPrefix("=") {
                text = "<" + text.dropFirst()
            }
            self.init(rawValue: text)
        }
    }

    /// A parsed .npy array: its dtype, shape and the raw little-endian data bytes.
    public struct Array: Sendable {
        public let dtype: DType
        public let shape: [Int]
        /// prod(shape) * dtype.size bytes, C order.
        public let data: [UInt8]

        /// prod(shape).
        public var count: Int { shape.reduce(1, *) }

        /// Every item as an Int64 (integer dtypes only).
        public func integers() -> [Int64] {
            precondition(dtype.isInteger, "integers() of a \(dtype.rawValue) array")
            var result = [Int64](repeating: 0, count: count)
            data.withUnsafeBytes { raw in
                for i in 0..<result.count {
                    switch dtype {
                    case .uint8: result[i] = Int64(raw.load(fromByteOffset: i, as: UInt8.self))
                    case .int8: result[i] = Int64(raw.load(fromByteOffset: i, as: Int8.self))
                    case .int16: result[i] = Int64(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)))
                    case .uint16: result[i] = Int64(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                    case .int32: result[i] = Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
                    case .uint32: result[i] = Int64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                    case .int64: result[i] = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
                    case .uint64:
                        let value = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
                        result[i] = value > UInt64(Int64.max) ? -1 : Int64(value)   // out of any label range
                    case .float32, .float64: break
                    }
                }
            }
            return result
        }

        /// Item `i` as a Float: uint8 as is (0...255), float32 and float64 as their value.
        func float(_ raw: UnsafeRawBufferPointer, _ i: Int) -> Float {
            switch dtype {
            case .uint8: return Float(raw[i])
            case .float32: return Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            case .float64: return Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
            default: preconditionFailure("float() reads uint8, float32 and float64 arrays")
            }
        }
    }

    /// Parses a whole .npy file.
    /// - Parameter path: named in errors.
    /// - Throws: ``OwnDataError`` naming `path`: a wrong magic or version, a header that is not
    ///   the dict above, an unsupported dtype, fortran_order True, or a file length that is not
    ///   the header's plus prod(shape) * itemsize (truncated or with trailing bytes).
    public static func decode(_ bytes: [UInt8], path: String) throws -> Array {
        func bad(_ what: String) -> OwnDataError {
            .invalid("\(path) is not a valid .npy file: \(what); write it with numpy.save (or numpy.savez for an .npz)")
        }
        guard bytes.count >= 10, Swift.Array(bytes[0..<6]) == magic else {
            throw bad("it does not start with the magic \\x93NUMPY")
        }
        let major = bytes[6], minor = bytes[7]
        let headerLength: Int, headerStart: Int
        switch (major, minor) {
        case (1, 0):
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case (2, 0), (3, 0):
            guard bytes.count >= 12 else { throw bad("the file ends inside its header length") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw bad("format version \(major).\(minor) is not 1.0, 2.0 or 3.0")
        }
        let (headerEnd, overflow) = headerStart.addingReportingOverflow(headerLength)
        guard !overflow, headerEnd <= bytes.count else {
            throw bad("its header says \(headerLength) bytes but the file has \(bytes.count - headerStart) after the header length")
        }
        guard let text = String(bytes: bytes[headerStart..<headerEnd], encoding: major == 3 ? .utf8 : .ascii) else {
            throw bad("its header is not \(major == 3 ? "UTF-8" : "ASCII") text")
        }
        let header: (descr: String, fortranOrder: Bool, shape: [Int])
        do {
            var parser = HeaderParser(text)
            header = try parser.parse()
        } catch let error as HeaderParser.Failure {
            throw bad("its header \(InputText.escaped(text.trimmingCharacters(in: .whitespacesAndNewlines))) \(error.reason)")
        }
        guard let dtype = DType(descr: header.descr) else {
            throw OwnDataError.invalid("\(path) holds dtype \(InputText.quote(header.descr)), which is not supported; use uint8 or float32 "
                + "images and integer labels (little-endian), e.g. numpy.save(path, array.astype(numpy.uint8))")
        }
        guard !header.fortranOrder else {
            throw OwnDataError.invalid("\(path) is stored in Fortran order; save it in C order: "
                + "numpy.save(path, numpy.ascontiguousarray(array))")
        }
        var count = 1
        for dimension in header.shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw bad("its shape \(header.shape) holds more items than can be addressed") }
            count = product
        }
        let (dataBytes, byteOverflow) = count.multipliedReportingOverflow(by: dtype.size)
        let (expected, endOverflow) = headerEnd.addingReportingOverflow(dataBytes)
        guard !byteOverflow, !endOverflow else { throw bad("its shape \(header.shape) holds more bytes than can be addressed") }
        guard expected == bytes.count else {
            throw OwnDataError.invalid("\(path) is \(bytes.count) bytes, but its header (shape \(header.shape), dtype "
                + "\(InputText.quote(header.descr))) says \(expected); the file is \(bytes.count < expected ? "truncated" : "followed by extra bytes"), "
                + "write it again with numpy.save")
        }
        return Array(dtype: dtype, shape: header.shape, data: Swift.Array(bytes[headerEnd...]))
    }

    /// A version 1.0 .npy file of little-endian float32 `values` with `shape` (C order).
    public static func encode(_ values: [Float], shape: [Int]) -> [UInt8] {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        var bytes = header(descr: "<f4", shape: shape)
        bytes.reserveCapacity(bytes.count + 4 * values.count)
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes
    }

    /// A version 1.0 .npy file of little-endian int64 `values` with shape (count).
    public static func encode(_ values: [Int64]) -> [UInt8] {
        var bytes = header(descr: "<i8", shape: [values.count])
        for value in values { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes
    }

    /// Magic, version 1.0, length and the dict, padded with spaces so that the data start at a
    /// multiple of 64 bytes, as numpy.save writes it.
    static func header(descr: String, shape: [Int]) -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + dict.utf8.count + 1
        dict += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        let length = dict.utf8.count
        return magic + [1, 0, UInt8(length & 0xff), UInt8(length >> 8)] + Swift.Array(dict.utf8)
    }
}

/// The grammar of a .npy header: `{` then the three entries in any order, each `'key': value`,
/// separated by commas (one trailing comma allowed), `}`, then only spaces and the final '\n'.
struct HeaderParser {
    struct Failure: Error { let reason: String }

    private let characters: [Character]
    private var position = 0

    init(_ text: String) { characters = Array(text) }

    mutating func parse() throws -> (descr: String, fortranOrder: Bool, shape: [Int]) {
        var descr: String?, fortranOrder: Bool?, shape: [Int]?
        try expect("{")
        while true {
            skipSpaces()
            if peek == "}" { break }
            let key = try quoted()
            try expect(":")
            switch key {
            case "descr" where descr == nil: descr = try quoted()
            case "fortran_order" where fortranOrder == nil: fortranOrder = try boolean()
            case "shape" where shape == nil: shape = try tuple()
            case "descr", "fortran_order", "shape": throw Failure(reason: "repeats the key \(InputText.quote(key))")
            default: throw Failure(reason: "has the unknown key \(InputText.quote(key))")
            }
            skipSpaces()
            if peek == "," { position += 1; continue }
            skipSpaces()
            guard peek == "}" else { throw Failure(reason: "lacks a ',' or '}' after \(InputText.quote(key))") }
        }
        try expect("}")
        while position < characters.count, characters[position] == " " { position += 1 }
        guard position == characters.count - 1, characters[position] == "\n" else {
            throw Failure(reason: "does not end with spaces and a newline after its '}'")
        }
        guard let descr, let fortranOrder, let shape else {
            throw Failure(reason: "lacks one of the keys 'descr', 'fortran_order' and 'shape'")
        }
        return (descr, fortranOrder, shape)
    }

    private var peek: Character? { position < characters.count ? characters[position] : nil }

    private mutating func skipSpaces() {
        while let c = peek, c == " " { position += 1 }
    }

    private mutating func expect(_ c: Character) throws {
        skipSpaces()
        guard peek == c else { throw Failure(reason: "has no '\(c)' where one is expected") }
        position += 1
    }

    private mutating func quoted() throws -> String {
        skipSpaces()
        guard let quote = peek, quote == "'" || quote == "\"" else { throw Failure(reason: "has a key or string without quotes") }
        position += 1
        var value = ""
        while let c = peek, c != quote {
            guard c != "\\" && c != "\n" else { throw Failure(reason: "has an escaped or multi-line string") }
            value.append(c)
            position += 1
        }
        guard peek == quote else { throw Failure(reason: "has an unterminated string") }
        position += 1
        return value
    }

    private mutating func boolean() throws -> Bool {
        skipSpaces()
        for (word, value) in [("True", true), ("False", false)] {
            let end = position + word.count
            if end <= characters.count, String(characters[position..<end]) == word {
                position = end
                return value
            }
        }
        throw Failure(reason: "has a 'fortran_order' that is not True or False")
    }

    private mutating func tuple() throws -> [Int] {
        try expect("(")
        var values: [Int] = []
        while true {
            skipSpaces()
            if peek == ")" { break }
            var digits = ""
            while let c = peek, c.isASCII, c.isNumber { digits.append(c); position += 1 }
            guard !digits.isEmpty, digits.count <= 19, let value = Int(digits) else {
                throw Failure(reason: "has a 'shape' that is not a tuple of non-negative integers")
            }
            values.append(value)
            // NumPy's limit (NPY_MAXDIMS, 64 since NumPy 2.0); also bounds the shape a message shows.
            guard values.count <= 64 else { throw Failure(reason: "has a 'shape' of more than 64 dimensions") }
            skipSpaces()
            if peek == "," { position += 1; continue }
            skipSpaces()
            guard peek == ")" else { throw Failure(reason: "has a 'shape' that is not a tuple of non-negative integers") }
        }
        // (n) without a comma is an integer in parentheses, not a tuple: numpy writes (n,).
        position += 1
        return values
    }
}
