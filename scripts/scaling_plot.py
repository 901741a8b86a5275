#!/usr/bin/env python3
"""Plot of the weak and strong scaling results written by scaling.sh (needs matplotlib).

    scaling_plot.py --dir RESULTS --out docs/scaling.png

Left: weak scaling, throughput (images/s) against ranks, with the ideal line (1 rank's
throughput x ranks, up to the number of cores) and the cores marked. Right: strong scaling,
seconds per step against ranks, with the ideal line (1 rank's time / ranks, up to the cores).
"""

import argparse
import glob
import json
import os
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def runs(directory, kind):
    paths = glob.glob(os.path.join(directory, f"{kind}-np*.json"))
    results = []
    for path in sorted(paths, key=lambda p: int(re.search(r"np(\d+)", p).group(1))):
        with open(path) as f:
            results.append(json.load(f)[0])
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="folder of scaling.sh's JSON results")
    parser.add_argument("--out", required=True, help="PNG file to write")
    args = parser.parse_args()
    with open(os.path.join(args.dir, "scaling-config.json")) as f:
        meta = json.load(f)

    weak, strong = runs(args.dir, "weak"), runs(args.dir, "strong")
    cores = meta["cores"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for ax in (left, right):
        ax.axvline(meta["cores"], color="grey", linestyle=":", label=f"{meta['cores']} cores")
        ax.set_xlabel("ranks")
        ax.grid(alpha=0.3)
    if weak:
        p = [r["worldSize"] for r in weak]
        left.plot(p, [r["imagesPerSecond"] for r in weak], "o-", label="measured")
        left.plot(p, [weak[0]["imagesPerSecond"] * min(q, cores) / p[0] for q in p], "--",
                  label="ideal: min(ranks, cores) x 1 rank")
        left.set_title(f"weak scaling, {meta['batch_per_rank']} images per rank")
        left.set_ylabel("images / s")
        left.set_xticks(p)
        left.legend()
    if strong:
        p = [r["worldSize"] for r in strong]
        right.plot(p, [r["secondsPerStep"] for r in strong], "o-", label="measured")
        right.plot(p, [strong[0]["secondsPerStep"] * p[0] / min(q, cores) for q in p], "--",
                   label="ideal: 1 rank / min(ranks, cores)")
        right.set_title(f"strong scaling, global batch {meta['global_batch']}")
        right.set_ylabel("seconds / step")
        right.set_xticks(p)
        right.legend()
    fig.suptitle(f"darts-dist search step, {meta['order']} order, C={meta['channels']}, "
                 f"{meta['layers']} cells, 1x{meta['image_size']}x{meta['image_size']}")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"plot written to {args.out}")


if __name__ == "__main__":
    main()
