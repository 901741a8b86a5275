#!/usr/bin/env bash
# Retrains three cells under the same budget and prints their test accuracy side by side:
# the cell a search found, DARTS_V2, and a random cell from the same space
# (`darts-dist genotype --random --seed S`). Every retrain gets the same flags.
#
#   scripts/retrain_compare.sh SEARCH_RUN_DIR OUT_DIR [retrain flags...]
#   scripts/retrain_compare.sh runs/fmnist runs/compare --preset fast --epochs 4
#
# Environment: RANKS (2), RANDOM_SEED (1). Writes OUT_DIR/{searched,darts_v2,random}/ and
# OUT_DIR/comparison.md. Run it again on the same OUT_DIR after an interruption: finished
# retrains are kept, an interrupted one continues from its checkpoint (`retrain --resume`).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
    echo "usage: $0 SEARCH_RUN_DIR OUT_DIR [retrain flags...]" >&2
    exit 64
fi
search="$1"; out="$2"; shift 2
ranks="${RANKS:-2}"; seed="${RANDOM_SEED:-1}"
bin=.build/release/darts-dist
[ -x "$bin" ] || swift build -c release
mkdir -p "$out"
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
launch=(mpirun -np "$ranks" --bind-to none -x OPENBLAS_NUM_THREADS=1 "$bin" retrain)

[ -s "$out/random.genotype.json" ] || "$bin" genotype --random --seed "$seed" --format json > "$out/random.genotype.json"
declare -A genotype=([searched]="$search" [darts_v2]=DARTS_V2 [random]="$out/random.genotype.json")
for name in searched darts_v2 random; do
    if [ -s "$out/$name/result.json" ]; then
        echo "== $name: done before, kept"
    elif [ -s "$out/$name/checkpoint.ckpt" ]; then
        echo "== $name: continuing from its checkpoint"
        "${launch[@]}" --resume "$out/$name"
    else
        echo "== $name: ${genotype[$name]}"
        "${launch[@]}" --genotype "${genotype[$name]}" --out "$out/$name" "$@"
    fi
done

python3 - "$out" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
rows = ["| cell | test top-1 | test top-5 | best top-1 | parameters | minutes | train images/s |",
        "|---|---|---|---|---|---|---|"]
for name in ["searched", "darts_v2", "random"]:
    r = json.loads((out / name / "result.json").read_text())
    rows.append(f"| {name} | {100 * r['testTop1']:.2f}% | {100 * r['testTop5']:.2f}% | {100 * r['bestTestTop1']:.2f}% "
                f"| {r['parameters']:,} | {r['seconds'] / 60:.1f} | {r['imagesPerSecond']:.0f} |")
text = "\n".join(rows) + "\n"
(out / "comparison.md").write_text(text)
print(text, end="")
PY
