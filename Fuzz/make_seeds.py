#!/usr/bin/env python3
"""Makes the small seeds of the checkpoint, model and metrics harnesses from the files of a real
search and retrain run folder: each file's manifest is kept (options, position, genotype,
history) but its tensors are replaced by a few floats, so that a seed is a few KB and still
passes every check of the reader.

    python3 Fuzz/make_seeds.py SEARCH_RUN RETRAIN_RUN
"""
import json
import struct
import sys
from pathlib import Path

SEEDS = Path(__file__).resolve().parent / "seeds"


def fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def shrink(path: Path, arenas: dict) -> bytes:
    """The file at `path` with each arena's entries replaced by one small tensor, and the
    sections (named in `arenas`: section name -> arena key) resized to match."""
    data = path.read_bytes()
    magic = data[:8]
    length = struct.unpack("<Q", data[8:16])[0]
    manifest = json.loads(data[16:16 + length])
    sizes = {}
    for key, count in {"weightEntries": 3, "alphaEntries": 2, "bufferEntries": 2}.items():
        if key in manifest:
            manifest[key] = [{"name": key[0], "offset": 0, "shape": [count]}]
            sizes[key] = count
    for section in manifest["sections"]:
        section["count"] = sizes[arenas(section["name"])]
    body = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    out = magic + struct.pack("<Q", len(body)) + body
    for i, section in enumerate(manifest["sections"]):
        out += struct.pack("<%df" % section["count"], *[0.5 * (i + 1)] * section["count"])
    return out + struct.pack("<Q", fnv1a(out))


def search_arena(name: str) -> str:
    if name in ("weights", "sgd.momentum"):
        return "weightEntries"
    if name in ("alphas", "adam.m", "adam.v"):
        return "alphaEntries"
    return "bufferEntries"


def main() -> None:
    search, retrain = Path(sys.argv[1]), Path(sys.argv[2])
    for file in sorted((search / "checkpoints").glob("step_*.ckpt")):
        (SEEDS / "checkpoint" / f"search_{file.stem}").write_bytes(shrink(file, search_arena))
    (SEEDS / "checkpoint" / "retrain").write_bytes(
        shrink(retrain / "checkpoint.ckpt", lambda n: "bufferEntries" if n == "buffers" else "weightEntries"))
    (SEEDS / "model" / "model").write_bytes(
        shrink(retrain / "model.bin", lambda n: "bufferEntries" if n == "buffers" else "weightEntries"))
    (SEEDS / "metrics" / "search").write_bytes(b"\0" + (search / "metrics.jsonl").read_bytes())
    (SEEDS / "metrics" / "retrain").write_bytes(b"\1" + (retrain / "metrics.jsonl").read_bytes())


if __name__ == "__main__":
    main()
