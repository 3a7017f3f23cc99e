"""Letterboxing, box mapping back to original pixels, and area choice: pure functions."""
import numpy as np
import pytest

from transforms.areas import choose_area, expected_area_px, mask_area_px
from transforms.detection import detector_input, to_detections
from transforms.letterbox import PAD_VALUE, content_shape, letterbox
from transforms.records import DecodedImage


def _image(h, w, uri="mem://x.jpg"):
    rng = np.random.default_rng(0)
    return DecodedImage(uri, rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def test_letterbox_keeps_aspect_and_pads_bottom_right():
    out, scale = letterbox(np.zeros((100, 400, 3), np.uint8), 200)
    assert out.shape == (200, 200, 3)
    assert scale == pytest.approx(0.5)
    assert (out[:50] == 0).all() and (out[50:] == PAD_VALUE).all()
    assert content_shape(100, 400, 200) == (50, 200)


def test_boxes_map_back_to_original_pixels_of_a_wide_image():
    task = detector_input(_image(300, 1200), 512)
    # a box covering x 600..900, y 30..270 in the original lands at scale 512/1200 in the input
    s = 512 / 1200
    outputs = {
        "detection_boxes": np.array([[30 * s / 512, 600 * s / 512, 270 * s / 512, 900 * s / 512],
                                     [0.9, 0.9, 0.95, 0.95]]),
        "detection_scores": np.array([0.9, 0.8]),
        "detection_classes": np.array([1.0, 1.0]),
        "num_detections": np.array(2.0),
    }
    (det,) = to_detections(task, [outputs], 0.5, (1,))  # the second box lies in the padding: dropped
    assert det.box == pytest.approx((600, 30, 900, 270))


def test_score_threshold_class_filter_and_num_detections():
    task = detector_input(_image(100, 100), None)
    outputs = {
        "detection_boxes": np.array([[[0.1, 0.1, 0.5, 0.5]] * 4]),
        "detection_scores": np.array([[0.9, 0.3, 0.95, 0.99]]),
        "detection_classes": np.array([[44, 44, 1, 44]]),
        "num_detections": np.array([3]),
    }
    dets = to_detections(task, [outputs], 0.5, (44,))
    assert [d.score for d in dets] == [pytest.approx(0.9)]  # 0.3 below threshold, class 1 filtered, 4th beyond num
    assert dets[0].box == pytest.approx((10, 10, 50, 50))


def test_mask_area_scales_back_to_crop_pixels():
    crop_hw = (400, 100)  # tall crop into a 128 input: content 128 x 32
    h, w = content_shape(*crop_hw, 128)
    mask = np.zeros((128, 128), np.float32)
    mask[:h, : w // 2] = 1.0  # left half of the content
    mask[:, w:] = 1.0  # padding must not count
    assert mask_area_px(mask, (h, w), crop_hw) == pytest.approx(400 * 100 / 2)


def test_expected_area_uses_fill_table_by_aspect():
    assert expected_area_px((0, 0, 10, 40)) == pytest.approx(0.75 * 400)
    assert expected_area_px((0, 0, 10, 40), [1.0, 4.0], [0.5, 0.9]) == pytest.approx(0.9 * 400)
    assert expected_area_px((5, 5, 5, 9)) == 0.0


@pytest.mark.parametrize("mask,expected,tol,want", [
    (100.0, 110.0, 1.5, (100.0, "mask")),
    (200.0, 100.0, 1.5, (100.0, "expected")),   # overestimate: two bottles in one crop
    (50.0, 100.0, 1.5, (100.0, "expected")),    # underestimate beyond 1/1.5
    (0.0, 100.0, 1.5, (100.0, "expected")),
    (150.0, 100.0, 1.5, (150.0, "mask")),       # exactly at the tolerance is still plausible
])
def test_choose_area(mask, expected, tol, want):
    assert choose_area(mask, expected, tol) == want


def test_fit_reports_the_content_region_for_each_mode():
    from transforms.letterbox import fit

    tall = np.zeros((100, 40, 3), np.uint8)
    boxed, content = fit(tall, 50, "letterbox")
    assert boxed.shape == (50, 50, 3) and content == (50, 20)
    assert np.all(boxed[:, 20:] == 127)
    stretched, content = fit(tall, 50, "stretch")
    assert stretched.shape == (50, 50, 3) and content == (50, 50)
    with pytest.raises(ValueError, match="unknown resize mode"):
        fit(tall, 50, "crop")


def test_stretched_boxes_map_back_per_axis():
    task = detector_input(_image(300, 1200), 512, "stretch")
    assert task.model_inputs[0].shape == (512, 512, 3)  # no padding: x and y scaled each on its own
    outputs = {"detection_boxes": np.array([[30 / 300, 600 / 1200, 270 / 300, 900 / 1200]]),
               "detection_scores": np.array([0.9])}
    (det,) = to_detections(task, [outputs], 0.5, ())
    assert det.box == pytest.approx((600, 30, 900, 270))


def test_mask_outline_is_drawn_in_original_pixels():
    from transforms.areas import MAX_OUTLINE_POINTS, mask_outline

    mask = np.zeros((100, 100), np.float32)
    mask[20:80, 30:60] = 0.9  # letterboxed content 100 x 100 of a crop 200 tall, 100 wide at (10, 1000)
    mask[90:95, 0:3] = 0.9  # a speck: not the bottle's outline
    outline = mask_outline(mask, (100, 100), (200.0, 100.0), (10.0, 1000.0))
    xs, ys = outline[0::2], outline[1::2]
    assert 4 <= len(xs) <= MAX_OUTLINE_POINTS
    assert min(xs) == pytest.approx(40, abs=0.6) and max(xs) == pytest.approx(70, abs=0.6)
    assert min(ys) == pytest.approx(1040, abs=1.1) and max(ys) == pytest.approx(1160, abs=1.1)
    assert mask_outline(np.zeros((10, 10)), (10, 10), (10.0, 10.0), (0.0, 0.0)) == ()
