#!/usr/bin/env bash
# darts-dist against PyTorch: the same DARTS search step (first and second order) at the same
# configuration on this machine's cores, and a side-by-side table of time and peak memory.
#
#   scripts/compare_pytorch.sh [--layers 8] [--channels 16] [--batch-size 64] [--steps 2]
#                              [--warmup 1] [--cores $(nproc)] [--results DIR] [OUT.md]
#
# OUT.md defaults to docs/performance.md; --batch-size is the global batch; --steps measured steps
# after --warmup unmeasured ones, per order and setup; --results keeps the JSON results (default: a
# new temporary folder). TORCH_PYTHON names the Python that has PyTorch (default:
# .venv-torch/bin/python in this repository or in its parent folder).
#
# darts-dist runs `mpirun -np CORES` with 1 OpenBLAS thread per rank (its best use of the cores),
# with and without --recompute (activation recomputation), and 1 rank with 1 thread for the record; PyTorch (scripts/bench_pytorch.py) runs CORES processes
# x 1 thread and 1 process x CORES threads, and the faster counts. Each order runs in fresh
# processes so every peak RSS is that order's alone. The table goes to stdout and into OUT.md,
# between the markers <!-- compare_pytorch:begin --> and <!-- compare_pytorch:end -->.
#
# The paper configuration takes several minutes (the PyTorch second-order step alone is ~40 s);
# try `scripts/compare_pytorch.sh --layers 5 --channels 8 --batch-size 16 /tmp/small.md` first.
# On a shared machine run it under `nice -n 10`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
layers=8 channels=16 batch=64 steps=2 warmup=1 cores=$(nproc) results="" out=$root/docs/performance.md
while (($#)); do
    case $1 in
        --layers) layers=$2; shift 2 ;;
        --channels) channels=$2; shift 2 ;;
        --batch-size) batch=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --cores) cores=$2; shift 2 ;;
        --results) results=$2; shift 2 ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        -*) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) out=$1; shift ;;
    esac
done
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

binary=$root/.build/release/darts-dist
if [[ ! -x $binary ]]; then
    (cd "$root" && swift build -c release)
fi

if [[ $(id -u) == 0 ]]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
config=(--layers "$layers" --channels "$channels" --batch-size "$batch" --steps "$steps" --warmup "$warmup")

grep -m1 "model name" /proc/cpuinfo | sed 's/.*: //' | tr -d '\n' > "$results/cpu.txt"
echo ", $cores cores, $(free -g | awk '/Mem:/ {print $2}') GB" >> "$results/cpu.txt"
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
    echo "darts-dist, $order order, 1 rank x 1 thread"
    OPENBLAS_NUM_THREADS=1 "$binary" bench "${config[@]}" --order "$order" \
        --json "$results/ours-np1-$order.json"
done

echo "PyTorch, ${cores}x1 and 1x$cores"
"$python" "$root/scripts/bench_pytorch.py" "${config[@]}" --order both \
    --setups "${cores}x1,1x$cores" --json "$results/pytorch.json"

uptime | sed 's/.*load average: //' > "$results/load-after.txt"
echo
python3 "$root/scripts/perf_report.py" compare --dir "$results" --ranks "$cores" --out "$out"
echo
echo "results: $results; table written to $out"
