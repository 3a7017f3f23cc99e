"""Pack shots: N per brand in DIR/<brand>/NNN.jpg, one whole bottle each, and shots that differ the way
reference photos do (backdrop, angle, size, light)."""
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from models.synth.bottles import BRANDS
from models.synth.references import pack_shot, write_references

COLA = next(b for b in BRANDS if b.name == "cola_dark")


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return write_references(tmp_path_factory.mktemp("refs") / "r", 3, ["cola_dark", "micellar_rose"], seed=5)


def test_n_shots_per_brand_in_a_folder_named_after_it(shots):
    assert sorted(p.name for p in shots.iterdir() if p.is_dir()) == ["cola_dark", "micellar_rose"]
    for brand in ("cola_dark", "micellar_rose"):
        assert sorted(p.name for p in (shots / brand).iterdir()) == ["001.jpg", "002.jpg", "003.jpg"]
    lines = [json.loads(line) for line in (shots / "references.jsonl").read_text().splitlines()]
    assert [line["image"] for line in lines] == [f"{b}/{i:03d}.jpg" for b in ("micellar_rose", "cola_dark")
                                                 for i in (1, 2, 3)]  # in the designs' order
    for line in lines:
        with Image.open(shots / line["image"]) as im:
            assert im.size == (line["width"], line["height"]) and im.mode == "RGB"
        x0, y0, x1, y1 = line["box"]
        assert 0 <= x0 < x1 <= line["width"] and 0 <= y0 < y1 <= line["height"]


def test_each_shot_holds_one_whole_bottle():
    for index in range(1, 9):
        image, mask = pack_shot(COLA, 0, index)
        assert mask.shape == (image.height, image.width)
        _, parts = ndimage.label(mask)
        assert parts == 1
        assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())  # not cut off
        assert 0.01 < mask.mean() < 0.6
        pixels = np.asarray(image, np.float64)
        # the brand's dark body shows inside the bottle, not around it
        assert np.median(pixels[mask].sum(axis=1)) < np.median(pixels[~mask].sum(axis=1))


def test_shots_vary_in_backdrop_angle_size_and_light():
    shots = [pack_shot(COLA, 0, index) for index in range(1, 13)]
    sizes = {image.size for image, _ in shots}
    shares = [mask.mean() for _, mask in shots]
    tilts = []
    for _, mask in shots:
        ys, xs = np.nonzero(mask)
        tilts.append(np.degrees(np.arctan(np.polyfit(ys, xs, 1)[0])))  # the bottle's axis from vertical
    edges = []  # share of backdrop pixels on a strong horizontal edge: shelf boards have them, studio walls not
    for image, mask in shots:
        grey = np.asarray(image.convert("L"), np.float64)
        backdrop = ~(mask[1:] | mask[:-1])
        edges.append(float((np.abs(np.diff(grey, axis=0))[backdrop] > 20).mean()))
    assert len(sizes) >= 6
    assert max(shares) > 2.5 * min(shares)
    assert max(tilts) - min(tilts) > 20
    assert min(edges) < 0.002 and max(edges) > 0.005
    light = [np.asarray(image, np.float64)[mask].mean() for image, mask in shots]
    assert max(light) - min(light) > 10


def test_same_seed_same_bytes_and_a_brand_does_not_depend_on_the_others(shots, tmp_path):
    alone = write_references(tmp_path / "alone", 3, ["cola_dark"], seed=5)
    assert (alone / "cola_dark" / "002.jpg").read_bytes() == (shots / "cola_dark" / "002.jpg").read_bytes()
    other_seed = write_references(tmp_path / "other", 1, ["cola_dark"], seed=6)
    assert (other_seed / "cola_dark" / "001.jpg").read_bytes() != (shots / "cola_dark" / "001.jpg").read_bytes()


def test_command_line_writes_every_brand_by_default(tmp_path):
    done = subprocess.run([sys.executable, "-m", "models.synth", "--references", str(tmp_path), "--per_brand", "1",
                           "--seed", "2"], capture_output=True, text=True, check=True)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == sorted(b.name for b in BRANDS)
    assert len(list(tmp_path.glob("*/001.jpg"))) == len(BRANDS) and "1 pack shots per brand" in done.stderr
