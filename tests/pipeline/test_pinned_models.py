"""Pinned models: a row's *_version is the content of the model that produced it, or the scan stops."""
import shutil
from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from PIL import Image

from models.handler import SlotModelHandler
from models.slots import ModelLoadError, content_version
from pipeline.graph import build_scan
from pipeline.options import ScanOptions
from pipeline.run import scan_config
from pipeline.sinks import write_rows

pytestmark = pytest.mark.slow
OTHER_CLASSIFIER = Path(__file__).resolve().parents[2] / "models" / "default" / "classifier"


@pytest.fixture()
def models(toy_models, tmp_path):
    """The toy models in a folder of this test's own, so one can be swapped in place."""
    return {slot: shutil.copytree(path, tmp_path / "models" / slot) for slot, path in toy_models.items()}


def _swap(folder: Path, replacement: Path) -> None:
    shutil.rmtree(folder)
    shutil.copytree(replacement, folder)


def test_a_worker_refuses_content_other_than_the_pinned_one(models):
    pinned = content_version(models["classifier"])
    assert SlotModelHandler("classifier", str(models["classifier"]), version=pinned).load_model().meta.version == pinned
    _swap(models["classifier"], OTHER_CLASSIFIER)
    with pytest.raises(ModelLoadError, match=f"content changed after the scan started \\(pinned {pinned}, now sha256:"):
        SlotModelHandler("classifier", str(models["classifier"]), version=pinned).load_model()


def _scan(models, folder: Path, out: Path, swap_after_launch: bool):
    options = PipelineOptions(["--input", str(folder / "*.png"), "--output", str(out), "--scan_id", "pin",
                               "--no_progress", *[f"--{slot}={path}" for slot, path in models.items()]])
    cfg = scan_config(options.view_as(ScanOptions))  # the launcher reads (and pins) every model here
    if swap_after_launch:
        _swap(models["classifier"], OTHER_CLASSIFIER)  # someone replaces the model while the job starts
    p = beam.Pipeline(options=options)
    write_rows(build_scan(p, cfg), str(out), cfg.scan_id)
    p.run().wait_until_finish()
    return cfg


def test_rows_name_the_content_that_produced_them_and_a_swap_stops_the_scan(models, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.full((200, 200, 3), 255, np.uint8)).save(folder / "white.png")
    cfg = _scan(models, folder, tmp_path / "out", swap_after_launch=False)
    (row,) = pq.read_table(tmp_path / "out" / "summaries" / "scan_id=pin").to_pylist()
    assert row["classifier_version"] == content_version(models["classifier"]) == cfg.classifier.meta.version

    with pytest.raises(Exception, match="content changed after the scan started"):
        _scan(models, folder, tmp_path / "out", swap_after_launch=True)
    (again,) = pq.read_table(tmp_path / "out" / "summaries" / "scan_id=pin").to_pylist()
    assert again == row, "the stopped re-run left the earlier result as it was"
