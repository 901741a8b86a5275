import Foundation
import Testing
@testable import darts_dist

/// `genotype`'s output names: a relative and an absolute path to one file name the same file, so
/// `--dot cells.png` (whose PNG would be cells.png itself) is refused however it is written.
@Suite struct GenotypeOutputNameTests {
    @Test func relativeAndAbsolutePathsToOneFileAreTheSame() {
        let folder = FileManager.default.currentDirectoryPath
        #expect(GenotypeCommand.samePath("cells.png", folder + "/cells.png"))
        #expect(GenotypeCommand.samePath("a/../cells.png", "./cells.png"))
        #expect(!GenotypeCommand.samePath("cells.png", "cells.dot"))
        #expect(GenotypeCommand.samePath(GenotypeCommand.pngPath("cells.png"), "cells.png"))
        #expect(GenotypeCommand.pngPath("x/cells.dot") == folder + "/x/cells.png")
        #expect(GenotypeCommand.pngPath("cells") == folder + "/cells.png")
    }
}
