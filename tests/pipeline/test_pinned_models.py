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


def _scan(models, folder: Path, out: Path, swap_after_launch: bool, *runner: str):
    options = PipelineOptions(["--input", str(folder / "*.png"), "--output", str(out), "--scan_id", "pin",
                               "--no_progress", *runner, *[f"--{slot}={path}" for slot, path in models.items()]])
    cfg = scan_config(options.view_as(ScanOptions))  # the launcher reads (and pins) every model here
    if swap_after_launch:
        _swap(models["classifier"], OTHER_CLASSIFIER)  # someone replaces the model while the job starts
    p = beam.Pipeline(options=options)
    write_rows(build_scan(p, cfg), str(out), cfg.scan_id)
    p.run().wait_until_finish()
    return cfg


def _rows(out: Path) -> list[dict]:
    return pq.read_table(out / "summaries" / "scan_id=pin").to_pylist()


@pytest.fixture()
def white(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.full((200, 200, 3), 255, np.uint8)).save(folder / "white.png")
    return folder


def test_a_worker_process_of_its_own_stops_on_a_swap_and_leaves_the_result_as_it_was(models, white, tmp_path):
    out = tmp_path / "out"
    cfg = _scan(models, white, out, False)
    (row,) = _rows(out)
    assert row["classifier_version"] == content_version(models["classifier"]) == cfg.classifier.meta.version

    own_process = ["--direct_running_mode=multi_processing", "--direct_num_workers=1"]  # workers load their own
    with pytest.raises(Exception, match="content changed after the scan started"):
        _scan(models, white, out, True, *own_process)
    assert _rows(out) == [row], "the stopped re-run left the earlier result as it was"


def test_an_in_process_scan_runs_the_launchers_models_loading_each_once(models, white, tmp_path, monkeypatch):
    from models import slots

    loads = []

    def counted(slot, uri, *args, **kwargs):
        loads.append(slot)
        return real(slot, uri, *args, **kwargs)

    real = slots.load_model
    monkeypatch.setattr(slots, "load_model", counted)
    pinned = content_version(models["classifier"])
    _scan(models, white, tmp_path / "out", True)  # swapped after launch: the launcher's model is the one run
    assert sorted(loads) == ["classifier", "detector", "segmenter"], "each model loaded once, on the launcher"
    (row,) = _rows(tmp_path / "out")
    assert row["classifier_version"] == pinned != content_version(models["classifier"])
    assert row["target_bottles"] == 2, "the toy classifier ran (white is blue enough), not the swapped-in demo"
