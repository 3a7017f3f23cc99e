"""Decode image bytes into upright RGB pixels; every way an image can be bad becomes a named failure."""
from __future__ import annotations

import io
import logging
import struct
import time
import warnings
from typing import Callable, Iterable

import apache_beam as beam
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from transforms.failures import describe
from transforms.records import DecodedImage, Failure

_LOG = logging.getLogger(__name__)

FAILURES = "failures"
# Pillow's plugins raise whatever their parsers hit on odd bytes (AttributeError, TypeError, RuntimeError,
# struct.error, ...). Only calls into Pillow are guarded with this, so our own mistakes still fail loudly.
DECODER_ERRORS = (Exception,)
ALPHA_BACKGROUND = (255, 255, 255)  # transparent product shots read as on white paper, not on black


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


def _upright(uri: str, image: Image.Image, warn: Callable[[str], None]) -> Image.Image:
    """Apply the EXIF orientation, so width and height are as a person sees the photo. EXIF that cannot
    be applied (a mistyped tag: AttributeError, struct.error) keeps the stored orientation, with a warning."""
    try:
        return ImageOps.exif_transpose(image)
    except DECODER_ERRORS as e:
        warn(f"{uri}: EXIF orientation not applied ({describe(e)}); kept as stored")
        return image


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


def decode_image(uri: str, data: bytes, max_pixels: int, warn: Callable[[str], None] = _ignore) -> DecodedImage:
    """Bytes -> upright RGB uint8 pixels; the first frame of animations. Raises DecodeError; `warn` hears
    what was decoded all the same (EXIF that could not be applied)."""
    image = _open(uri, data, max_pixels)  # open leaves animations on frame 0; never count frames
    _load(uri, data, image)
    try:
        return DecodedImage(uri, _to_rgb(_upright(uri, image, warn)))
    except DecodeError as e:
        raise DecodeError(e.error_type, f"{uri}: {e}") from None


class _Decode(beam.DoFn):
    def __init__(self, max_pixels: int):
        self._max_pixels = max_pixels
        self._decoded = beam.metrics.Metrics.counter("shelfscan", "images_decoded")
        self._failed = beam.metrics.Metrics.counter("shelfscan", "decode_failures")
        self._exif = beam.metrics.Metrics.counter("shelfscan", "exif_not_applied")
        self._micros = beam.metrics.Metrics.distribution("shelfscan", "decode_micros")  # pipeline.bench reads it

    def _warn(self, message: str) -> None:
        self._exif.inc()
        _LOG.warning("%s", message)

    def process(self, element: tuple[str, bytes]) -> Iterable:
        uri, data = element
        start = time.perf_counter()
        try:
            image = decode_image(uri, data, self._max_pixels, self._warn)
        except DecodeError as e:
            self._failed.inc()
            yield beam.pvalue.TaggedOutput(FAILURES, Failure(uri, "decode", e.error_type, str(e)))
            return
        self._decoded.inc()
        self._micros.update(int((time.perf_counter() - start) * 1e6))
        yield image


class DecodeImages(beam.PTransform):
    """(uri, bytes) -> {"images": DecodedImage, "failures": Failure}; max_pixels guards against bombs."""

    def __init__(self, max_pixels: int):
        super().__init__()
        self._max_pixels = max_pixels

    def expand(self, encoded):
        out = encoded | "Decode" >> beam.ParDo(_Decode(self._max_pixels)).with_outputs(FAILURES, main="images")
        return {"images": out.images, FAILURES: out[FAILURES]}
