import DARTS
import Distributed
import Foundation

/// A request to continue a search from its run folder (`darts-dist search --resume RUN_DIR`).
public struct ResumeRequest: Sendable {
    /// A run folder (its newest checkpoint is used) or one checkpoint file of a run folder.
    public var path: String
    /// The options as given on the command line (defaults where a flag was not given).
    public var given: SearchOptions
    /// The flags given on the command line ("--layers", "--data", ...).
    public var givenFlags: Set<String>

    public init(path: String, given: SearchOptions, givenFlags: Set<String>) {
        self.path = path
        self.given = given
        self.givenFlags = givenFlags
    }
}

/// The checkpoint a search resumes from, and the options it goes on with.
struct ResumeState {
    let runFolder: URL
    let checkpointPath: String
    let checkpoint: Checkpoint
    /// The checkpoint's options with the resumable flags given anew (data folder, micro-batches,
    /// report, check and checkpoint intervals).
    let options: SearchOptions

    /// Finds and verifies the checkpoint `request` names (rank 0 only: it reads the run folder).
    /// - Returns: the run folder, the checkpoint file and its bytes, and the run folder's config.json.
    /// - Throws: ``SearchError/resume(_:)`` or ``CheckpointError`` with a sentence naming the file
    ///   and the fix; nothing in the run folder is changed.
    static func locate(_ request: ResumeRequest) throws -> (runFolder: URL, file: URL, bytes: Data, config: SavedRunConfig) {
        let fm = FileManager.default
        let url = URL(fileURLWithPath: request.path)
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw SearchError.resume("--resume \(request.path): no such run folder or checkpoint file")
        }
        let runFolder: URL
        var candidates: [URL]
        if isDirectory.boolValue {
            runFolder = url
            if RunKind.of(folder: url) == .retrain {
                throw SearchError.resume("--resume \(request.path) is a retrain run folder, not a search's; "
                    + RunKind.retrain.whatToDo(with: request.path, finished: RunKind.isFinished(url)))
            }
            candidates = RunFolder.checkpointFiles(in: url)
            let latest = url.appendingPathComponent(RunFile.latestCheckpoint)
            if candidates.isEmpty && fm.fileExists(atPath: latest.path) { candidates = [latest] }
        } else {
            let parent = url.deletingLastPathComponent()
            runFolder = parent.lastPathComponent == RunFile.checkpoints ? parent.deletingLastPathComponent() : parent
            if RunKind.of(file: url) == .retrain || RunKind.of(folder: runFolder) == .retrain {
                throw SearchError.resume("--resume \(request.path) belongs to the retrain run folder \(runFolder.path), "
                    + "not to a search; " + RunKind.retrain.whatToDo(with: runFolder.path, finished: RunKind.isFinished(runFolder)))
            }
            if url.pathExtension != "ckpt" && RunKind.of(file: url) == nil {
                let isRun = fm.fileExists(atPath: runFolder.appendingPathComponent(RunFile.config).path)
                throw SearchError.resume("--resume \(request.path) is not a checkpoint: "
                    + (isRun ? "pass the run folder, --resume \(runFolder.path) (the search goes on from its newest "
                               + "checkpoint), or one of its checkpoints/step_N.ckpt files"
                             : "pass the --out folder of the search to continue"))
            }
            // The file, after the run's earlier step checkpoints (the fallbacks named if it is damaged).
            candidates = RunFolder.checkpointFiles(in: runFolder).filter { $0.lastPathComponent < url.lastPathComponent } + [url]
        }
        let configURL = runFolder.appendingPathComponent(RunFile.config)
        guard fm.fileExists(atPath: configURL.path) else {
            throw SearchError.resume("--resume \(request.path): \(runFolder.path) is not a darts-dist run folder "
                + "(it has no config.json)")
        }
        let config: SavedRunConfig
        do {
            let data: Data
            do {
                data = try SectionFile.contents(of: configURL)
            } catch {
                throw SearchError.resume("cannot read \(configURL.path): \(error)")
            }
            config = try JSONDecoder().decode(SavedRunConfig.self, from: data)
        } catch let error as SearchError {
            throw error
        } catch {
            throw SearchError.resume("\(configURL.path) is damaged: \(jsonProblem(error)). A resume checks that the "
                + "checkpoint belongs to the search this file describes: restore it from a copy of the run folder. "
                + "Nothing was changed")
        }
        if fm.fileExists(atPath: runFolder.appendingPathComponent(RunFile.result).path) {
            throw SearchError.resume("the search in \(runFolder.path) has finished (it has result.json): there is nothing "
                + "to resume; its genotype is in genotype.txt")
        }
        // A search still running before its first checkpoint is named as such, not as stopped.
        try RunFolder.checkNotBeingWritten(runFolder)
        guard let newest = candidates.last else {
            throw SearchError.resume("\(runFolder.path) holds no checkpoint: the search stopped before its first one "
                + "(the end of epoch 1, or --checkpoint-every steps); start it again with a new --out")
        }
        let bytes: Data
        do {
            do { bytes = try SectionFile.contents(of: newest) } catch {
                throw CheckpointError.unreadable(newest.path, "\(error)")
            }
            _ = try Checkpoint(data: bytes, path: newest.path)
        } catch {
            let intact = candidates.dropLast().reversed().compactMap { file -> String? in
                guard let c = try? Checkpoint(contentsOf: file) else { return nil }
                return "\(file.path) (\(c.manifest.position))"
            }
            throw SearchError.resume("\(error)" + (intact.isEmpty
                ? "; the run folder has no earlier intact checkpoint"
                : "; the run folder's earlier intact checkpoints, newest first: " + intact.joined(separator: ", ")
                    + "; resume from one with --resume FILE") + ". Nothing was changed")
        }
        return (runFolder, newest, bytes, config)
    }

    /// The options of the resumed search: the checkpoint's, checked against the run folder's
    /// config.json and the flags given, with the resumable flags taken from the command line.
    /// - Parameters:
    ///   - configOptions: the options in the run folder's config.json (nil: not compared).
    ///   - worldSize: the ranks of this launch.
    /// - Throws: ``SearchError/resume(_:)`` naming the flags at odds and the fix.
    static func resumedOptions(checkpoint: Checkpoint, checkpointPath: String, runFolder: URL,
                               configOptions: SearchOptions?, request: ResumeRequest, worldSize: Int) throws -> SearchOptions {
        let saved = checkpoint.manifest.options
        if let configOptions {
            let differences = differing(configOptions.definingValues, saved.definingValues)
            guard differences.isEmpty else {
                throw SearchError.resume("checkpoint \(checkpointPath) belongs to another search than \(runFolder.path): "
                    + differences.map { "\($0.flag) is \($0.mine) in its config.json, \($0.theirs) in the checkpoint" }
                        .joined(separator: ", ") + "; resume with that search's own run folder")
            }
        }
        let given = request.given
        let explicit = given.definingValues.filter { request.givenFlags.contains($0.flag) }
        let changed = differing(explicit, saved.definingValues)
        guard changed.isEmpty else {
            throw SearchError.resume("--resume continues the search its checkpoint defines, but "
                + changed.map { "\($0.flag) \($0.mine) differs from its \($0.theirs)" }.joined(separator: ", ")
                + "; drop these flags to resume, or start a new search with another --out")
        }
        if request.givenFlags.contains("--out") && URL(fileURLWithPath: given.out).standardized != runFolder.standardized {
            throw SearchError.resume("--out \(given.out) and --resume \(request.path) name different run folders; "
                + "a resumed search writes to the folder it resumes: drop --out")
        }
        // The resumable flags given anew; --accumulate is worked out below.
        var options = saved.copying(request.givenFlags.subtracting(["--accumulate"]).filter { SearchOptions.flag($0)?.resumable == true },
                                    from: given)
        options.out = runFolder.path

        options.accumulate = try MicroBatchSplit.resumedAccumulate(
            savedRanks: checkpoint.manifest.worldSize, savedAccumulate: saved.accumulate, batchSize: saved.batchSize,
            worldSize: worldSize, givenAccumulate: request.givenFlags.contains("--accumulate") ? given.accumulate : nil,
            error: SearchError.resume)
        return options
    }

    /// The flags whose values differ, with both values.
    static func differing(_ mine: [(flag: String, value: String)], _ theirs: [(flag: String, value: String)])
        -> [(flag: String, mine: String, theirs: String)] {
        let other = Dictionary(theirs.map { ($0.flag, $0.value) }, uniquingKeysWith: { a, _ in a })
        return mine.compactMap { item in
            guard let value = other[item.flag], value != item.value else { return nil }
            return (item.flag, item.value, value)
        }
    }
}

