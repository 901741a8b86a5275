#!/usr/bin/env bash
# Fuzzes the readers of IDX, CIFAR-10, .npy, .npz, PNG, JPEG, genotype, checkpoint, model and
# metrics files with libFuzzer: builds the library modules with coverage and AddressSanitizer
# (swift build --build-path .build/fuzz), links each harness of Fuzz/harnesses against them, and
# runs each for SECONDS (default 60), one at a time, from the seeds in Fuzz/seeds/HARNESS. New inputs go to .build/fuzz/corpus/HARNESS (not committed);
# a crash is written to .build/fuzz/crashes/ and ends the script with a non-zero exit.
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]     e.g. scripts/fuzz.sh 600 idx_gzip
#
# Harnesses: idx_raw idx_gzip cifar genotype_text genotype_json nni_json checkpoint model metrics
# npy npz png jpeg.
# Prints one line per harness: seconds, executions, coverage (edges), features and corpus size.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${1:-60}
shift || true
all=(idx_raw idx_gzip cifar genotype_text genotype_json nni_json checkpoint model metrics npy npz png jpeg)
harnesses=("${@:-${all[@]}}")

# The source of each harness (harnesses that share an entry point differ in their seeds).
source_of() {
    case "$1" in
        idx_raw|idx_gzip) echo idx ;;
        genotype_text|genotype_json|nni_json) echo genotype ;;
        npy|npz) echo numpy ;;
        png|jpeg) echo image ;;
        *) echo "$1" ;;
    esac
}

build=.build/fuzz
swift build --build-path "$build" --target Training \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing 2>&1 | grep -E "error|warning: |Compiling|Build" || true
objects=()
for module in DartsTensor InputText NN Distributed DARTS Datasets Training Logging; do
    objects+=("$build"/debug/"$module".build/*.o)
done
mkdir -p "$build/bin" "$build/crashes"
read -r -a cflags <<< "$(pkg-config --cflags ompi-c openblas)"
read -r -a libs <<< "$(pkg-config --libs ompi-c openblas zlib libpng libjpeg)"
xcc=()
for flag in "${cflags[@]}"; do xcc+=(-Xcc "$flag"); done

failed=()
for name in "${harnesses[@]}"; do
    src=Fuzz/harnesses/$(source_of "$name").swift
    [ -f "$src" ] || { echo "no harness $name (known: ${all[*]})" >&2; exit 2; }
    bin=$build/bin/$(source_of "$name")
    if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ -n "$(find "$build/debug/Modules" -newer "$bin" -name '*.swiftmodule' | head -1)" ]; then
        swiftc -sanitize=fuzzer,address -parse-as-library -g -I "$build/debug/Modules" \
            -I Sources/CMPI -I Sources/CBLAS -I Sources/SystemZlib -I Sources/CPNG -I Sources/CJPEG "${xcc[@]}" \
            "$src" "${objects[@]}" "${libs[@]}" -o "$bin" 2>&1 | { grep -v "Cannot export local symbol" || true; }
        [ -x "$bin" ] || { echo "cannot link $bin" >&2; exit 2; }
    fi
    corpus=$build/corpus/$name
    mkdir -p "$corpus"
    log=$build/$name.log
    # -rss_limit_mb: a reader that allocates what a file claims fails here. -timeout: a reader
    # that loops on an input fails here.
    # -jobs=1 runs one fuzzing process (one core); it logs to fuzz-0.log in the current folder,
    # one per harness, so that two scripts can fuzz different harnesses at once.
    (mkdir -p "$build/work/$name" && cd "$build/work/$name" && ASAN_OPTIONS=detect_leaks=0 "$root/$bin" -jobs=1 -workers=1 -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$root/$build/crashes/$name-" -print_final_stats=1 \
        "$root/$corpus" "$root/Fuzz/seeds/$name") > "$log" 2>&1 || {
        echo "$name: the fuzzer stopped on a failure; see $log and $build/crashes/" >&2
        grep -A30 -E "^==[0-9]+==|Fatal error|deadly signal|timeout|out-of-memory" "$log" | head -60 >&2
        failed+=("$name")
        continue
    }
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*' || echo "?")
    ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*' || echo "?")
    size=$(ls "$corpus" | wc -l)
    printf '%-14s %6ss  %10s executions  coverage %5s edges  %6s features  corpus %5s inputs\n' \
        "$name" "$seconds" "$execs" "$cov" "$ft" "$size"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found failures in: ${failed[*]}" >&2
    exit 1
fi
