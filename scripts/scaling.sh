#!/usr/bin/env bash
# Weak and strong scaling of the DARTS search step: `darts-dist bench` at 1, 2 and 4 ranks
# (1 OpenBLAS thread each; ranks beyond the cores are oversubscribed), a Markdown table and a plot.
#
#   scripts/scaling.sh [--layers 5] [--channels 8] [--order first] [--batch-per-rank 16]
#                      [--global-batch 32] [--ranks "1 2 4"] [--steps 3] [--warmup 1]
#                      [--results DIR] [--plot docs/scaling.png] [OUT.md]
#
# weak:   --batch-per-rank images on every rank (global batch = ranks x batch per rank); ideal is
#         throughput growing with the ranks. The target on a 2-core machine: 2 ranks reach at
#         least 1.8x the throughput (images/s) of 1 rank.
# strong: --global-batch split over the ranks; ideal is the step time falling as 1 / ranks.
# OUT.md defaults to docs/performance.md (section between <!-- scaling:begin --> and
# <!-- scaling:end -->); the plot needs matplotlib in TORCH_PYTHON (default .venv-torch/bin/python
# in this repository or its parent folder; skipped with a note when missing). The defaults are a
# modest configuration that takes a few minutes on 2 cores; the paper's is
# `--layers 8 --channels 16 --batch-per-rank 32 --global-batch 64`. Run it under `nice -n 10` on
# a shared machine.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
layers=5 channels=8 order=first per_rank=16 global=32 ranks="1 2 4" steps=3 warmup=1
results="" plot=$root/docs/scaling.png out=$root/docs/performance.md
while (($#)); do
    case $1 in
        --layers) layers=$2; shift 2 ;;
        --channels) channels=$2; shift 2 ;;
        --order) order=$2; shift 2 ;;
        --batch-per-rank) per_rank=$2; shift 2 ;;
        --global-batch) global=$2; shift 2 ;;
        --ranks) ranks=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --results) results=$2; shift 2 ;;
        --plot) plot=$2; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        -*) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) out=$1; shift ;;
    esac
done
[[ $order == first || $order == second ]] || { echo "error: --order $order: use first or second" >&2; exit 2; }
for p in $ranks; do
    if ((global % p != 0 || global / p < 2)); then
        echo "error: --global-batch $global must split into $p shards of at least 2 images; use a multiple of $p" >&2
        exit 2
    fi
done
results=${results:-$(mktemp -d /tmp/scaling.XXXXXX)}
mkdir -p "$results"
rm -f "$results"/weak-np*.json "$results"/strong-np*.json

binary=$root/.build/release/darts-dist
[[ -x $binary ]] || (cd "$root" && swift build -c release)
if [[ $(id -u) == 0 ]]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
cores=$(nproc)
common=(--layers "$layers" --channels "$channels" --order "$order" --steps "$steps" --warmup "$warmup")

run() {   # run RANKS GLOBAL_BATCH JSON
    local p=$1 batch=$2 json=$3
    echo "$p rank(s), global batch $batch"
    if ((p == 1)); then
        OPENBLAS_NUM_THREADS=1 "$binary" bench "${common[@]}" --batch-size "$batch" --json "$json"
    else
        mpirun -np "$p" --oversubscribe --bind-to none --mca btl_vader_single_copy_mechanism none \
            -x OPENBLAS_NUM_THREADS=1 "$binary" bench "${common[@]}" --batch-size "$batch" --json "$json"
    fi
}

echo "$("$root/scripts/cpu_label.sh"), $cores cores" > "$results/cpu.txt"
uptime | sed 's/.*load average: //' > "$results/load-before.txt"
echo "load average before: $(cat "$results/load-before.txt")"
cat > "$results/scaling-config.json" <<EOF
{"layers": $layers, "channels": $channels, "image_size": 28, "order": "$order", "steps": $steps,
 "warmup": $warmup, "batch_per_rank": $per_rank, "global_batch": $global, "cores": $cores}
EOF
for p in $ranks; do run "$p" $((p * per_rank)) "$results/weak-np$p.json"; done
for p in $ranks; do run "$p" "$global" "$results/strong-np$p.json"; done
uptime | sed 's/.*load average: //' > "$results/load-after.txt"

echo
python3 "$root/scripts/perf_report.py" scaling --dir "$results" --out "$out"
python=${TORCH_PYTHON:-}
if [[ -z $python ]]; then
    for candidate in "$root/.venv-torch/bin/python" "$root/../.venv-torch/bin/python"; do
        [[ -x $candidate ]] && python=$candidate && break
    done
fi
if [[ -n $python ]] && "$python" -c "import matplotlib" 2>/dev/null; then
    "$python" "$root/scripts/scaling_plot.py" --dir "$results" --out "$plot"
else
    echo "no plot: matplotlib not found (pip install matplotlib into a virtual environment, set TORCH_PYTHON)"
fi
echo "results: $results; table written to $out"
