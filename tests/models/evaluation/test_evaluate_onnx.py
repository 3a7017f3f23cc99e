"""python -m models.evaluation on an ONNX detector: COCO AP beside precision and recall."""
import json

import numpy as np
import pytest
from PIL import Image

from models.evaluation.evaluate import run
from tests import onnx_models

pytestmark = pytest.mark.slow

BOTTLES = [(30, 20, 70, 110), (150, 40, 190, 120), (100, 10, 140, 100)]  # one red bottle per 256 x 128 photo


def test_an_onnx_detector_gets_coco_ap_beside_precision_and_recall(tmp_path, capsys):
    lines = []
    for i, box in enumerate(BOTTLES):
        pixels = np.zeros((128, 256, 3), np.uint8)
        x0, y0, x1, y1 = box
        pixels[y0:y1, x0:x1] = (255, 0, 0)
        Image.fromarray(pixels).save(tmp_path / f"{i}.png")
        bottles = [{"box": list(box), "is_target": False}]
        lines.append(json.dumps({"image": f"{i}.png", "width": 256, "height": 128, "bottles": bottles}))
    (tmp_path / "truth.jsonl").write_text("\n".join(lines) + "\n")
    detector = onnx_models.ultralytics(tmp_path / "yolo.onnx")
    result = run(["--truth", str(tmp_path / "truth.jsonl"), "--detector", str(detector), "--classifier", "",
                  "--segmenter", "", "--slice_size", "0"])
    assert json.loads(capsys.readouterr().out) == result  # pycocotools' own printing stays out of the JSON
    assert (result["detector_precision"], result["detector_recall"]) == (1.0, 1.0)
    assert result["detector_ap50"] == 1.0 and result["detector_ar100"] > 0.5 and result["detector_ap"] > 0.5
    assert result["detector_ap_small"] is None  # 40 x 90 boxes are medium
