"""Decode image bytes into upright RGB pixels; every way an image can be bad becomes a named failure."""
from __future__ import annotations

import io
import struct
import warnings
from typing import Iterable

import apache_beam as beam
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from transforms.records import DecodedImage, Failure

FAILURES = "failures"
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
        except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:  # header cut short
            raise _broken(uri, data, f"{type(e).__name__}: {e}") from None
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
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError) as e:
        raise _broken(uri, data, f"{type(e).__name__}: {e}") from None


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation, so width and height are as a person sees the photo."""
    try:
        return ImageOps.exif_transpose(image)
    except (ValueError, TypeError, SyntaxError, OSError):  # unreadable EXIF: keep the stored orientation
        return image


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = values.max(initial=0)
        # "I" carries no bit depth: take the smallest of 8/16 bits that holds the data, else its max
        peak = 65535.0 if image.mode.startswith("I;16") else 255.0 if top <= 255 else max(65535.0, top)
        if image.mode == "F":
            low, high = values.min(initial=0), values.max(initial=1)
            values, peak = values - low, max(high - low, 1e-12)
        grey = np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=-1))
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
        image = Image.alpha_composite(background, rgba)
    try:
        rgb = image.convert("RGB")
    except ValueError as e:  # a colour mode Pillow cannot convert
        raise DecodeError("corrupt", f"{image.mode} pixels cannot be converted to RGB ({e}); "
                                     "re-export the image as RGB") from None
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def decode_image(uri: str, data: bytes, max_pixels: int) -> DecodedImage:
    """Bytes -> upright RGB uint8 pixels; the first frame of animations. Raises DecodeError."""
    image = _open(uri, data, max_pixels)  # open leaves animations on frame 0; never count frames
    _load(uri, data, image)
    try:
        return DecodedImage(uri, _to_rgb(_upright(image)))
    except DecodeError as e:
        raise DecodeError(e.error_type, f"{uri}: {e}") from None


class _Decode(beam.DoFn):
    def __init__(self, max_pixels: int):
        self._max_pixels = max_pixels
        self._decoded = beam.metrics.Metrics.counter("shelfscan", "images_decoded")
        self._failed = beam.metrics.Metrics.counter("shelfscan", "decode_failures")

    def process(self, element: tuple[str, bytes]) -> Iterable:
        uri, data = element
        try:
            image = decode_image(uri, data, self._max_pixels)
        except DecodeError as e:
            self._failed.inc()
            yield beam.pvalue.TaggedOutput(FAILURES, Failure(uri, "decode", e.error_type, str(e)))
            return
        self._decoded.inc()
        yield image


class DecodeImages(beam.PTransform):
    """(uri, bytes) -> {"images": DecodedImage, "failures": Failure}; max_pixels guards against bombs."""

    def __init__(self, max_pixels: int):
        super().__init__()
        self._max_pixels = max_pixels

    def expand(self, encoded):
        out = encoded | "Decode" >> beam.ParDo(_Decode(self._max_pixels)).with_outputs(FAILURES, main="images")
        return {"images": out.images, FAILURES: out[FAILURES]}
