#!/usr/bin/env python3
"""Checks `darts-dist export` numerically: PyTorch (safetensors) and onnxruntime (ONNX) against `darts-dist evaluate`.

For a retrain run folder (or model.bin), it runs in a temporary folder:
    darts-dist evaluate --model MODEL --test-subset N --save-logits DIR   (the normalized test images, labels, logits)
    darts-dist export --model MODEL --format safetensors|onnx --out FILE
then feeds the same images to scripts/torch_network.py's network (loaded with strict=True) and to an
onnxruntime session, and compares the logits with darts-dist's: the largest absolute difference must be
at most --tolerance (1e-4) and the top-1 class the same for every image. Prints one line per runtime and
exits 1 if a check fails.

Needs torch, safetensors, onnx, onnxruntime and numpy (a virtual environment; CI does not run this).

Usage:
    python scripts/check_export.py --model runs/retrain [--binary .build/release/darts-dist] [--images 256]
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def run(command):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def compare(name, logits, reference, labels, tolerance):
    diff = float(np.abs(logits - reference).max())
    same = int((logits.argmax(1) == reference.argmax(1)).sum())
    accuracy = float((logits.argmax(1) == labels).mean())
    ok = diff <= tolerance and same == len(reference)
    print(f"{name}: max |logit difference| {diff:.3g}, top-1 agreement {same}/{len(reference)}, "
          f"top-1 accuracy {100 * accuracy:.2f}% ({'ok' if ok else 'FAILED'})")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="retrain run folder or model.bin")
    parser.add_argument("--binary", default=".build/release/darts-dist")
    parser.add_argument("--images", type=int, default=256, help="test images compared")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()

    import onnx
    import onnxruntime
    import torch
    from torch_network import load_exported

    with tempfile.TemporaryDirectory() as tmp:
        saved = os.path.join(tmp, "logits")
        run([args.binary, "evaluate", "--model", args.model, "--test-subset", str(args.images), "--save-logits", saved])
        images = np.load(os.path.join(saved, "images.npy"))
        labels = np.load(os.path.join(saved, "labels.npy"))
        reference = np.load(os.path.join(saved, "logits.npy"))
        st, ox = os.path.join(tmp, "model.safetensors"), os.path.join(tmp, "model.onnx")
        run([args.binary, "export", "--model", args.model, "--format", "safetensors", "--out", st])
        run([args.binary, "export", "--model", args.model, "--format", "onnx", "--out", ox])

        model, meta = load_exported(st)
        with torch.no_grad():
            torch_logits = model(torch.from_numpy(images)).numpy()
        onnx.checker.check_model(onnx.load(ox), full_check=True)
        session = onnxruntime.InferenceSession(ox, providers=["CPUExecutionProvider"])
        onnx_logits = session.run(["logits"], {"input": images})[0]

    print(f"{len(images)} test images {images.shape[1:]}, classes {meta['class_names']}, mean {meta['mean']} std {meta['std']}")
    ok = compare("PyTorch (safetensors, strict load)", torch_logits, reference, labels, args.tolerance)
    ok = compare("onnxruntime (ONNX opset 13)", onnx_logits, reference, labels, args.tolerance) and ok
    print(f"darts-dist evaluate: top-1 accuracy {100 * float((reference.argmax(1) == labels).mean()):.2f}%")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
