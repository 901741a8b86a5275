#!/usr/bin/env python3
"""Markdown tables from `darts-dist bench --json` and `bench_pytorch.py --json` results.

Used by compare_pytorch.sh and scaling.sh (standard library only):

    perf_report.py compare --dir DIR --out FILE    # darts-dist against PyTorch, side by side
                                                   # (--section compare_pytorch_avx2: the AVX2 table)
    perf_report.py scaling --dir DIR --out FILE    # weak and strong scaling at 1, 2, 4 ranks

Each command prints its section and writes it into FILE between the markers
`<!-- NAME:begin -->` and `<!-- NAME:end -->` (replacing the previous section, or appending one).
"""

import argparse
import glob
import json
import os
import re

GB = 1024 ** 3


def load(path):
    with open(path) as f:
        return json.load(f)


def read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return "not recorded"


def replace_section(path, name, body):
    """Writes `body` between the markers of section `name` in `path` (atomically)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    section = f"{begin}\n{body.rstrip()}\n{end}\n"
    text = open(path).read() if os.path.exists(path) else ""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else "") + section
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def ours(directory, name):
    """The single BenchResult in DIR/NAME.json (one order per run)."""
    results = load(os.path.join(directory, name + ".json"))
    assert len(results) == 1, f"{name}.json: expected one result"
    return results[0]


def config_line(config):
    return (f"C={config['channels']}, {config['layers']} cells, "
            f"{config['input_channels']}x{config['image_size']}x{config['image_size']} synthetic "
            f"images, global batch {config['batch_size']}, mean of {config['steps']} measured "
            f"step(s) after {config['warmup']} warm-up per order")


FORMATS = {"contiguous": "NCHW", "channels_last": "channels_last"}


def torch_setup(r):
    """'2x1, channels_last' (results written before the memory format was recorded are NCHW)."""
    return f"{r['worldSize']}x{r['threadsPerRank']}, {FORMATS[r.get('memoryFormat', 'contiguous')]}"


def torch_program(r):
    return "PyTorch, AVX2 only" if r.get("isaEnvironment") else "PyTorch"


def partial_channels(args):
    """K of the partial-channels rows: --partial-channels, or the one in DIR's file names (1: none)."""
    if args.partial_channels is not None:
        return args.partial_channels
    found = sorted(int(m.group(1)) for p in glob.glob(os.path.join(args.dir, "pytorch-pc*.json"))
                   if (m := re.search(r"pytorch-pc(\d+)\.json$", p)))
    return found[0] if found else 1


