"""pipeline.bench_onnx: its table and refusals on made-up input, and a real run of the synthetic detector
under TensorFlow and ONNX Runtime (converted by the bench itself) on the sample photos."""
import json
from pathlib import Path

import pytest

from pipeline import bench_onnx

SAMPLES = Path(__file__).resolve().parents[2] / "pipeline" / "samples" / "images"


def test_each_runtime_goes_first_in_turn():
    assert [bench_onnx.rotated(["tf", "ort"], i) for i in range(3)] == [["tf", "ort"], ["ort", "tf"], ["tf", "ort"]]


def test_the_table_gives_the_ratio_to_tensorflow_and_the_verdict():
    result = {"photos": 16, "images": "x/*", "rounds": 2, "cpus": 2, "load_avg_1m_at_end": 1.5,
              "runtimes": {"tensorflow": {"detect_s_per_photo": 0.5, "model_s_per_photo": 0.4, "bottles": 9},
                           "onnxruntime": {"detect_s_per_photo": 0.75, "model_s_per_photo": 0.7, "bottles": 8}},
              "agreement": {"onnxruntime": {"matched": 8, "only_first": 1, "only_second": 0, "max_score_gap": 0.01,
                                            "same": False}}}
    lines = bench_onnx.table(result).splitlines()
    assert lines[3].split() == ["onnxruntime", "0.750", "(1.50x)", "0.700", "(1.75x)", "8"]
    assert "DIFFERENT bottles: 8 matched at IoU >= 0.9, 1 found by tensorflow only" in lines[4]


def test_a_detector_that_is_not_built_in_needs_its_onnx_file(tmp_path):
    with pytest.raises(SystemExit, match="is not built in, so pass --onnx"):
        bench_onnx.main(["--images", str(SAMPLES), "--detector", str(tmp_path), "--work", str(tmp_path)])


def test_photos_that_match_nothing_are_refused(tmp_path):
    with pytest.raises(SystemExit, match="matches no file"):
        bench_onnx.main(["--images", str(tmp_path / "*.jpg"), "--work", str(tmp_path)])


@pytest.mark.slow
def test_the_synthetic_detector_runs_side_by_side_and_agrees(tmp_path, capsys):
    result = bench_onnx.main(["--images", str(SAMPLES / "00000[45].jpg"), "--detector", "synthetic", "--rounds", "1",
                              "--work", str(tmp_path)])
    printed = capsys.readouterr().out
    assert json.loads(printed[:printed.index("\n}\n") + 2]) == result
    tf, ort = result["runtimes"]["tensorflow"], result["runtimes"]["onnxruntime"]
    assert result["agreement"]["onnxruntime"]["same"] and tf["bottles"] == ort["bottles"] > 0
    assert 0 < tf["model_s_per_photo"] <= tf["detect_s_per_photo"] and 0 < ort["model_s_per_photo"]
    assert "onnxruntime vs tensorflow: the same bottles" in printed
    converted = Path(ort["uri"])
    assert converted.is_relative_to(tmp_path / "onnx") and (converted.parent / "shelfscan.json").is_file()
    assert bench_onnx.onnx_file("synthetic", None, tmp_path) == str(converted)  # kept: not converted again
