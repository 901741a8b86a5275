#!/usr/bin/env python3
"""Time the DARTS search step in PyTorch on the CPU: the baseline `darts-dist bench` is compared with.

The step is the one of scripts/torch_reference.py (docs/algorithm.md section 3): the architecture step on
a val batch (first or second order), then the weight step on a train batch, on synthetic data
(random pixels and labels), with the paper's optimizers. The network, the architect and the step
are imported from torch_reference.py, not rewritten here.

Each setup runs in fresh processes, one per rank, so that every peak RSS is that of one order
alone. A setup is P processes x T threads in one memory format:
  - P = 1: one process computes the whole global batch with T intra-op threads;
  - P > 1: torch.distributed over gloo, each rank computes its shard of the global batch and every
    gradient list (weights and alphas, including the virtual step's and the finite-difference
    ones) is averaged with one dist.all_reduce of a flat buffer before it is used. This is the
    data parallelism DARTS needs; DistributedDataParallel's hooks do not see torch.autograd.grad,
    so DDP would silently use local gradients in the architect step (docs/algorithm.md section 9, fault 7).
  - memory format `contiguous` (NCHW) or `channels_last` (NHWC: the model and the images are
    converted with `.to(memory_format=torch.channels_last)`, PyTorch's advice for CNNs on CPU,
    which runs oneDNN's NHWC kernels); `--memory-format both` measures each.

`--partial-channels K` times PC-DARTS' step instead (partial channel connections with channel
shuffle and edge normalization, the `partial_channels` option of torch_reference.py's Network).
PyTorch picks its kernels for the CPU it runs on; ATEN_CPU_CAPABILITY=avx2 and
ONEDNN_MAX_CPU_ISA=AVX2 in the environment make it run as on an AVX2-only CPU (each result
records the capability PyTorch used, `cpuCapability`).

Reported per order and setup: seconds per step (mean of the measured steps after the warm-up,
each step between two barriers), the fastest step, images/s, the seconds per step in all_reduce
(rank 0), and the peak resident memory of every process (getrusage ru_maxrss). The run fails if
the ranks end with different weights or alphas. The fastest result per order is `best` in the
JSON.

Usage:
    .venv-torch/bin/python scripts/bench_pytorch.py      # paper config, 2x1 and 1x2, both formats
    .venv-torch/bin/python scripts/bench_pytorch.py --channels 8 --layers 5 --batch-size 16 \\
        --order first --setups 2x1 --memory-format channels_last --json /tmp/torch.json
    .venv-torch/bin/python scripts/bench_pytorch.py --partial-channels 4   # PC-DARTS' step
"""

import argparse
import hashlib
import json
import os
import platform
import resource
import socket
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402

MEMORY_FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
ISA_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")


def parse_setup(text):
    """'2x1' -> (2 processes, 1 thread each)."""
    try:
        processes, threads = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"setup {text!r}: write PROCESSESxTHREADS, e.g. 2x1") from None
    if processes < 1 or threads < 1:
        raise argparse.ArgumentTypeError(f"setup {text!r}: processes and threads must be at least 1")
    return processes, threads


