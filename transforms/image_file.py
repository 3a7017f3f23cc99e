"""The one guarded way shelfscan reads an image, in the scan, the report and the labeling page.

Regular files only (a FIFO or device is refused without blocking), never more than a byte cap read, a
pixel cap checked from the header before decoding, EXIF that cannot be applied tolerated, and data that
stops short of what its header promises detected as truncated. Everything here imports numpy and Pillow
only (Beam's filesystems are imported for remote URIs alone), so the report and the labeling server
read photos exactly as the scan does, without loading Beam.
"""
from __future__ import annotations

import dataclasses
import datetime
import io
import os
import stat
import struct
import urllib.parse
import warnings
from typing import Callable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from transforms.records import DecodedImage, describe
from transforms.slicing import MAX_SLICES_ACROSS, slice_side

try:  # what GCS (and other Google storage clients) raise on 403/404/5xx: not an OSError
    from google.api_core.exceptions import GoogleAPIError as CloudError
except ImportError:  # apache-beam without [gcp]
    CloudError = OSError

# Pillow's plugins raise whatever their parsers hit on odd bytes (AttributeError, TypeError, RuntimeError,
# struct.error, ...). Only calls into Pillow are guarded with this, so our own mistakes still fail loudly.
DECODER_ERRORS = (Exception,)
ALPHA_BACKGROUND = (255, 255, 255)  # transparent product shots read as on white paper, not on black


@dataclasses.dataclass(frozen=True)
class PixelNeed:
    """How many pixels the models use, so decoding can leave the rest out (JPEG DCT scaling, Image.reduce).

    detector_side: the detector's square input; None: it takes any size and gets what the crops need.
    crop_side: the largest crop model input (classifier, segmenter); None: a crop model takes any size,
      so every pixel is decoded.
    bottle_share: the smallest bottle, as a share of the photo's long side, whose crop must still hold
      crop_side pixels along its long side; 0 decodes every pixel.
    detector_span: original pixels one detector input covers: None for the whole image; sliced
      detection covers a slice (its side in original pixels) with each input.
    """

    detector_side: int | None
    crop_side: int | None
    bottle_share: float
    detector_span: int | None = None
    slices_across: int = MAX_SLICES_ACROSS  # the finest slices: 1/slices_across of the long side

    def reduction(self, width: int, height: int) -> float:
        """How many original pixels one decoded pixel may stand for, each way (1: decode them all)."""
        long_side = max(width, height)
        if self.bottle_share <= 0 or not self.crop_side:
            return 1.0
        limit = self.bottle_share * long_side / self.crop_side
        if self.detector_side:
            span = slice_side(self.detector_span, long_side, self.slices_across) if self.detector_span else long_side
            limit = min(limit, min(span, long_side) / self.detector_side)
        return max(1.0, limit)


DCT_SCALES = (8, 4, 2)  # what libjpeg can decode to directly: 1/8, 1/4, 1/2 of each side


