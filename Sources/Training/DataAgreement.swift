import Datasets
import Distributed
import NN

/// A checksum of what a data set holds: its image count, shape and class count, every pixel as
/// float32 and every label, by FNV-1a (``FNV1a``, one 64-bit word per value).
func dataChecksum(_ dataset: ImageDataset) -> UInt64 {
    var hash = FNV1a()
    for word in [dataset.count, dataset.channels, dataset.height, dataset.width, dataset.classCount] { hash.combine(UInt64(word)) }
    hash.combine(floats: dataset.images)
    for label in dataset.labels { hash.combine(UInt64(UInt32(bitPattern: label))) }
    return hash.value
}

/// What a checkpoint's data checksum mismatch may also mean, for its messages: the checksum covers
/// the decoded float32 pixels, so the same files decoded otherwise give another one.
let dataChecksumCaveat = "files another darts-dist version decodes differently count as other"

/// Checks at start-up that every rank loaded the same data as rank 0 (each rank reads the files
/// itself, and `--data` may name another copy on each node): the checksum of each set is
/// compared across ranks. Collective: every rank must call it, and every rank throws alike.
/// - Parameters:
///   - sets: the data sets loaded, named for the message ("training images", "test images").
///   - checksums: their ``dataChecksum(_:)``s when already known (nil: computed here).
///   - folder: this rank's data folder.
/// - Throws: `error(message)` naming the ranks whose data differ, what each of them and rank 0
///   read (count, shape, checksum, folder), and the fix.
func checkSameDataOnEveryRank(_ communicator: Communicator, sets: [(name: String, dataset: ImageDataset)],
                              checksums: [UInt64]? = nil, folder: String, error: (String) -> Error) throws {
    guard communicator.worldSize > 1 else { return }
    let each = checksums ?? sets.map { dataChecksum($0.dataset) }
    var hash = FNV1a()
    for checksum in each { hash.combine(checksum) }
    let gathered = communicator.allgather(hash.value)
    let differing = gathered.indices.filter { gathered[$0] != gathered[0] }
    let description = zip(sets, each).map { set, checksum in
        let d = set.dataset
        return "\(d.count) \(set.name) \(d.channels)x\(d.height)x\(d.width) (checksum \(hexChecksum(checksum)))"
    }.joined(separator: ", ") + " from \(folder)"
    let descriptions = communicator.allgather(description)   // every rank takes part, whatever it finds
    guard !differing.isEmpty else { return }
    let shown = differing.prefix(4).map { "rank \($0) read \(descriptions[$0])" }.joined(separator: "; ")
    throw error("rank(s) \(differing.map(String.init).joined(separator: ", ")) loaded other data than rank 0: "
        + "rank 0 read \(descriptions[0]); \(shown)" + (differing.count > 4 ? "; and \(differing.count - 4) more" : "")
        + ". Every rank must train on the same images: give every rank a copy of the same files (--data may differ only "
        + "in where that copy is)")
}