def channels_last_hazard(args):
    """Why channels_last cannot run at this configuration, or None.

    PyTorch 2.15 on CPU corrupts the heap (SIGABRT or SIGSEGV within a few steps) in a 1x1
    convolution at stride 2 on fewer than 8 input channels in channels_last; FactorizedReduce has
    such convolutions on the edges of reduction cells, with 2C/K input channels.
    """
    net = ref.Network(C=args.channels, num_classes=args.classes, layers=args.layers,
                      input_channels=args.input_channels, partial_channels=args.partial_channels)
    small = sorted({m.in_channels for m in net.modules() if isinstance(m, torch.nn.Conv2d)
                    and m.kernel_size == (1, 1) and m.stride == (2, 2) and m.in_channels < 8})
    if small:
        return (f"its 1x1 stride-2 convolutions on {small[0]} input channels crash PyTorch in "
                "channels_last (fewer than 8 input channels; raise --channels or lower "
                "--partial-channels)")
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_average(world_size, seconds):
    """The mean over ranks of a list of gradients: one all_reduce of their concatenation.

    `seconds` (a one-element list) accumulates the wall-clock time spent in all_reduce.
    """
    if world_size == 1:
        return ref.local_gradients

    def average(grads):
        flat = torch.cat([g.reshape(-1) for g in grads])
        start = time.perf_counter()
        dist.all_reduce(flat)
        seconds[0] += time.perf_counter() - start
        flat.div_(world_size)
        out, offset = [], 0
        for g in grads:
            out.append(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()
        return out

    return average


def worker(rank, args, setup, order, memory_format, port, queue):
    """One rank: build the network, run warm-up + measured steps, report to rank 0's queue."""
    world_size, threads = setup
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    if world_size > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}",
                                rank=rank, world_size=world_size)
    torch.manual_seed(args.seed)
    net = ref.Network(C=args.channels, num_classes=args.classes, layers=args.layers,
                      input_channels=args.input_channels, partial_channels=args.partial_channels)
    if world_size > 1:  # the same start on every rank
        with torch.no_grad():
            for t in list(net.parameters()) + net.arch_parameters():
                dist.broadcast(t, 0)
    layout = MEMORY_FORMATS[memory_format]
    net.to(memory_format=layout)  # the 4-d weights, in place (the parameters stay the same tensors)
    weight_optimizer = ref.make_weight_optimizer(net)
    alpha_optimizer = ref.make_alpha_optimizer(net)

    micro = args.batch_size // world_size
    generator = torch.Generator().manual_seed(args.seed + rank)
    shape = (micro, args.input_channels, args.image_size, args.image_size)
    x_train, x_val = (torch.randn(shape, generator=generator).contiguous(memory_format=layout)
                      for _ in range(2))
    y_train, y_val = (torch.randint(0, args.classes, (micro,), generator=generator)
                      for _ in range(2))

    comm = [0.0]
    average = make_average(world_size, comm)
    times = []
    for i in range(args.warmup + args.steps):
        if i == args.warmup:
            comm[0] = 0.0
        if world_size > 1:
            dist.barrier()
        start = time.perf_counter()
        ref.search_step(net, weight_optimizer, alpha_optimizer, x_train, y_train, x_val, y_val,
                        second_order=(order == "second"), average=average)
        if world_size > 1:
            dist.barrier()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    # Data parallelism is right only if every rank ends with the same weights and alphas.
    state = torch.cat([t.detach().reshape(-1) for t in list(net.parameters()) + net.arch_parameters()])
    digest = hashlib.sha256(state.numpy().tobytes()).hexdigest()
    if world_size > 1:
        all_rss, digests = [None] * world_size, [None] * world_size
        dist.all_gather_object(all_rss, rss)
        dist.all_gather_object(digests, digest)
        dist.destroy_process_group()
    else:
        all_rss, digests = [rss], [digest]
    if rank == 0:
        mean = sum(times) / len(times)
        queue.put({
            "framework": "pytorch", "torchVersion": torch.__version__,
            "order": order, "worldSize": world_size, "threadsPerRank": threads,
            "memoryFormat": memory_format, "partialChannels": args.partial_channels,
            "cpuCapability": torch.backends.cpu.get_cpu_capability(),
            "isaEnvironment": {k: os.environ[k] for k in ISA_VARIABLES if k in os.environ},
            "globalBatch": args.batch_size, "secondsPerStep": mean, "fastestStep": min(times),
            "stepSeconds": times, "imagesPerSecond": args.batch_size / mean,
            "phaseSeconds": {"allreduce": comm[0] / len(times)},
            "peakResidentBytes": all_rss, "hosts": [platform.node()] * world_size,
            "ranksIdentical": len(set(digests)) == 1,
        })


def measure(args, setup, order, memory_format):
    context = mp.get_context("spawn")
    queue = context.SimpleQueue()
    mp.start_processes(worker, args=(args, setup, order, memory_format, free_port(), queue),
                       nprocs=setup[0], join=True, start_method="spawn")
    return queue.get()