class DecodeError(ValueError):
    """An image that cannot be decoded; error_type is one of empty, not_an_image, truncated,
    corrupt, too_many_pixels."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


def _cut_short(data: bytes) -> bool:
    """Whether a JPEG/PNG/GIF/WebP stops before its end marker (or RIFF size): an interrupted copy."""
    tail = data.rstrip(b"\0")
    if data.startswith(b"\xff\xd8"):
        return not tail.endswith(b"\xff\xd9")
    if data.startswith(b"\x89PNG"):
        return b"IEND" not in data[-16:]
    if data.startswith((b"GIF87a", b"GIF89a")):
        return not tail.endswith(b";")
    if data.startswith(b"RIFF") and len(data) >= 8:
        return struct.unpack("<I", data[4:8])[0] + 8 > len(data)
    return False


_SIGNATURES = (b"\xff\xd8", b"\x89PNG", b"GIF8", b"RIFF", b"II*\0", b"MM\0*", b"BM")


def _broken(uri: str, data: bytes, cause: str) -> DecodeError:
    """A stream Pillow recognised (or that carries an image signature) but could not decode."""
    if _cut_short(data) or "truncated" in cause.lower():
        return DecodeError("truncated", f"{uri} is truncated ({cause}); the upload or copy was cut "
                                        "short, re-upload it")
    return DecodeError("corrupt", f"{uri} is corrupt ({cause}); re-export or re-upload it")


def _unidentified(uri: str, data: bytes) -> DecodeError:
    if data.startswith(_SIGNATURES):
        return _broken(uri, data, "its header cannot be parsed")
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypmsf1", b"ftyphevc"):
        return DecodeError("not_an_image", f"{uri} is a HEIC/HEIF photo, which this scan cannot decode; "
                                           "convert it to JPEG (e.g. export as 'Most Compatible')")
    return DecodeError("not_an_image", f"{uri} is not an image Pillow can read (starts with {data[:8]!r}); "
                                       "remove it from the input")


_ARITHMETIC_SOF = (0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)  # arithmetic-coded JPEG can spend under a bit a block


def _jpeg_frame_marker(data: bytes) -> int | None:
    """The SOFn marker of a JPEG stream (0xC0 baseline, 0xC2 progressive, ...), None if none is found."""
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return marker
        if marker == 0xDA:  # start of scan: no frame header before it
            return None
        at += 2 + struct.unpack(">H", data[at + 2:at + 4])[0]
    return None


def _too_little_data(image: Image.Image, data: bytes) -> bool:
    """Whether a Huffman-coded JPEG is shorter than any encoding of the size its header states.

    libjpeg fills the blocks it finds no data for and reports success, so a header edited to 7000x7000
    over 64x64 of data would decode as a grey photo. Each 8x8 block of the full-resolution component
    costs at least one bit in every Huffman-coded scan; one bit per 16x16 pixels leaves room for any
    legitimate file (a blank 7000x7000 JPEG takes 288 kB, this bound 24 kB)."""
    if image.format not in ("JPEG", "MPO") or _jpeg_frame_marker(data) in _ARITHMETIC_SOF:
        return False
    return len(data) * 8 < image.width * image.height // 256


def _open(uri: str, data: bytes, max_pixels: int) -> Image.Image:
    if not data:
        raise DecodeError("empty", f"{uri} is an empty file (0 bytes); re-upload it")
    # Not thread-safe in 3.11, but the worst a race does is let one DecompressionBombWarning through.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we apply our own limit below
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise _unidentified(uri, data) from None
        except Image.DecompressionBombError as e:
            raise DecodeError("too_many_pixels", f"{uri}: {str(e).rstrip('.')}; Pillow refuses that "
                                                 "whatever --max_image_pixels says, downscale it") from None
        except DECODER_ERRORS as e:  # header cut short, or a plugin tripping over odd bytes
            raise _broken(uri, data, describe(e)) from None
    pixels = image.width * image.height
    if _too_little_data(image, data):
        raise DecodeError("truncated", f"{uri} is truncated: its header says {image.width}x{image.height} "
                                       f"but it holds only {len(data)} bytes of data, fewer than any encoding "
                                       "of that many pixels takes; re-upload it")
    if pixels > max_pixels:
        raise DecodeError("too_many_pixels",
                          f"{uri} is {image.width}x{image.height} = {pixels / 1e6:.0f} MP, over the "
                          f"{max_pixels / 1e6:.0f} MP limit; downscale it or raise --max_image_pixels")
    return image


def _load(uri: str, data: bytes, image: Image.Image) -> None:
    """Decode the pixels. ImageFile.LOAD_TRUNCATED_IMAGES must stay False (Pillow's default): set,
    Pillow pads a cut-off image with grey and this would count it as decoded."""
    try:
        image.load()
    except DECODER_ERRORS as e:  # e.g. TypeError from a corrupt TIFF, RuntimeError from a corrupt AVIF
        raise _broken(uri, data, describe(e)) from None


def _draft(image: Image.Image, reduction: float) -> None:
    """Have libjpeg decode a JPEG at the smallest DCT scale (1/2, 1/4, 1/8) within `reduction`; other
    formats ignore it. Pillow picks the scale from a requested size: floor(side / s) asks for exactly s."""
    scale = next((s for s in DCT_SCALES if s <= reduction), 1)
    if scale > 1 and image.format in ("JPEG", "MPO"):
        image.draft(None, (max(1, image.width // scale), max(1, image.height // scale)))


def _reduce(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Average factor x factor blocks (Image.reduce): what a decoder without DCT scaling leaves to do."""
    if factor < 2:
        return pixels
    return np.ascontiguousarray(np.asarray(Image.fromarray(pixels).reduce(factor)))


_SWAPS_SIDES = (5, 6, 7, 8)  # EXIF orientations that turn the photo by 90 degrees


def _upright(uri: str, image: Image.Image, warn: Callable[[str], None]) -> tuple[Image.Image, bool]:
    """Apply the EXIF orientation, so width and height are as a person sees the photo; (image, whether
    width and height swapped). EXIF that cannot be applied (a mistyped tag: AttributeError, struct.error)
    keeps the stored orientation, with a warning."""
    try:
        upright = ImageOps.exif_transpose(image)
        return upright, image.getexif().get(0x0112) in _SWAPS_SIDES
    except DECODER_ERRORS as e:
        warn(f"{uri}: EXIF orientation not applied ({describe(e)}); kept as stored")
        return image, False


_EXIF_IFD, _DATE_TIME_ORIGINAL = 0x8769, 0x9003


def capture_time(image: Image.Image) -> datetime.datetime | None:
    """EXIF DateTimeOriginal as the camera's local clock (no time zone); None when absent or unreadable."""
    try:
        text = image.getexif().get_ifd(_EXIF_IFD).get(_DATE_TIME_ORIGINAL)
    except DECODER_ERRORS:  # malformed EXIF: the photo still decodes, it just does not say when
        return None
    if not isinstance(text, str):
        return None
    try:
        return datetime.datetime.strptime(text.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:  # "0000:00:00 00:00:00" and other placeholders cameras write
        return None


def _grey8(image: Image.Image) -> np.ndarray:
    """A one-channel 16-bit, 32-bit integer or float image -> uint8, in its own integer width (float32
    for "F"): never a float64 copy of the whole image."""
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float32)
        low, high = float(values.min(initial=0)), float(values.max(initial=1))
        scaled = (values - np.float32(low)) * np.float32(255.0 / max(high - low, 1e-12)) + np.float32(0.5)
        return np.clip(scaled, 0, 255, out=scaled).astype(np.uint8)
    values = np.asarray(image)
    top = int(values.max(initial=0))
    # "I" carries no bit depth: take the smallest of 8/16 bits that holds the data, else its max
    peak = 65535 if image.mode.startswith("I;16") else 255 if top <= 255 else max(65535, top)
    grey = np.empty(values.shape, np.uint8)
    rows = max(1, (1 << 20) // max(values.shape[1], 1))  # int64 only for ~1M pixels at a time
    for start in range(0, values.shape[0], rows):
        block = np.clip(values[start:start + rows].astype(np.int64), 0, peak)
        grey[start:start + rows] = (block * 255 + peak // 2) // peak
    return grey


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        grey = _grey8(image)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=-1))
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
        image = Image.alpha_composite(background, rgba)
    try:
        rgb = image.convert("RGB")
    except DECODER_ERRORS as e:  # a colour mode Pillow cannot convert
        raise DecodeError("corrupt", f"{image.mode} pixels cannot be converted to RGB ({describe(e)}); "
                                     "re-export the image as RGB") from None
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def _ignore(message: str) -> None:
    pass


def decode_image(uri: str, data: bytes, max_pixels: int, warn: Callable[[str], None] = _ignore,
                 need: PixelNeed | None = None) -> DecodedImage:
    """Bytes -> upright RGB uint8 pixels; the first frame of animations. Raises DecodeError; `warn` hears
    what was decoded all the same (EXIF that could not be applied).

    need: decode only the pixels the models use (None: all); the result keeps the original width and
    height, so boxes and areas stay in original pixels.
    """
    image = _open(uri, data, max_pixels)  # open leaves animations on frame 0; never count frames
    stored = image.size
    reduction = need.reduction(*stored) if need else 1.0
    _draft(image, reduction)
    _load(uri, data, image)
    upright, swapped = _upright(uri, image, warn)
    try:
        pixels = _to_rgb(upright)
    except DecodeError as e:
        raise DecodeError(e.error_type, f"{uri}: {e}") from None
    pixels = _reduce(pixels, int(reduction * image.width / stored[0]))  # what DCT scaling left to do
    original = stored[::-1] if swapped else stored
    return DecodedImage(uri, pixels, original if pixels.shape[1::-1] != original else None,
                        capture_time(image))




def read_local(path: str, limit: int) -> bytes | None:
    """Up to `limit` bytes of a regular file; None if what is opened is not one (a FIFO, a device, a
    link to either). Opened non-blocking, so a FIFO cannot hang the reader, and checked after opening,
    so a file swapped since it was listed is judged as it is now."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        os.set_blocking(fd, True)
        return f.read(limit)


def local_path(uri: str) -> str:
    """The local name behind a row's image_uri: a file:// URI (how rows write names that are not UTF-8)
    back to its raw bytes, anything else as it is."""
    if uri.startswith("file://"):
        return os.fsdecode(urllib.parse.unquote_to_bytes(uri.removeprefix("file://")))
    return uri


def read_bytes(uri: str, max_bytes: int) -> bytes:
    """The bytes of an image file (local path, file:// URI or any Beam filesystem URI), never more than
    max_bytes + 1 read. Raises DecodeError (not_a_file, too_large), OSError (missing, no permission) or
    CloudError."""
    uri = local_path(uri)
    if "://" in uri:
        from transforms.beam_files import FileSystems

        with FileSystems.open(uri, compression_type="uncompressed") as f:
            data = f.read(max_bytes + 1)
    else:
        data = read_local(uri, max_bytes + 1)
        if data is None:
            raise DecodeError("not_a_file", f"{uri} is not a regular file (a FIFO, device or socket) and was "
                                            "not read; remove it from the input")
    if len(data) > max_bytes:
        raise DecodeError("too_large", f"{uri} is over {max_bytes} bytes; downscale it or raise "
                                       "--max_image_bytes")
    return data


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one image may cost a reader: bytes read, pixels decoded (the scan's defaults)."""

    max_bytes: int = 200_000_000
    max_pixels: int = 50_000_000


def load_image(uri: str, limits: Limits = Limits(), max_side: int | None = None,
               warn: Callable[[str], None] = _ignore) -> DecodedImage:
    """Read and decode one image as the scan does: upright RGB, its original size kept; max_side asks
    for no more pixels than that along the long side (JPEGs are then decoded at a DCT scale).
    Raises DecodeError (with its error_type) or OSError, whose message says what to do."""
    data = read_bytes(uri, limits.max_bytes)
    need = PixelNeed(None, max_side, 1.0) if max_side else None
    return decode_image(uri, data, limits.max_pixels, warn, need)
