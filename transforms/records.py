"""Small frozen records that cross Beam stages, keyed by image URI end to end.

Every record one stage hands another lives here, so a stage needs no other stage to read its input,
and code outside a pipeline (evaluation, the bare chain) uses them without Beam.
"""
from __future__ import annotations

import dataclasses
import datetime
from typing import NamedTuple

import numpy as np

from transforms.slicing import View


def describe(error: BaseException) -> str:
    """A one-line cause for a Failure's message: the exception type and its first line."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else 'no message'}"


STAGES = ("read", "decode", "detect", "classify", "segment")

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in original-image pixels, x1/y1 exclusive


@dataclasses.dataclass(frozen=True)
class Failure:
    """One input that could not be summarized, and why; every stage emits this same record."""

    image_uri: str
    stage: str
    error_type: str
    message: str

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"unknown stage {self.stage!r}; expected one of {STAGES}")


@dataclasses.dataclass(frozen=True, eq=False)
class DecodedImage:
    """An RGB uint8 image after EXIF orientation. Its pixels may be fewer than the original's (decoded
    at the resolution the models use); width/height are always the original upright image's, and boxes
    and areas are in its pixels."""

    uri: str
    pixels: np.ndarray  # h x w x 3 uint8
    original_size: tuple[int, int] | None = None  # (width, height) when pixels are reduced; None: the same
    captured_at: datetime.datetime | None = None  # EXIF DateTimeOriginal: the camera's clock, no time zone

    @property
    def height(self) -> int:
        return int(self.original_size[1] if self.original_size else self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.original_size[0] if self.original_size else self.pixels.shape[1])

    @property
    def scale_x(self) -> float:
        """Decoded pixels per original pixel, across (1.0 at full resolution)."""
        return self.pixels.shape[1] / self.width

    @property
    def scale_y(self) -> float:
        return self.pixels.shape[0] / self.height


class Detection(NamedTuple):
    """A detector box mapped back to original pixels."""

    box: Box
    score: float


class CropKey(NamedTuple):
    """Identifies one detected bottle: the image and the detection's index in it."""

    uri: str
    index: int


@dataclasses.dataclass(frozen=True)
class BottleResult:
    """Everything measured about one detected bottle."""

    index: int
    box: Box
    detection_score: float
    target_score: float  # the highest product score
    is_target: bool  # any product (product != "other")
    product: str  # a product the classifier knows, or "other" (transforms.products)
    product_score: float
    expected_area_px: float
    mask_area_px: float | None = None
    area_px: float | None = None
    area_source: str | None = None  # "mask" | "expected"; None for non-targets
    mask_polygon: tuple[float, ...] = ()  # x0, y0, x1, y1, ... outline of the mask in original pixels; targets


@dataclasses.dataclass(frozen=True)
class FileEntry:
    """One matched input, metadata only: this crosses the shuffle, and bytes are read after it.

    uri: how rows name it (see transforms.read.file_uri); path: what the filesystem opens; kind: "file",
    "special" (FIFO, device, socket) or "dangling" (a link to nothing); last_updated_in_seconds as Beam's
    FileMetadata names it, so transforms.cutoff.modified_after takes both.
    """

    uri: str
    path: str
    size: int | None
    last_updated_in_seconds: float | None = None
    kind: str = "file"


@dataclasses.dataclass(frozen=True, eq=False)
class DetectTask:
    """A decoded image and the detector inputs made from it: the whole image first, then any slices.

    The detector runs every input of a batch of tasks in full model batches (models.handler), so the
    slices never travel apart from their image.
    """

    image: DecodedImage
    views: tuple[View, ...]
    model_inputs: tuple[np.ndarray, ...]  # one per view


@dataclasses.dataclass(frozen=True, eq=False)
class DetectedImage:
    image: DecodedImage
    detections: tuple[Detection, ...]


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """What the summary needs of an image once its pixels are gone."""

    uri: str
    width: int
    height: int
    bottles: int
    captured_at: datetime.datetime | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class Crop:
    """One detected bottle's pixels, cut from the decoded image."""

    key: CropKey
    box: Box  # original pixels
    detection_score: float
    pixels: np.ndarray  # h x w x 3 uint8, the box's pixels as decoded
    scale: tuple[float, float] = (1.0, 1.0)  # decoded pixels per original pixel (x, y), as DecodedImage's

    @property
    def original_hw(self) -> tuple[float, float]:
        """The (height, width) in original pixels that the crop's pixels cover."""
        return self.pixels.shape[0] / self.scale[1], self.pixels.shape[1] / self.scale[0]


@dataclasses.dataclass(frozen=True, eq=False)
class ClassifyTask:
    crop: Crop
    model_input: np.ndarray


@dataclasses.dataclass(frozen=True, eq=False)
class ClassifiedCrop:
    crop: Crop
    target_score: float  # the highest product score
    product: str  # the product it is, or "other" (transforms.products.ProductRule.decide)
    product_score: float
    threshold: float  # the one product_score was held against (for "other": the highest-scoring product's)

    @property
    def is_product(self) -> bool:
        return self.product != "other"


@dataclasses.dataclass(frozen=True, eq=False)
class SegmentTask:
    classified: ClassifiedCrop
    model_input: np.ndarray
    content_hw: tuple[int, int]  # the part of model_input that holds the crop


@dataclasses.dataclass(frozen=True)
class ScanContext:
    """What every row of one scan carries besides its measurements."""

    scan_id: str
    detector_version: str
    classifier_version: str
    segmenter_version: str
    input_roots: tuple[str, ...] = ()  # see transforms.rows.input_root; rows name their folder relative to these
    products: tuple[str, ...] = ("target",)  # the classifier's products: every summary row has an entry for each
