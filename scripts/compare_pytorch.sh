#!/usr/bin/env bash
# darts-dist against PyTorch: the same DARTS search step (first and second order) at the same
# configuration on this machine's cores, and a side-by-side table of time and peak memory.
#
#   scripts/compare_pytorch.sh [--layers 8] [--channels 16] [--batch-size 64] [--steps 2]
#                              [--warmup 1] [--cores $(nproc)] [--partial-channels 4]
#                              [--isa native|avx2] [--binary PATH] [--results DIR] [OUT.md]
#
# OUT.md defaults to docs/performance.md; --batch-size is the global batch; --steps measured steps
# after --warmup unmeasured ones, per order and setup; --results keeps the JSON results (default: a
# new temporary folder). TORCH_PYTHON names the Python that has PyTorch (default:
# .venv-torch/bin/python in this repository or in its parent folder). --binary names the darts-dist
# to measure (default: .build/release/darts-dist, built if missing).
#
# darts-dist runs `mpirun -np CORES` with 1 OpenBLAS thread per rank (its best use of the cores),
# with and without --recompute (activation recomputation), and 1 rank with 1 thread for the record.
# PyTorch (scripts/bench_pytorch.py) runs CORES processes x 1 thread and 1 process x CORES threads,
# each in both memory formats (contiguous NCHW, and channels_last: model and inputs converted, as
# PyTorch advises for CNNs on CPU); every row stays in the table and the ratios are taken against
# the fastest of the four per order. --partial-channels K (default 4; 1 leaves them out) adds
# PC-DARTS rows on both sides (darts-dist `bench --partial-channels K`, PyTorch's same setups),
# their ratio taken against PyTorch's fastest PC-DARTS setup. Each order runs in fresh processes so
# every peak RSS is that order's alone. The table goes to stdout and into OUT.md, between the
# markers <!-- compare_pytorch:begin --> and <!-- compare_pytorch:end -->.
#
# --isa avx2 runs PyTorch as on an AVX2-only CPU (ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2)
# against an AVX2 darts-dist build (x86-64-v3, see README "Clusters whose nodes differ"; give it
# with --binary), and writes between <!-- compare_pytorch_avx2:begin --> and its end marker, so an
# AVX-512 machine measures both kinds of CPU:
#   DARTS_DIST_CPU=x86-64-v3 swift build -c release --scratch-path .build-avx2
#   scripts/compare_pytorch.sh --isa avx2 --binary .build-avx2/release/darts-dist
#
# The paper configuration takes tens of minutes (the PyTorch second-order step alone is ~40 s, and
# it runs in 4 setups); try `scripts/compare_pytorch.sh --layers 5 --channels 8 --batch-size 16
# /tmp/small.md` first. On a shared machine run it under `nice -n 10`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
layers=8 channels=16 batch=64 steps=2 warmup=1 cores=$(nproc) results="" out=$root/docs/performance.md
partial=4 isa=native binary=$root/.build/release/darts-dist
while (($#)); do
    case $1 in
        --layers) layers=$2; shift 2 ;;
        --channels) channels=$2; shift 2 ;;
        --batch-size) batch=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --cores) cores=$2; shift 2 ;;
        --results) results=$2; shift 2 ;;
        --partial-channels) partial=$2; shift 2 ;;
        --isa) isa=$2; shift 2 ;;
        --binary) binary=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        -*) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) out=$1; shift ;;
    esac
done
case $isa in
    native) section=compare_pytorch; isa_env=() ;;
    avx2) section=compare_pytorch_avx2; isa_env=(ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2) ;;
    *) echo "error: --isa $isa: give native or avx2" >&2; exit 2 ;;
esac
if ! [[ $partial =~ ^[0-9]+$ ]] || ((partial < 1 || channels % partial)); then
    echo "error: --partial-channels $partial must be at least 1 and divide --channels $channels" >&2
    exit 2
fi
results=${results:-$(mktemp -d /tmp/compare-pytorch.XXXXXX)}
mkdir -p "$results"

python=${TORCH_PYTHON:-}
if [[ -z $python ]]; then
    for candidate in "$root/.venv-torch/bin/python" "$root/../.venv-torch/bin/python"; do
        [[ -x $candidate ]] && python=$candidate && break
    done
