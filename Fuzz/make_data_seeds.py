#!/usr/bin/env python3
"""Makes the seeds of the npy, npz, png and jpeg harnesses with the standard library alone: small
.npy arrays as numpy.save writes them (format 1.0, C order, little-endian), .npz archives of the
four arrays `--dataset numpy` reads (stored and deflated, as numpy.savez and savez_compressed),
PNG images (gray and RGB, 8-bit) and baseline JPEG images (gray and YCbCr, 8 x 8 blocks of one
value, with one-code Huffman tables), each a few hundred bytes.

    python3 Fuzz/make_data_seeds.py
"""
import io
import struct
import zipfile
import zlib
from pathlib import Path

SEEDS = Path(__file__).resolve().parent / "seeds"


def npy(descr: str, shape: tuple, data: bytes) -> bytes:
    """A .npy file, format 1.0: magic, version, header length, the header dict padded with
    spaces and a newline to a multiple of 64 bytes, then the data."""
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, repr(shape))
    total = 10 + len(header) + 1
    header += " " * (-total % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("ascii") + data


def npz(arrays: dict, compression: int) -> bytes:
    """A zip archive of NAME.npy members (fixed timestamps, so the bytes are the same every run)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in arrays.items():
            archive.writestr(zipfile.ZipInfo(name + ".npy", date_time=(2020, 1, 1, 0, 0, 0)), data, compress_type=compression)
    return buffer.getvalue()


def png(width: int, height: int, color: bool) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    channels = 3 if color else 1
    rows = b"".join(b"\x00" + bytes((17 * (x + y) + 40 * c) % 256 for x in range(width) for c in range(channels))
                    for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2 if color else 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def jpeg(width: int, height: int, components: int) -> bytes:
    """A baseline JPEG (ITU T.81) whose blocks all have DC difference 0 and no AC coefficient:
    one quantization table of ones, a DC and an AC Huffman table with one 1-bit code each
    (category 0, and end of block), so every block is two 0 bits."""
    def segment(marker: int, body: bytes) -> bytes:
        return struct.pack(">HH", 0xFF00 | marker, len(body) + 2) + body
    dqt = segment(0xDB, b"\x00" + bytes([1] * 64))
    sof = segment(0xC0, struct.pack(">BHHB", 8, height, width, components)
                  + b"".join(bytes([c + 1, 0x11, 0]) for c in range(components)))
    one_code = bytes([1] + [0] * 15) + b"\x00"
    dht = segment(0xC4, b"\x00" + one_code + b"\x10" + one_code)
    sos = segment(0xDA, bytes([components]) + b"".join(bytes([c + 1, 0x00]) for c in range(components)) + b"\x00\x3f\x00")
    blocks = ((width + 7) // 8) * ((height + 7) // 8) * components
    bits = "00" * blocks
    bits += "1" * (-len(bits) % 8)
    scan = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
    return b"\xff\xd8" + dqt + sof + dht + sos + scan + b"\xff\xd9"


def main() -> None:
    images = npy("|u1", (2, 4, 4), bytes(range(32)))
    labels = npy("<i8", (2,), struct.pack("<2q", 0, 1))
    channels_first = npy("<f4", (2, 1, 3, 3), struct.pack("<18f", *[i / 18 for i in range(18)]))
    four = {"train_images": images, "train_labels": labels, "test_images": images, "test_labels": labels}
    seeds = {
        "npy": {"images_u1.npy": images, "labels_i8.npy": labels, "images_f4_nchw.npy": channels_first,
                "labels_u1.npy": npy("|u1", (3,), b"\x00\x01\x02")},
        "npz": {"stored.npz": npz(four, zipfile.ZIP_STORED), "deflated.npz": npz(four, zipfile.ZIP_DEFLATED)},
        "png": {"gray_4x4.png": png(4, 4, False), "rgb_3x5.png": png(3, 5, True)},
        "jpeg": {"gray_8x8.jpg": jpeg(8, 8, 1), "ycbcr_16x8.jpg": jpeg(16, 8, 3)},
    }
    for harness, files in seeds.items():
        folder = SEEDS / harness
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
            print(f"{folder / name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
