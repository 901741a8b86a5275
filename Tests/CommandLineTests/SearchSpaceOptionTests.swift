import Testing
import Training

/// --partial-channels must divide the channels of every cell (docs/algorithm.md §12), with a
/// message that names the channels and K; search and bench check it alike.
@Suite struct SearchSpaceOptionTests {
    @Test func partialChannelsThatDoNotDivideTheChannelsAreRefusedByName() {
        var search = SearchOptions()
        search.channels = 6
        search.partialChannels = 4
        #expect(throws: (any Error).self) { try search.validate(worldSize: 1) }
        do {
            try search.validate(worldSize: 1)
        } catch {
            #expect("\(error)".contains("--partial-channels 4 does not divide the 6 channels of cell 0 (--channels 6)"), "\(error)")
        }
        var bench = BenchOptions()
        bench.channels = 6
        bench.partialChannels = 4
        #expect(throws: (any Error).self) { try bench.validate(worldSize: 1) }
        search.partialChannels = 0
        do {
            try search.validate(worldSize: 1)
            Issue.record("--partial-channels 0 was accepted")
        } catch {
            #expect("\(error)".contains("--partial-channels 0 must be at least 1"), "\(error)")
        }
    }

    @Test func divisorsOfTheChannelsAreAccepted() throws {
        var search = SearchOptions()
        for k in [1, 2, 4, 8, 16] {
            search.partialChannels = k
            search.auxiliarySkip = k % 4 == 0
            try search.validate(worldSize: 1)
            let config = search.searchConfiguration(inputChannels: 1, imageSize: 28, classes: 10)
            #expect(config.partialChannels == k && config.auxiliarySkip == search.auxiliarySkip)
        }
    }
}
