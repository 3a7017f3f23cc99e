"""The real test set assembles from the installed packages, and its instances.json reads."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import models.realset as realset
from models.evaluation.coco import polygon_mask
from models.evaluation.truth import iter_labeled, read_truth

README = Path(realset.__file__).parent / "README.md"


@pytest.fixture(scope="module")
def assembled(tmp_path_factory):
    return realset.assemble(tmp_path_factory.mktemp("real"))


def test_assembles_real_photos_with_and_without_bottles(assembled):
    truth = read_truth(assembled, target_categories=["micellar_rose"])
    counts = {Path(i.image).name: len(i.bottles) for i in truth.images}
    assert counts["motorcycle_left.png"] == counts["motorcycle_right.png"] == 2
    assert sorted(name for name, n in counts.items() if n == 0) == [
        "astronaut.png", "chelsea.png", "coffee.png", "grace_hopper.jpg", "rocket.jpg"]
    assert truth.has_targets and not any(b.is_target for i in truth.images for b in i.bottles)
    for image, labeled in zip(truth.images, iter_labeled(truth)):
        assert labeled.pixels.shape[:2] == (image.height, image.width)
        assert labeled.has_mask.all()


def test_boxes_and_areas_are_the_polygons_own(assembled):
    for image in read_truth(assembled).images:
        for bottle in image.bottles:
            (polygon,) = bottle.segmentation
            xs, ys = polygon[0::2], polygon[1::2]
            assert bottle.box == (min(xs), min(ys), max(xs), max(ys))
            mask = polygon_mask([polygon], image.height, image.width)
            assert bottle.area_px == mask.sum() > 0.5 * (max(xs) - min(xs)) * (max(ys) - min(ys))


def test_the_car_wash_bottle_is_where_the_photo_has_yellow(assembled):
    truth = read_truth(assembled)
    left = next(i for i in truth.images if i.image.endswith("motorcycle_left.png"))
    x0, y0, x1, y1 = (int(v) for v in left.bottles[0].box)
    with Image.open(assembled.parent / left.image) as im:
        crop = np.asarray(im.convert("RGB"), np.int32)[y0 + 8:y1, x0:x1]  # below the black cap
    r, g, b = crop[..., 0], crop[..., 1], crop[..., 2]
    assert np.mean((r > 150) & (g > 120) & (b < 100)) > 0.6


def test_every_photo_has_its_source_and_licence_in_the_readme():
    text = README.read_text()
    for photo in realset.PHOTOS:
        assert photo.name in text and photo.pip_name in text


def test_a_missing_package_or_other_bytes_say_what_to_do(tmp_path, monkeypatch):
    photo = realset.PHOTOS[0]
    monkeypatch.setattr(realset, "PHOTOS", (realset.Photo(photo.name, "nopkg", "no_such_module_xyz", "a.png", "0"),))
    with pytest.raises(realset.RealSetError, match="package nopkg is not installed; pip install"):
        realset.assemble(tmp_path)
    monkeypatch.setattr(realset, "PHOTOS", (realset.Photo(photo.name, photo.pip_name, photo.module, photo.path, "0"),))
    with pytest.raises(realset.RealSetError, match="other bytes than the annotations were drawn on"):
        realset.assemble(tmp_path)