def compare(args):
    d = args.dir
    torch = load(os.path.join(d, "pytorch.json"))
    k = partial_channels(args)
    pc_path = os.path.join(d, f"pytorch-pc{k}.json")
    torch_pc = load(pc_path) if k > 1 and os.path.exists(pc_path) else None
    config = torch["config"]
    first = torch["results"][0]
    formats = " and ".join(FORMATS[f] for f in config.get("memory_formats", ["contiguous"]))
    restricted = first.get("isaEnvironment")
    isa = (f"CPU capability {first['cpuCapability']}" if "cpuCapability" in first else "")
    if restricted:
        isa += ", run as on an AVX2-only CPU (" + ", ".join(f"{n}={v}" for n, v in restricted.items()) + ")"
    lines = [f"Search step, {config_line(config)}; CPU: {read_text(os.path.join(d, 'cpu.txt'))}.",
             f"darts-dist {read_text(os.path.join(d, 'build.txt'))}: `mpirun -np {args.ranks}`, 1 OpenBLAS "
             f"thread per rank. PyTorch {first['torchVersion']}{f' ({isa})' if isa else ''}: "
             + (f"{args.ranks} processes x 1 thread (gloo, gradients averaged by all_reduce) and 1 process x "
                f"{args.ranks} threads, each" if args.ranks > 1 else "1 process x 1 thread")
             + f" in {formats}; speed-ups and memory ratios against the "
             f"fastest of these per order"
             + (f" (for `--partial-channels {k}`, PyTorch's fastest with partial channels)." if torch_pc else "."),
             f"Load average (1, 5, 15 min) before: {read_text(os.path.join(d, 'load-before.txt'))}; "
             f"after: {read_text(os.path.join(d, 'load-after.txt'))}."]
    for label, reference in (("", torch), (f" with `--partial-channels {k}`", torch_pc)):
        if reference and reference["config"].get("channels_last_left_out"):
            lines.append(f"PyTorch{label}: NCHW only, channels_last left out at this configuration: "
                         f"{reference['config']['channels_last_left_out']}.")
    lines += ["",
             "| order | darts-dist | darts-dist s/step | PyTorch s/step (setup) | speed-up | darts-dist peak RSS "
             "per process / total | PyTorch peak RSS per process / total | memory ratio (total) |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    variants = [("", "keeps activations", torch), ("-recompute", "`--recompute`", torch)]
    if torch_pc:
        variants.append((f"-pc{k}", f"`--partial-channels {k}`", torch_pc))
    for order in ("first", "second"):
        for suffix, variant, reference in variants:
            if order not in reference["best"] or not os.path.exists(
                    os.path.join(d, f"ours-np{args.ranks}-{order}{suffix}.json")):
                continue
            o = ours(d, f"ours-np{args.ranks}-{order}{suffix}")
            t = reference["best"][order]
            o_max, o_sum = max(o["peakResidentBytes"]) / GB, sum(o["peakResidentBytes"]) / GB
            t_max, t_sum = max(t["peakResidentBytes"]) / GB, sum(t["peakResidentBytes"]) / GB
            lines.append(
                f"| {order} | {variant} | {o['secondsPerStep']:.3f} | {t['secondsPerStep']:.3f} "
                f"({torch_setup(t)}) | **{t['secondsPerStep'] / o['secondsPerStep']:.1f}x** | "
                f"{o_max:.2f} / {o_sum:.2f} GB | {t_max:.2f} / {t_sum:.2f} GB | "
                f"**{t_sum / o_sum:.1f}x** less |")
    if torch_pc:
        gains = []
        for order in ("first", "second"):
            plain, pc = (os.path.join(d, f"ours-np{args.ranks}-{order}{s}.json") for s in ("", f"-pc{k}"))
            if order in torch["best"] and order in torch_pc["best"] and os.path.exists(plain) \
                    and os.path.exists(pc):
                o, o_pc = ours(d, f"ours-np{args.ranks}-{order}"), ours(d, f"ours-np{args.ranks}-{order}-pc{k}")
                t, t_pc = torch["best"][order], torch_pc["best"][order]
                gains.append(
                    f"{order} order, darts-dist {o['secondsPerStep']:.3f} -> {o_pc['secondsPerStep']:.3f} s/step "
                    f"({o['secondsPerStep'] / o_pc['secondsPerStep']:.1f}x), "
                    f"{sum(o['peakResidentBytes']) / GB:.2f} -> {sum(o_pc['peakResidentBytes']) / GB:.2f} GB; "
                    f"PyTorch's fastest {t['secondsPerStep']:.3f} -> {t_pc['secondsPerStep']:.3f} s/step "
                    f"({t['secondsPerStep'] / t_pc['secondsPerStep']:.1f}x), "
                    f"{sum(t['peakResidentBytes']) / GB:.2f} -> {sum(t_pc['peakResidentBytes']) / GB:.2f} GB")
        if gains:
            lines += ["", f"What `--partial-channels {k}` changes against plain DARTS at the same configuration "
                      "(step time and total peak RSS, plain -> partial channels): " + "; ".join(gains) + "."]
    lines += ["", "Every setup measured (processes x threads; peak RSS of the largest process, "
              "and summed over processes):", "",
              "| order | program | setup | s/step | fastest | img/s | allreduce s/step | "
              "peak RSS per process | total |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for order in ("first", "second"):
        rows = []
        for name, label in ((f"ours-np{args.ranks}-{order}", f"{args.ranks}x1"),
                            (f"ours-np{args.ranks}-{order}-recompute", f"{args.ranks}x1, --recompute"),
                            (f"ours-np1-{order}" if args.ranks > 1 else "", "1x1"),
                            (f"ours-np{args.ranks}-{order}-pc{k}", f"{args.ranks}x1, --partial-channels {k}")):
            if name and os.path.exists(os.path.join(d, name + ".json")):
                rows.append(("darts-dist", label, ours(d, name)))
        rows += [(torch_program(r), torch_setup(r), r) for r in torch["results"] if r["order"] == order]
        if torch_pc:
            rows += [(torch_program(r), f"{torch_setup(r)}, partial channels 1/{k}", r)
                     for r in torch_pc["results"] if r["order"] == order]
        for program, setup, r in rows:
            lines.append(
                f"| {order} | {program} | {setup} | {r['secondsPerStep']:.3f} | "
                f"{r['fastestStep']:.3f} | {r['imagesPerSecond']:.2f} | "
                f"{r['phaseSeconds'].get('allreduce', 0):.4f} | "
                f"{max(r['peakResidentBytes']) / GB:.2f} GB | "
                f"{sum(r['peakResidentBytes']) / GB:.2f} GB |")
    body = "\n".join(lines)
    print(body)
    if args.out:
        replace_section(args.out, args.section, body)


def scaling(args):
    d = args.dir
    meta = load(os.path.join(d, "scaling-config.json"))
    lines = [f"`darts-dist bench`, C={meta['channels']}, {meta['layers']} cells, "
             f"1x{meta['image_size']}x{meta['image_size']} synthetic images, {meta['order']} order, "
             f"mean of {meta['steps']} measured step(s) after {meta['warmup']} warm-up; "
             f"1 OpenBLAS thread per rank on {meta['cores']} cores "
             f"(more ranks than cores are oversubscribed). CPU: {read_text(os.path.join(d, 'cpu.txt'))}.",
             f"Load average (1, 5, 15 min) before: {read_text(os.path.join(d, 'load-before.txt'))}; "
             f"after: {read_text(os.path.join(d, 'load-after.txt'))}.", "",
             "| scaling | ranks | batch per rank | global batch | s/step | img/s | speed-up "
             "(throughput / 1 rank) | efficiency (speed-up / min(ranks, cores)) | allreduce s/step | wait s/step | "
             "peak RSS per rank |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for kind in ("weak", "strong"):
        runs = sorted(glob.glob(os.path.join(d, f"{kind}-np*.json")),
                      key=lambda p: int(re.search(r"np(\d+)", p).group(1)))
        base = None
        for path in runs:
            r = load(path)[0]
            p = r["worldSize"]
            if base is None:
                base = r
            speedup = r["imagesPerSecond"] / base["imagesPerSecond"]
            lines.append(
                f"| {kind} | {p} | {r['globalBatch'] // p} | {r['globalBatch']} | "
                f"{r['secondsPerStep']:.3f} | {r['imagesPerSecond']:.2f} | {speedup:.2f}x | "
                f"{speedup * base['worldSize'] / min(p, meta['cores']):.0%} | "
                f"{r['phaseSeconds'].get('allreduce', 0):.4f} | "
                f"{r['phaseSeconds'].get('wait', 0):.4f} | "
                f"{max(r['peakResidentBytes']) / GB:.2f} GB |")
    body = "\n".join(lines)
    print(body)
    if args.out:
        replace_section(args.out, "scaling", body)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, function in (("compare", compare), ("scaling", scaling)):
        p = sub.add_parser(name)
        p.add_argument("--dir", required=True, help="folder of the JSON results")
        p.add_argument("--out", help="Markdown file to write the section into")
        if name == "compare":
            p.add_argument("--ranks", type=int, default=2, help="darts-dist's ranks (ours-npN-*.json)")
            p.add_argument("--partial-channels", type=int,
                           help="K of the partial-channels rows (ours-npN-ORDER-pcK.json, pytorch-pcK.json; "
                                "default: the K of DIR's pytorch-pcK.json, if any)")
            p.add_argument("--section", default="compare_pytorch",
                           help="the markers' name in --out (compare_pytorch_avx2 for --isa avx2)")
        p.set_defaults(function=function)
    args = parser.parse_args()
    args.function(args)


if __name__ == "__main__":
    main()
