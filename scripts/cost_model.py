#!/usr/bin/env python3
"""Cost model of the data-parallel DARTS search step: measured compute + ring-allreduce alpha-beta.

    cost_model.py --allreduce allreduce-np2.json --compute ours-np1-first.json \\
        --compute ours-np1-second.json [--measured weak-np2.json ...] [--out docs/cost-model.md]

Inputs (JSON written by darts-dist):
  --allreduce  `mpirun -np 2 darts-dist bench --allreduce-timing --json F`: allreduceMean time per
               message size on this machine, and alpha, beta of the ring model fitted to it.
  --compute    `darts-dist bench --order first|second --json F` on ONE rank: the compute time of
               one step at that batch (the per-rank batch of the prediction), and the weight count.
  --measured   `mpirun -np P darts-dist bench --json F` results (P >= 2) to check the model against.

Model (Thakur, Rabenseifner, Gropp 2005), n in bytes, P ranks:
    T_allreduce(n, P) = 2 (P - 1) alpha + 2 (P - 1) / P * n * beta
One search step, from the code (Sources/Training/SearchStep.swift, Sources/DARTS/Architect.swift):
    first order:  1 allreduce of the weight gradients (weight step)
                  + 1 of the alpha gradients (architecture step)
    second order: 3 of the weights (virtual step g, v at w', weight step)
                  + 3 of the alphas (dalpha at w', g+, g-)
The allreduces do not overlap the compute, so under weak scaling (fixed batch per rank)
    T_step(P) = T_compute + T_comm(P),  efficiency(P) = T_compute / T_step(P).
On a network, alpha = measured alpha (software) + the link's latency, beta = measured beta (the
local copies and sums of the allreduce) + 8 / bandwidth (in bits/s); the link latencies are
assumptions (--latency-us), not measurements.

Writes the Markdown tables to stdout and, with --out, between the markers
<!-- cost_model:begin --> and <!-- cost_model:end --> of that file.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perf_report import replace_section  # noqa: E402

# Allreduces per step, (of the weights, of the alphas), counted in the code (see the docstring).
ALLREDUCES = {"first": (1, 1), "second": (3, 3)}
NETWORKS_GBPS = (10, 25, 100)
RANKS = (8, 16, 32, 64, 128, 256)


def allreduce_seconds(n_bytes, p, alpha, beta):
    """Ring allreduce of n_bytes over p ranks: 2 (p-1) alpha + 2 (p-1)/p n beta (0 for p = 1)."""
    if p == 1:
        return 0.0
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * n_bytes * beta


def comm_seconds(order, weights, alphas, p, alpha, beta):
    """Seconds per step in allreduce for `order`, with weight and alpha counts in floats."""
    k_w, k_a = ALLREDUCES[order]
    return (k_w * allreduce_seconds(4 * weights, p, alpha, beta)
            + k_a * allreduce_seconds(4 * alphas, p, alpha, beta))


def load_one(path):
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, list):
        if len(data) != 1:
            sys.exit(f"{path}: expected the result of one order (bench --order first|second)")
        data = data[0]
    return data


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--allreduce", required=True, help="bench --allreduce-timing JSON")
    parser.add_argument("--compute", action="append", required=True,
                        help="1-rank bench JSON of one order (repeatable)")
    parser.add_argument("--measured", action="append", default=[],
                        help="P-rank bench JSON to check the model against (repeatable)")
    parser.add_argument("--cores", type=int, default=os.cpu_count(),
                        help="cores of the machine the --measured runs used (oversubscribed "
                             "ranks share them, which slows their compute by ranks / cores)")
    parser.add_argument("--latency-us", type=float, nargs=3, default=(20.0, 10.0, 2.0),
                        metavar=("L10", "L25", "L100"),
                        help="assumed link latency per message, microseconds, of the 10, 25 and "
                             "100 Gb/s networks (typical MPI over TCP on 10/25 GbE, InfiniBand)")
    parser.add_argument("--out", help="Markdown file to write the section into")
    parser.add_argument("--note", default="", help="a line added under the heading (load, date)")
    args = parser.parse_args()

    timing = load_one(args.allreduce)
    alpha, beta = timing["alpha"], timing["beta"]
    computes = [load_one(path) for path in args.compute]
    for c in computes:
        if c["worldSize"] != 1:
            sys.exit(f"--compute needs 1-rank results; got {c['worldSize']} ranks")

    out = []
    if args.note:
        out += [args.note, ""]
    out += [f"Allreduce on this machine (`allreduceMean`, {timing['worldSize']} ranks, shared "
            f"memory; median of the slowest rank):", "",
            "| message | seconds | GB/s | model (alpha, beta) |", "|---:|---:|---:|---:|"]
    for n, t in zip(timing["messageBytes"], timing["seconds"]):
        model = allreduce_seconds(n, timing["worldSize"], alpha, beta)
        out.append(f"| {n / 1e6:.3f} MB | {t * 1e3:.3f} ms | {n / t / 1e9:.2f} | "
                   f"{model * 1e3:.3f} ms |")
    out += ["", f"Fitted: **alpha = {alpha * 1e6:.2f} us** per step of the ring, "
            f"**beta = {beta:.3g} s/byte** ({1 / beta / 1e9:.2f} GB/s).", ""]

    out += ["Compute per step on one rank (1 OpenBLAS thread; `darts-dist bench`, no allreduce):",
            "", "| order | batch per rank | weights | allreduces per step (weights + alphas) | "
            "compute s/step | allreduce bytes per step |", "|---|---:|---:|---:|---:|---:|"]
    for c in computes:
        k_w, k_a = ALLREDUCES[c["order"]]
        out.append(f"| {c['order']} | {c['globalBatch']} | {c['weightCount']:,} | "
                   f"{k_w} + {k_a} | {c['secondsPerStep']:.3f} | "
                   f"{(k_w * c['weightCount'] + k_a * c['alphaCount']) * 4 / 1e6:.1f} MB |")

    out += ["", "Predicted weak-scaling efficiency T_compute / (T_compute + T_comm(P)) "
            "(alpha = measured + link latency, beta = measured + 8 / bandwidth):", "",
            "| order | batch per rank | network (latency) | "
            + " | ".join(f"P={p}" for p in RANKS) + " |",
            "|---|---:|---|" + "---:|" * len(RANKS)]
    for c in computes:
        for gbps, latency in zip(NETWORKS_GBPS, args.latency_us):
            a = alpha + latency * 1e-6
            b = beta + 8 / (gbps * 1e9)
            cells = []
            for p in RANKS:
                t_comm = comm_seconds(c["order"], c["weightCount"], c["alphaCount"], p, a, b)
                cells.append(f"{c['secondsPerStep'] / (c['secondsPerStep'] + t_comm):.1%}")
            out.append(f"| {c['order']} | {c['globalBatch']} | {gbps} Gb/s ({latency:g} us) | "
                       + " | ".join(cells) + " |")

    if args.measured:
        out += ["", f"Check against measured runs on this machine ({args.cores} cores; compute "
                f"= the 1-rank time of the same order and batch per rank x max(1, ranks / cores)):",
                "", "| order | ranks | batch per rank | allreduce s/step measured | model | "
                "s/step measured | model |", "|---|---:|---:|---:|---:|---:|---:|"]
        for path in args.measured:
            m = load_one(path)
            p = m["worldSize"]
            per_rank = m["globalBatch"] // p
            base = next((c for c in computes if c["order"] == m["order"]
                         and c["globalBatch"] == per_rank and c["weightCount"] == m["weightCount"]),
                        None)
            t_comm = comm_seconds(m["order"], m["weightCount"], m["alphaCount"], p, alpha, beta)
            step = (f"{base['secondsPerStep'] * max(1, p / args.cores) + t_comm:.3f}"
                    if base else "no 1-rank run")
            out.append(f"| {m['order']} | {p} | {per_rank} | "
                       f"{m['phaseSeconds'].get('allreduce', 0):.4f} | {t_comm:.4f} | "
                       f"{m['secondsPerStep']:.3f} | {step} |")

    body = "\n".join(out)
    print(body)
    if args.out:
        replace_section(args.out, "cost_model", body)


if __name__ == "__main__":
    main()
