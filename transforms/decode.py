"""Decode image bytes into upright RGB pixels; every way an image can be bad becomes a named failure."""
from __future__ import annotations

import io
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


def _open(uri: str, data: bytes, max_pixels: int) -> Image.Image:
    if not data:
        raise DecodeError("empty", f"{uri} is an empty file (0 bytes); re-upload it")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we apply our own limit below
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise DecodeError("not_an_image", f"{uri} is not an image Pillow can read "
                                              f"(starts with {data[:8]!r}); remove it from the input") from None
        except Image.DecompressionBombError as e:
            raise DecodeError("too_many_pixels", f"{uri}: {e}") from None
    pixels = image.width * image.height
    if pixels > max_pixels:
        raise DecodeError("too_many_pixels",
                          f"{uri} is {image.width}x{image.height} = {pixels / 1e6:.0f} MP, over the "
                          f"{max_pixels / 1e6:.0f} MP limit; downscale it or raise --max_image_pixels")
    return image


def _load(uri: str, image: Image.Image) -> None:
    try:
        image.load()
    except OSError as e:
        text = str(e)
        if any(sign in text.lower() for sign in ("truncated", "eof")):
            raise DecodeError("truncated", f"{uri} is truncated ({text}); the upload or copy was cut short, "
                                           "re-upload it") from None
        raise DecodeError("corrupt", f"{uri} is corrupt ({text}); re-export it") from None
    except (SyntaxError, ValueError, EOFError) as e:  # Pillow's plugins raise these on bad streams
        raise DecodeError("corrupt", f"{uri} is corrupt ({type(e).__name__}: {e}); re-export it") from None


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation, so width and height are as a person sees the photo."""
    try:
        return ImageOps.exif_transpose(image)
    except (ValueError, TypeError, SyntaxError, OSError):  # unreadable EXIF: keep the stored orientation
        return image


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
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
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def decode_image(uri: str, data: bytes, max_pixels: int) -> DecodedImage:
    """Bytes -> upright RGB uint8 pixels; the first frame of animations. Raises DecodeError."""
    image = _open(uri, data, max_pixels)
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
    _load(uri, image)
    return DecodedImage(uri, _to_rgb(_upright(image)))


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
