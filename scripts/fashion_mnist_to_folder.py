#!/usr/bin/env python3
"""Writes Fashion-MNIST (or MNIST) IDX files as a PNG image folder for `darts-dist --dataset folder`.

    python3 scripts/fashion_mnist_to_folder.py /usr/share/datasets/fashion-mnist data/fmnist-png

gives data/fmnist-png/train/CLASS/NNNNN.png (60,000) and data/fmnist-png/test/CLASS/NNNNN.png (10,000),
28 x 28 grayscale. Image n of a split is file NNNNN.png (n, 5 digits) and the class folders are
"0_T-shirt-top", "1_Trouser", ..., so that the folder's order (file name, then class) and its sorted
class names give exactly the IDX files' image order and labels. Needs only the Python standard library
(zlib writes the PNGs); reads the files plain or gzip-compressed.
"""

import gzip
import os
import struct
import sys
import zlib

NAMES = ["T-shirt-top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(folder, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            with open(path, "rb") as f:
                data = f.read()
            return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    sys.exit(f"{os.path.join(folder, name)}(.gz) not found")


def png(pixels, width, height):
    """An 8-bit grayscale PNG (PNG spec: signature, IHDR, one IDAT with filter byte 0 per row, IEND)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, target = sys.argv[1], sys.argv[2]
    if os.path.exists(target):
        sys.exit(f"{target} already exists; give a new folder")
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(source, f"{prefix}-images-idx3-ubyte")
        labels = read_idx(source, f"{prefix}-labels-idx1-ubyte")
        count, rows, cols = struct.unpack(">III", images[4:16])
        for label, name in enumerate(NAMES):
            os.makedirs(os.path.join(target, split, f"{label}_{name}"))
        for n in range(count):
            label = labels[8 + n]
            pixels = images[16 + n * rows * cols:16 + (n + 1) * rows * cols]
            with open(os.path.join(target, split, f"{label}_{NAMES[label]}", f"{n:05d}.png"), "wb") as f:
                f.write(png(pixels, cols, rows))
        print(f"{split}: {count} images")


if __name__ == "__main__":
    main()
