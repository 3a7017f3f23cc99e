"""A whole scan with --detector model.onnx: the rows count the bottle it finds and name the file's version."""
import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from PIL import Image

from models.slots import files_version
from pipeline.graph import build_scan
from pipeline.options import ScanOptions
from pipeline.run import scan_config
from pipeline.sinks import write_rows
from tests import onnx_models

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("batch", ["batch", 1])
def test_a_scan_with_an_onnx_detector(toy_models, tmp_path, batch):
    folder = tmp_path / "in"
    folder.mkdir()
    pixels = np.zeros((600, 1500, 3), np.uint8)
    pixels[200:500, 600:700] = (255, 0, 0)
    Image.fromarray(pixels).save(folder / "shelf.png")
    detector = onnx_models.ultralytics(tmp_path / "yolo.onnx", batch=batch)
    out = tmp_path / "out"
    options = PipelineOptions(["--input", str(folder / "*.png"), "--output", str(out), "--scan_id", "onnx",
                               "--no_progress", f"--detector={detector}", "--slice_size=600",
                               f"--classifier={toy_models['classifier']}", f"--segmenter={toy_models['segmenter']}"])
    cfg = scan_config(options.view_as(ScanOptions))
    p = beam.Pipeline(options=options)
    write_rows(build_scan(p, cfg), str(out), cfg.scan_id)
    p.run().wait_until_finish()
    (row,) = pq.read_table(out / "summaries" / "scan_id=onnx").to_pylist()
    assert row["detector_version"] == files_version([detector])
    assert row["bottles"] == 1, row
