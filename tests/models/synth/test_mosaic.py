"""Mosaics of synthetic scenes: one large image whose truth agrees with its mask, as models.synth's does."""
import numpy as np
from PIL import Image

from models.synth import generator
from models.synth.mosaic import write_mosaics
from models.synth.truth import read_truth


def test_a_mosaic_holds_every_scene_scaled_with_truth_measured_on_its_mask(tmp_path):
    scenes = generator.generate(tmp_path / "scenes", 5, seed=3, max_side=600)
    assert write_mosaics(scenes, tmp_path / "mosaic", grid=2, cell=300) == 1  # the fifth scene fills none
    (record,) = read_truth(tmp_path / "mosaic")
    image = Image.open(tmp_path / "mosaic" / record["image"])
    mask = np.asarray(Image.open(tmp_path / "mosaic" / record["mask"]))
    assert image.size == (600, 600) == (record["width"], record["height"]) == mask.shape[::-1]
    sources = read_truth(scenes)[:4]
    assert 0 < len(record["bottles"]) <= sum(len(r["bottles"]) for r in sources)
    assert mask.max() == len(record["bottles"])
    for k, bottle in enumerate(record["bottles"], start=1):
        ys, xs = np.nonzero(mask == k)
        assert bottle["box"] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        assert bottle["area_px"] == len(ys)
        assert set(bottle) == {"box", "brand", "is_target", "area_px", "visible_share"}
