"""Decode image bytes into upright RGB pixels, only as many as the models use; every way an image can be
bad becomes a named failure."""
from __future__ import annotations

import dataclasses
import io
import logging
import struct
import time
import warnings
from functools import partial
from typing import Callable, Iterable

import apache_beam as beam
import numpy as np
from apache_beam.utils.windowed_value import WindowedValue
from PIL import Image, ImageOps, UnidentifiedImageError

from transforms.failures import describe
from transforms.lookahead import Lookahead, auto_threads
from transforms.records import DecodedImage, Failure
from transforms.slicing import slice_side

_LOG = logging.getLogger(__name__)

FAILURES = "failures"
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

    def reduction(self, width: int, height: int) -> float:
        """How many original pixels one decoded pixel may stand for, each way (1: decode them all)."""
        long_side = max(width, height)
        if self.bottle_share <= 0 or not self.crop_side:
            return 1.0
        limit = self.bottle_share * long_side / self.crop_side
        if self.detector_side:
            span = slice_side(self.detector_span, long_side) if self.detector_span else long_side
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
    return DecodedImage(uri, pixels, original if pixels.shape[1::-1] != original else None)


Decoded = tuple[DecodedImage | Failure, float, list[str]]  # outcome, seconds it took, EXIF warnings


def decode_outcome(element: tuple[str, bytes], max_pixels: int, need: PixelNeed | None) -> Decoded:
    """Decode one (uri, bytes); a bad image becomes its Failure. Runs in any thread: touches no metric."""
    uri, data = element
    heard: list[str] = []
    start = time.perf_counter()
    try:
        outcome = decode_image(uri, data, max_pixels, heard.append, need)
    except DecodeError as e:
        outcome = Failure(uri, "decode", e.error_type, str(e))
    return outcome, time.perf_counter() - start, heard


class _Decode(beam.DoFn):
    """Decodes in `threads` worker threads, a few images ahead, while the stages fused after it run the
    models on the images before; outputs keep their input's order, timestamp and window. Metrics are
    counted here, in the bundle's thread: Beam drops those updated in other threads."""

    def __init__(self, max_pixels: int, need: PixelNeed | None, threads: int | None):
        self._max_pixels = max_pixels
        self._need = need
        self._threads = threads
        self._decoded = beam.metrics.Metrics.counter("shelfscan", "images_decoded")
        self._failed = beam.metrics.Metrics.counter("shelfscan", "decode_failures")
        self._exif = beam.metrics.Metrics.counter("shelfscan", "exif_not_applied")
        self._micros = beam.metrics.Metrics.distribution("shelfscan", "decode_micros")  # pipeline.bench reads it

    def setup(self) -> None:
        self._ahead = Lookahead(partial(decode_outcome, max_pixels=self._max_pixels, need=self._need),
                                auto_threads(self._threads))

    def process(self, element: tuple[str, bytes], timestamp=beam.DoFn.TimestampParam,
                window=beam.DoFn.WindowParam) -> Iterable:
        for where, decoded in self._ahead.put(element, (timestamp, window)):
            yield self._output(decoded, *where)

    def finish_bundle(self) -> Iterable:
        for where, decoded in self._ahead.drain():
            yield self._output(decoded, *where)

    def teardown(self) -> None:
        self._ahead.close()

    def _output(self, decoded: Decoded, timestamp, window):
        outcome, seconds, heard = decoded
        for message in heard:
            self._exif.inc()
            _LOG.warning("%s", message)
        value = WindowedValue(outcome, timestamp, (window,))
        if isinstance(outcome, Failure):
            self._failed.inc()
            return beam.pvalue.TaggedOutput(FAILURES, value)
        self._decoded.inc()
        self._micros.update(int(seconds * 1e6))
        return value


class DecodeImages(beam.PTransform):
    """(uri, bytes) -> {"images": DecodedImage, "failures": Failure}.

    Args:
      max_pixels: larger images are failures (decompression bombs).
      need: how many pixels the models use (None: every pixel).
      threads: decode threads per DoFn instance (None: half the worker's CPUs, at least one; 0: decode in
        the bundle's own thread).
    """

    def __init__(self, max_pixels: int, need: PixelNeed | None = None, threads: int | None = None):
        super().__init__()
        self._max_pixels = max_pixels
        self._need = need
        self._threads = threads

    def expand(self, encoded):
        decode = _Decode(self._max_pixels, self._need, self._threads)
        out = encoded | "Decode" >> beam.ParDo(decode).with_outputs(FAILURES, main="images")
        return {"images": out.images, FAILURES: out[FAILURES]}