fi
if [[ -z $python ]] || ! "$python" -c "import torch" 2>/dev/null; then
    echo "error: no Python with PyTorch found; create one with" >&2
    echo "  python3 -m venv .venv-torch && .venv-torch/bin/pip install torch numpy" >&2
    echo "or set TORCH_PYTHON to its python" >&2
    exit 1
fi

if [[ ! -x $binary && $binary == "$root/.build/release/darts-dist" ]]; then
    (cd "$root" && swift build -c release)
fi
if [[ ! -x $binary ]]; then
    echo "error: no darts-dist at $binary" >&2
    exit 1
fi
build=$("$binary" --version)
if [[ $isa == avx2 && $build != *x86-64-v3* ]]; then
    echo "error: --isa avx2 compares with an AVX2 darts-dist build, but $binary is $build; build one with" >&2
    echo "  DARTS_DIST_CPU=x86-64-v3 swift build -c release --scratch-path .build-avx2" >&2
    echo "and give --binary .build-avx2/release/darts-dist" >&2
    exit 2
fi

if [[ $(id -u) == 0 ]]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
config=(--layers "$layers" --channels "$channels" --batch-size "$batch" --steps "$steps" --warmup "$warmup")
setups="${cores}x1,1x$cores"
((cores > 1)) || setups=1x1

echo "$("$root/scripts/cpu_label.sh"), $cores cores, $(free -g | awk '/Mem:/ {print $2}') GB" > "$results/cpu.txt"
echo "$build" > "$results/build.txt"
echo "${isa_env[*]}" > "$results/isa.txt"
uptime | sed 's/.*load average: //' > "$results/load-before.txt"
echo "load average before: $(cat "$results/load-before.txt")"

for order in first second; do
    echo "darts-dist, $order order, $cores ranks x 1 thread"
    mpirun -np "$cores" --bind-to none --mca btl_vader_single_copy_mechanism none \
        -x OPENBLAS_NUM_THREADS=1 "$binary" bench "${config[@]}" --order "$order" \
        --json "$results/ours-np$cores-$order.json"
    echo "darts-dist, $order order, $cores ranks x 1 thread, activations recomputed (--recompute)"
    mpirun -np "$cores" --bind-to none --mca btl_vader_single_copy_mechanism none \
        -x OPENBLAS_NUM_THREADS=1 "$binary" bench "${config[@]}" --order "$order" --recompute \
        --json "$results/ours-np$cores-$order-recompute.json"
    if ((cores > 1)); then
        echo "darts-dist, $order order, 1 rank x 1 thread"
        OPENBLAS_NUM_THREADS=1 "$binary" bench "${config[@]}" --order "$order" \
            --json "$results/ours-np1-$order.json"
    fi
    if ((partial > 1)); then
        echo "darts-dist, $order order, $cores ranks x 1 thread, --partial-channels $partial"
        mpirun -np "$cores" --bind-to none --mca btl_vader_single_copy_mechanism none \
            -x OPENBLAS_NUM_THREADS=1 "$binary" bench "${config[@]}" --order "$order" \
            --partial-channels "$partial" --json "$results/ours-np$cores-$order-pc$partial.json"
    fi
done

echo "PyTorch${isa_env:+ (${isa_env[*]})}, ${cores}x1 and 1x$cores, contiguous and channels_last"
env "${isa_env[@]}" "$python" "$root/scripts/bench_pytorch.py" "${config[@]}" --order both \
    --setups "$setups" --memory-format both --json "$results/pytorch.json"
if ((partial > 1)); then
    echo "PyTorch${isa_env:+ (${isa_env[*]})}, --partial-channels $partial"
    env "${isa_env[@]}" "$python" "$root/scripts/bench_pytorch.py" "${config[@]}" --order both \
        --setups "$setups" --memory-format both --partial-channels "$partial" \
        --json "$results/pytorch-pc$partial.json"
fi

uptime | sed 's/.*load average: //' > "$results/load-after.txt"
echo
python3 "$root/scripts/perf_report.py" compare --dir "$results" --ranks "$cores" \
    --partial-channels "$partial" --section "$section" --out "$out"
echo
echo "results: $results; table written to $out"
