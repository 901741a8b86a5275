#!/usr/bin/env python3
"""Golden values for `--image-size`: PyTorch's bilinear resize of a fixed 2-channel 5 x 7 image to
4 x 4 (down) and 9 x 9 (up), printed as the Swift literals of Tests/DatasetsTests/ResizeParityTests.swift.

    torch.nn.functional.interpolate(x, size=(S, S), mode="bilinear", align_corners=False, antialias=False)

The input needs no random generator: pixel i of the 70 is ((37 i) mod 101) / 100.

Usage: python scripts/resize_golden.py   (in a virtual environment with torch)
"""

import torch
import torch.nn.functional as F

CHANNELS, HEIGHT, WIDTH = 2, 5, 7
pixels = [((37 * i) % 101) / 100 for i in range(CHANNELS * HEIGHT * WIDTH)]
x = torch.tensor(pixels, dtype=torch.float32).reshape(1, CHANNELS, HEIGHT, WIDTH)
print(f"// torch {torch.__version__}")
for side in (4, 9):
    y = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=False)
    values = ", ".join(f"{v:.7g}" for v in y.flatten().tolist())
    print(f"static let side{side}: [Float] = [{values}]")
