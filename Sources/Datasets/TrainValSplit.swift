/// The search's split of the training set into a half that trains the weights w and a half
/// that trains the architecture alpha, as the official DARTS `train_search.py` does: the first
/// floor(trainPortion * count) indices train, the rest validate, with no shuffle (each half
/// is shuffled later by its own sampler).
///
/// - Parameters:
///   - count: the number of training items.
///   - trainPortion: the fraction for the weights (DARTS uses 0.5), in (0, 1).
/// - Returns: the two index lists, in increasing order.
/// - Throws: `DatasetError.invalidParameters` when the portion is outside (0, 1) or either half
///   would be empty: the search needs both.
public func splitTrainVal(count: Int, trainPortion: Double) throws -> (train: [Int], val: [Int]) {
    guard trainPortion > 0, trainPortion < 1 else {
        throw DatasetError.invalidParameters(
            "train portion \(trainPortion) must be strictly between 0 and 1 (DARTS uses 0.5)")
    }
    let split = Int((trainPortion * Double(count)).rounded(.down))
    guard split > 0, split < count else {
        throw DatasetError.invalidParameters(
            "train portion \(trainPortion) of \(count) items leaves \(split) for training and "
            + "\(count - split) for validation; both halves need at least one item, use more data "
            + "or a portion nearer 0.5")
    }
    return (Array(0..<split), Array(split..<count))
}