/// How a resumed run splits each step over the ranks of its new launch.
enum MicroBatchSplit {
    /// The --accumulate of a run resumed on `worldSize` ranks. Each micro-batch's own batch-norm
    /// statistics shape the gradients, so a step must be split into the same micro-batches as
    /// before: world size x --accumulate must not change (P ranks then train the same weights as one
    /// process accumulating P micro-batches).
    /// - Parameters:
    ///   - savedRanks, savedAccumulate, batchSize: the checkpoint's (validated when it was read:
    ///     positive, their product dividing the batch).
    ///   - givenAccumulate: --accumulate when given with --resume; nil works it out.
    ///   - error: makes the thrown error from its message.
    /// - Returns: world size x the result = savedRanks x savedAccumulate.
    /// - Throws: `error(message)` naming the checkpoint's split and the rank counts that fit it.
    static func resumedAccumulate(savedRanks: Int, savedAccumulate: Int, batchSize: Int, worldSize: Int,
                                  givenAccumulate: Int?, error: (String) -> Error) throws -> Int {
        let microBatches = savedRanks * savedAccumulate
        let why = "the checkpoint was written by \(savedRanks) rank(s) x --accumulate \(savedAccumulate) = "
            + "\(microBatches) micro-batches of \(batchSize / microBatches) images per step"
        let divisors = (1...microBatches).filter { microBatches % $0 == 0 }
        let fix = "resume with P ranks and --accumulate \(microBatches)/P for P in "
            + divisors.map(String.init).joined(separator: ", ")
            + " (each micro-batch's batch-norm statistics shape the gradients, so another split would be another run)"
        if let givenAccumulate {
            guard worldSize.multipliedReportingOverflow(by: givenAccumulate) == (microBatches, false) else {
                throw error("\(why); \(worldSize) rank(s) x --accumulate \(givenAccumulate) would be "
                    + "\(worldSize.multipliedReportingOverflow(by: givenAccumulate).partialValue): \(fix)")
            }
            return givenAccumulate
        }
        guard microBatches % worldSize == 0 else {
            throw error("\(why); \(worldSize) rank(s) cannot share them equally: \(fix)")
        }
        return microBatches / worldSize
    }
}