def table(results, args):
    pc = f", partial channels 1/{args.partial_channels}" if args.partial_channels > 1 else ""
    lines = [f"PyTorch {torch.__version__} search step{pc}: C={args.channels}, {args.layers} cells, "
             f"{args.input_channels}x{args.image_size}x{args.image_size}, global batch "
             f"{args.batch_size}, {args.steps} measured step(s) after {args.warmup} warm-up; "
             f"CPU capability {results[0]['cpuCapability']}",
             f"{'order':<7} {'setup':>6} {'format':<14} {'s/step':>9} {'fastest':>9} {'img/s':>8} "
             f"{'allreduce':>10} {'peak RSS/process':>17} {'total RSS':>10}"]
    for r in results:
        gb = 1024 ** 3
        lines.append(f"{r['order']:<7} {r['worldSize']:>4}x{r['threadsPerRank']} {r['memoryFormat']:<14} "
                     f"{r['secondsPerStep']:>9.3f} {r['fastestStep']:>9.3f} "
                     f"{r['imagesPerSecond']:>8.2f} {r['phaseSeconds']['allreduce']:>10.4f} "
                     f"{max(r['peakResidentBytes']) / gb:>14.2f} GB "
                     f"{sum(r['peakResidentBytes']) / gb:>7.2f} GB")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--layers", type=int, default=8, help="cells in the search network")
    parser.add_argument("--channels", type=int, default=16, help="initial channels C")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="global batch, split over the processes")
    parser.add_argument("--input-channels", type=int, default=1, help="image channels")
    parser.add_argument("--image-size", type=int, default=28, help="image height and width")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--steps", type=int, default=2, help="measured steps per order and setup")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured steps before them")
    parser.add_argument("--order", choices=["first", "second", "both"], default="both")
    parser.add_argument("--setups", default="2x1,1x2",
                        help="comma-separated PROCESSESxTHREADS setups to measure, e.g. 2x1,1x2")
    parser.add_argument("--memory-format", choices=["contiguous", "channels_last", "both"],
                        default="both", help="NCHW (contiguous), NHWC (channels_last) or each")
    parser.add_argument("--partial-channels", type=int, default=1, metavar="K",
                        help="PC-DARTS: each edge's operations see 1/K of its channels (1: DARTS)")
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--json", help="write every result (and the best per order) to this file")
    args = parser.parse_args()

    try:
        setups = [parse_setup(s) for s in args.setups.split(",") if s]
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    for processes, _ in setups:
        if args.batch_size % processes or args.batch_size // processes < 2:
            parser.error(f"--batch-size {args.batch_size} must split into {processes} shards of "
                         f"at least 2 images (batch norm needs 2); use a multiple of {processes}")
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be at least 1 and --warmup at least 0")
    if args.layers < 3 or args.channels < 2 or args.channels % 2 or args.image_size % 4:
        parser.error("--layers must be at least 3, --channels even, --image-size a multiple of 4")
    if args.partial_channels < 1 or args.channels % args.partial_channels:
        parser.error(f"--partial-channels {args.partial_channels} must be at least 1 and divide "
                     f"--channels {args.channels}")
    formats = ["contiguous", "channels_last"] if args.memory_format == "both" else [args.memory_format]
    hazard = channels_last_hazard(args) if "channels_last" in formats else None
    if hazard and args.memory_format == "channels_last":
        parser.error(f"channels_last at this configuration: {hazard}")
    elif hazard:
        print(f"note: channels_last left out: {hazard}", file=sys.stderr)
        formats = ["contiguous"]

    orders = ["first", "second"] if args.order == "both" else [args.order]
    results = []
    for order in orders:
        for memory_format in formats:
            for setup in setups:
                results.append(measure(args, setup, order, memory_format))
                print(f"  {order} order, {setup[0]}x{setup[1]}, {memory_format}: "
                      f"{results[-1]['secondsPerStep']:.3f} s/step", file=sys.stderr, flush=True)
                if not results[-1]["ranksIdentical"]:
                    sys.exit(f"error: {order} order, {setup[0]}x{setup[1]}, {memory_format}: the "
                             "ranks ended with different weights or alphas")
    best = {o: min((r for r in results if r["order"] == o), key=lambda r: r["secondsPerStep"])
            for o in orders}
    print(table(results, args))
    for o in orders:
        print(f"best {o} order: {best[o]['worldSize']}x{best[o]['threadsPerRank']}, "
              f"{best[o]['memoryFormat']} ({best[o]['secondsPerStep']:.3f} s/step)")
    if args.json:
        config = {k: getattr(args, k) for k in ("layers", "channels", "batch_size", "input_channels",
                                                "image_size", "classes", "steps", "warmup", "seed",
                                                "partial_channels")}
        config["memory_formats"] = formats
        if hazard:
            config["channels_last_left_out"] = hazard
        with open(args.json + ".tmp", "w") as f:
            json.dump({"config": config, "results": results, "best": best}, f, indent=2)
            f.write("\n")
        os.replace(args.json + ".tmp", args.json)


if __name__ == "__main__":
    main()
