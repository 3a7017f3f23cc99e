"""Decoding only the pixels the models use: how far, for which formats, and that boxes and areas stay in
original pixels all the way to the summary."""
import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from PIL import Image

from tests.corpus import _encoded
from transforms.areas import mask_area_px
from transforms.bottles import segmenter_input
from transforms.crop_geometry import image_crops
from transforms.decode import DecodeImages, PixelNeed, decode_image
from transforms.detection import detector_input, to_detections
from transforms.records import ClassifiedCrop, DecodedImage, Detection

MAX_PIXELS = 50_000_000
PHONE = PixelNeed(detector_side=512, crop_side=224, bottle_share=0.125)


@pytest.mark.parametrize("need, width, height, expected", [
    (PHONE, 4032, 3024, 4032 * 0.125 / 224),  # the crops decide: 2.25, so libjpeg's 1/2
    (PHONE, 3024, 4032, 4032 * 0.125 / 224),  # portrait alike
    (PixelNeed(512, 224, 0.5), 4032, 3024, 4032 / 512),  # large bottles only: the detector decides
    (PixelNeed(512, 224, 0.5, detector_span=512), 2000, 1500, 1.0),  # 512-px slices fed at 512: every pixel
    (PixelNeed(512, 224, 0.5, detector_span=512), 4032, 3024, 1008 / 512),  # slices of 1/4 the long side
    (PixelNeed(512, 224, 0.5, detector_span=1024), 4032, 3024, 2.0),
    (PixelNeed(None, 224, 0.125), 4032, 3024, 4032 * 0.125 / 224),  # any-size detector: the crops decide
    (PHONE, 1200, 900, 1.0),  # small photos: every pixel
    (PixelNeed(512, 224, 0.0), 4032, 3024, 1.0),  # 0: every pixel
    (PixelNeed(512, None, 0.125), 4032, 3024, 1.0),  # a crop model taking any size: every pixel
])
def test_how_far_a_photo_may_be_reduced(need, width, height, expected):
    assert need.reduction(width, height) == pytest.approx(expected)


def _scene(width: int, height: int) -> np.ndarray:
    """Smooth colour ramps with a few sharp bars: survives JPEG, and a wrong scale or flip shows."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    pixels = np.stack([xs / width * 255, ys / height * 255, np.full_like(xs, 90)], axis=-1)
    pixels[height // 4:height // 2, width // 8:width // 4] = (250, 20, 200)
    return pixels.astype(np.uint8)


def _expected(full: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(full).resize(shape[::-1], Image.BOX)).astype(np.float32)


@pytest.mark.parametrize("fmt, width, height, decoded_hw", [
    ("JPEG", 4032, 3024, (1512, 2016)),  # DCT scaling 1/2
    ("JPEG", 4033, 3025, (1513, 2017)),  # odd sides: libjpeg rounds up
    ("PNG", 4032, 3024, (1512, 2016)),  # decoded whole, then averaged 2 x 2
    ("WEBP", 2000, 1000, (1000, 2000)),  # too small to reduce for these models
])
def test_photos_decode_reduced_and_keep_their_original_size(fmt, width, height, decoded_hw):
    full = _scene(width, height)
    image = decode_image(f"p.{fmt.lower()}", _encoded(Image.fromarray(full), fmt, quality=95), MAX_PIXELS,
                         need=PHONE)
    assert image.pixels.shape == (*decoded_hw, 3) and image.pixels.flags["C_CONTIGUOUS"]
    assert (image.width, image.height) == (width, height)
    assert (image.scale_x, image.scale_y) == (decoded_hw[1] / width, decoded_hw[0] / height)
    difference = np.abs(image.pixels.astype(np.float32) - _expected(full, decoded_hw))
    assert difference.mean() < 3, "the reduced pixels are not the photo averaged down"


def test_without_a_need_every_pixel_is_decoded():
    image = decode_image("p.jpg", _encoded(Image.fromarray(_scene(4032, 3024)), "JPEG"), MAX_PIXELS)
    assert image.pixels.shape == (3024, 4032, 3) and image.original_size is None
    assert (image.width, image.height, image.scale_x) == (4032, 3024, 1.0)


def test_a_turned_phone_photo_reduces_upright_and_reports_upright_original_sides():
    stored = _scene(4032, 3024)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, viewed portrait (rotate 90 degrees clockwise)
    image = decode_image("turned.jpg", _encoded(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes()),
                         MAX_PIXELS, need=PHONE)
    assert (image.width, image.height) == (3024, 4032) and image.pixels.shape == (2016, 1512, 3)
    upright = np.rot90(stored, k=-1)
    assert np.abs(image.pixels.astype(np.float32) - _expected(np.ascontiguousarray(upright), (2016, 1512))).mean() < 3


def test_the_decode_transform_reduces_as_told():
    data = _encoded(Image.fromarray(_scene(4032, 3024)), "JPEG")
    with TestPipeline() as p:
        out = p | beam.Create([("a.jpg", data)]) | DecodeImages(MAX_PIXELS, PHONE)
        assert_that(out["images"] | beam.Map(lambda im: (im.width, im.height, im.pixels.shape)),
                    equal_to([(4032, 3024, (1512, 2016, 3))]))


def test_boxes_crops_and_mask_areas_of_a_reduced_image_are_in_original_pixels():
    full = _scene(4000, 3000)
    half = DecodedImage("x.jpg", np.ascontiguousarray(full[::2, ::2]), (4000, 3000))
    task = detector_input(half, 512)
    (view,) = task.views
    assert view.scale_x == pytest.approx(512 / 4000)
    # the detector sees the bar at x 500..1000, y 750..1500 (original pixels) where a full decode puts it
    s = 512 / 4000
    outputs = {"detection_boxes": np.array([[750 * s / 512, 500 * s / 512, 1500 * s / 512, 1000 * s / 512]]),
               "detection_scores": np.array([0.9])}
    (det,) = to_detections(task, (outputs,), 0.5, ())
    assert det.box == pytest.approx((500, 750, 1000, 1500))
    (crop,) = image_crops(half, [Detection(det.box, det.score)])
    assert crop.pixels.shape == (375, 250, 3) and crop.original_hw == pytest.approx((750, 500))
    assert (crop.pixels == (250, 20, 200)).all()  # exactly the bar, nothing around it
    seg = segmenter_input(ClassifiedCrop(crop, 0.9, "target", 0.9, 0.5), 160, "stretch")
    mask = np.ones((160, 160), np.float32)
    assert mask_area_px(mask, seg.content_hw, crop.original_hw) == pytest.approx(750 * 500)



def test_slices_of_a_reduced_image_show_the_same_windows_as_of_every_pixel():
    full = _scene(4000, 3000)
    whole = DecodedImage("x.jpg", full)
    half = DecodedImage("x.jpg", np.asarray(Image.fromarray(full).reduce(2)), (4000, 3000))
    at_full, at_half = (detector_input(im, 512, "letterbox", 1024, 0.2) for im in (whole, half))
    assert len(at_full.views) == len(at_half.views) > 1
    for a, b, input_a, input_b in zip(at_full.views, at_half.views, at_full.model_inputs, at_half.model_inputs):
        assert a.window == b.window  # windows stay in original pixels
        assert (b.scale_x, b.scale_y) == pytest.approx((a.scale_x, a.scale_y), rel=1e-3)
        assert np.abs(input_a.astype(np.float32) - input_b.astype(np.float32)).mean() < 3  # the same picture