/// The part of config.json a resume compares with the checkpoint.
struct SavedRunConfig: Decodable {
    let options: SearchOptions
    let worldSize: Int
}

extension SearchJob {
    /// Reads the checkpoint on rank 0, sends it to every rank and works out the resumed options.
    /// - Throws: a ``RankFailure`` on every rank when any check fails.
    func loadResume(_ request: ResumeRequest) throws -> ResumeState {
        var bytes: [UInt8] = []
        var header: [UInt8] = []   // the run folder and checkpoint paths, and config.json's options
        try agree {
            guard isRoot else { return }
            let found = try ResumeState.locate(request)
            bytes = Array(found.bytes)
            let configJSON = try JSONEncoder().encode(found.config.options)
            header = Array(try JSONEncoder().encode([found.runFolder.path, found.file.path,
                                                     String(decoding: configJSON, as: UTF8.self)]))
        }
        communicator.broadcast(bytes: &header, root: 0)
        communicator.broadcast(bytes: &bytes, root: 0)
        var state: ResumeState!
        try agree {
            let strings = try JSONDecoder().decode([String].self, from: Data(header))
            let runFolder = URL(fileURLWithPath: strings[0], isDirectory: true)
            let checkpoint = try Checkpoint(data: Data(bytes), path: strings[1])
            let config = strings[2].isEmpty ? nil : try JSONDecoder().decode(SearchOptions.self, from: Data(strings[2].utf8))
            let options = try ResumeState.resumedOptions(checkpoint: checkpoint, checkpointPath: strings[1],
                runFolder: runFolder, configOptions: config, request: request, worldSize: communicator.worldSize)
            state = ResumeState(runFolder: runFolder, checkpointPath: strings[1], checkpoint: checkpoint, options: options)
        }
        return state
    }
}

extension SearchJob {
    /// Checks that this launch reads the data the checkpoint's search read, then restores the
    /// checkpoint into `state` (each rank its own batch-norm statistics).
    /// - Throws: ``SearchError/resume(_:)`` or ``CheckpointError/mismatch(_:_:)``.
    func checkResume(_ resumed: ResumeState, data: SearchData, state: SearchState) throws {
        let m = resumed.checkpoint.manifest
        // The same counts and the checkpoint's --batch-size give the same steps per epoch.
        if let mismatch = data.mismatch(with: m) {
            throw SearchError.resume("the data in \(data.folder) \(mismatch); resume with the data the search started with (--data)")
        }
        try resumed.checkpoint.restore(into: state, rank: communicator.rank, worldSize: communicator.worldSize,
                                       path: resumed.checkpointPath)
    }
}
