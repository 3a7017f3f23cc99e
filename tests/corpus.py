"""Awkward inputs every scan must survive: broken files, odd formats, a decompression bomb."""
from __future__ import annotations

import functools
import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

# Header says 30000 x 30000 = 900 MP, beyond any --max_image_pixels and 5x Pillow's own bomb limit.
BOMB_SIDE = 30000


def _photo(width: int = 160, height: int = 120) -> Image.Image:
    ys, xs = np.mgrid[0:height, 0:width]
    rgb = np.stack([xs * 255 // width, ys * 255 // height, np.full_like(xs, 90)], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8))


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def bomb_png(side: int = BOMB_SIDE) -> bytes:
    """A tiny file whose header claims side x side 1-bit pixels: decoding it naively needs gigabytes."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    data = zlib.compress(row * 64, 9)  # far fewer rows than claimed; it must never get that far
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def corrupt_png(width: int = 64, height: int = 48) -> bytes:
    """Well-formed chunks around pixel data that is not a zlib stream."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    garbage = bytes((i * 97 + 13) % 256 for i in range(2048))
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", garbage)
            + _png_chunk(b"IEND", b""))


def mistyped_exif_jpeg(tag: int) -> bytes:
    """A JPEG Pillow opens whose EXIF says "rotate" but holds `tag` as ASCII where a number belongs:
    applying the orientation raises struct.error (0x0128) or TypeError (0x011A) inside Pillow."""
    entries = [(0x0112, 3, 1, struct.pack("<H", 6)), (tag, 2, 3, struct.pack("<I", 26))]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHI", t, kind, count) + value.ljust(4, b"\0") for t, kind, count, value in entries)
    exif = b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x01\x00\x02\x00" * 8
    return _encoded(_photo(), "JPEG", exif=exif)


def corrupt_tiff() -> bytes:
    """A TIFF whose StripOffsets tag is typed ASCII: Pillow opens it, and load() raises TypeError."""
    data = bytearray(_encoded(Image.fromarray(np.zeros((24, 32, 3), np.uint8)), "TIFF"))
    offset = struct.unpack("<I", data[4:8])[0]
    for k in range(struct.unpack("<H", data[offset:offset + 2])[0]):
        entry = offset + 2 + 12 * k
        if struct.unpack("<H", data[entry:entry + 2])[0] == 273:
            data[entry + 2:entry + 4] = struct.pack("<H", 2)
    return bytes(data)


@functools.lru_cache(maxsize=1)
def corrupt_avif() -> bytes:
    """An AVIF with a few bytes changed so that libavif raises RuntimeError on load ("Failed to decode
    image"): the first such change in a fixed sequence of random ones."""
    import random

    rng = np.random.default_rng(0)
    good = _encoded(Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)), "AVIF")
    for seed in range(20_000):
        r, data = random.Random(seed), bytearray(good)
        for _ in range(r.randint(1, 4)):
            data[r.randrange(len(data))] = r.randrange(256)
        try:
            with Image.open(io.BytesIO(bytes(data))) as image:
                image.load()
        except RuntimeError:
            return bytes(data)
        except Exception:  # other ways to be broken; we want the RuntimeError one
            continue
    raise AssertionError("no AVIF corruption raised RuntimeError; has Pillow's AVIF plugin changed?")


def _encoded(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def write_bad_corpus(folder: Path) -> dict[str, str | None]:
    """Write the corpus into `folder`; returns file name -> expected decode error_type (None = decodes)."""
    folder = Path(folder)
    photo = _photo()
    jpeg = _encoded(photo, "JPEG", quality=90)
    png = _encoded(photo, "PNG")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    gray16 = Image.fromarray(np.full((40, 60), 32768, np.uint16))
    frames = [Image.new("P", (50, 40), i * 60) for i in range(3)]
    rgba = np.zeros((40, 60, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, :30, 3] = 255  # left half opaque red, right half transparent
    files: dict[str, tuple[bytes, str | None]] = {
        "good.jpg": (jpeg, None),
        "zero.jpg": (b"", "empty"),
        "text.jpg": (b"shelf photo index, not an image\n" * 20, "not_an_image"),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], "truncated"),
        "truncated.png": (png[: len(png) * 2 // 3], "truncated"),
        "corrupt.png": (corrupt_png(), "corrupt"),
        "bomb.png": (bomb_png(), "too_many_pixels"),
        "cmyk.jpg": (_encoded(photo.convert("CMYK"), "JPEG"), None),
        "rgba.png": (_encoded(Image.fromarray(rgba, "RGBA"), "PNG"), None),
        "gray16.png": (_encoded(gray16, "PNG"), None),
        "palette.png": (_encoded(photo.convert("P", palette=Image.ADAPTIVE, colors=16), "PNG"), None),
        "animated.gif": (_encoded(frames[0], "GIF", save_all=True, append_images=frames[1:]), None),
        "exif_rotated.jpg": (_encoded(photo, "JPEG", exif=exif.tobytes()), None),
        "exif_struct_error.jpg": (mistyped_exif_jpeg(0x0128), None),  # decodes, stored orientation kept
        "exif_type_error.jpg": (mistyped_exif_jpeg(0x011A), None),
        "corrupt.tif": (corrupt_tiff(), "corrupt"),
        "corrupt.avif": (corrupt_avif(), "corrupt"),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return {name: error for name, (_, error) in files.items()}


def header_liar_jpeg(side: int = 7000) -> bytes:
    """A 64x64 JPEG whose frame header is edited to say side x side: libjpeg pads the missing blocks and
    reports success, so only the file's length gives it away."""
    data = bytearray(_encoded(_photo(64, 64), "JPEG"))
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", side, side)
    return bytes(data)
