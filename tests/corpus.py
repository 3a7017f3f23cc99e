"""Awkward inputs every scan must survive: broken files, odd formats, a decompression bomb."""
from __future__ import annotations

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
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return {name: error for name, (_, error) in files.items()}
