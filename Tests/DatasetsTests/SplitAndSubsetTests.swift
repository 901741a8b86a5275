import Datasets
import Testing

@Suite struct SplitAndSubsetTests {
    /// Four 1x1x2 images whose pixels are (10n, 10n + 1), labels n.
    let dataset = ImageDataset(
        name: "tiny", images: [0, 1, 10, 11, 20, 21, 30, 31], labels: [0, 1, 2, 3],
        channels: 1, height: 1, width: 2, classCount: 4, normalization: .identity(channels: 1))

    @Test func trainValSplitTakesTheFirstPortionUnshuffled() throws {
        let halves = try splitTrainVal(count: 10, trainPortion: 0.5)
        #expect(halves.train == [0, 1, 2, 3, 4])
        #expect(halves.val == [5, 6, 7, 8, 9])
        let uneven = try splitTrainVal(count: 7, trainPortion: 0.5)
        #expect(uneven.train == [0, 1, 2] && uneven.val == [3, 4, 5, 6])
        let search = try splitTrainVal(count: 60_000, trainPortion: 0.5)
        #expect(search.train.count == 30_000 && search.val.first == 30_000)
    }

    @Test func trainValSplitWithAnEmptyHalfThrows() {
        let error = #expect(throws: DatasetError.self) { try splitTrainVal(count: 1, trainPortion: 0.5) }
        #expect(error?.description.contains("leaves 0 for training and 1 for validation") == true)
        #expect(throws: DatasetError.self) { try splitTrainVal(count: 10, trainPortion: 1.0) }
        #expect(throws: DatasetError.self) { try splitTrainVal(count: 10, trainPortion: 0) }
        #expect(throws: DatasetError.self) { try splitTrainVal(count: 10, trainPortion: 0.05) }
    }

    @Test func subsetGathersImagesAndLabelsInIndexOrder() {
        let picked = dataset.subset([3, 1, 1])
        #expect(picked.count == 3)
        #expect(picked.images == [30, 31, 10, 11, 10, 11])
        #expect(picked.labels == [3, 1, 1])
        #expect(picked.name == "tiny" && picked.width == 2 && picked.classCount == 4)
        #expect(dataset.subset([]).count == 0)
    }

    @Test func prefixKeepsTheFirstImages() {
        #expect(dataset.prefix(2).images == [0, 1, 10, 11])
        #expect(dataset.prefix(2).labels == [0, 1])
        #expect(dataset.prefix(10).count == 4)
        #expect(dataset.prefix(0).count == 0)
    }
}
