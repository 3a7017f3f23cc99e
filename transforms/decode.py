"""Decode image bytes into upright RGB pixels, only as many as the models use; every way an image can be
bad becomes a named failure. The decoding itself is transforms.image_file's, shared with the report and
the labeling page; this module is its Beam stage."""
from __future__ import annotations

import logging
import time
from functools import partial
from typing import Iterable

import apache_beam as beam
from apache_beam.utils.windowed_value import WindowedValue

from transforms.image_file import DecodeError, PixelNeed, decode_image
from transforms.lookahead import Lookahead, auto_threads
from transforms.records import DecodedImage, Failure

__all__ = ["DecodeError", "DecodeImages", "PixelNeed", "decode_image", "decode_outcome"]

_LOG = logging.getLogger(__name__)

FAILURES = "failures"

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
