"""A model file that touches files stops the scan before it starts, unless --trust_model_code; then the
launcher and the workers both load it."""
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from models.slots import UntrustedModelError
from pipeline.options import ScanOptions
from pipeline.run import scan_config
from tests.toy_models import build_file_copying_classifier

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def hostile(tmp_path):
    """(model dir, the file it copies, where it copies it to)."""
    secret, copy = tmp_path / "hostname", tmp_path / "copied"
    secret.write_text("build-host-7\n")
    return build_file_copying_classifier(tmp_path / "copier", secret, copy), secret, copy


def _argv(toy_models, classifier: Path, *extra: str) -> list[str]:
    samples = str(Path(__file__).resolve().parents[2] / "pipeline" / "samples" / "images")  # inputs pass their check
    return ["--input", samples, "--no_progress", f"--detector={toy_models['detector']}",
            f"--classifier={classifier}", f"--segmenter={toy_models['segmenter']}", *extra]


def test_the_launcher_refuses_and_trust_reaches_the_worker_load(toy_models, hostile):
    model_dir, _, copy = hostile
    with pytest.raises(UntrustedModelError, match="classifier model from .*copier: its graph runs ReadFile, WriteFile"):
        scan_config(PipelineOptions(_argv(toy_models, model_dir)).view_as(ScanOptions))
    assert not copy.exists()

    cfg = scan_config(PipelineOptions(_argv(toy_models, model_dir, "--trust_model_code")).view_as(ScanOptions))
    assert copy.exists() and cfg.classifier.trust_model_code and not cfg.detector.meta.uri.endswith("copier")
    copy.unlink()
    worker = dataclasses.replace(cfg.classifier, loaded=None)  # a worker process has no launcher's model
    model = worker.handler(False, None).load_model()  # what each worker runs
    assert copy.exists() and model.meta.version == cfg.classifier.meta.version


def test_the_command_says_why_in_one_line_and_writes_nothing(toy_models, hostile, tmp_path):
    model_dir, _, copy = hostile
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "pipeline.run", *_argv(toy_models, model_dir),
                           "--output", str(tmp_path / "out")], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1 and not copy.exists() and not (tmp_path / "out").exists()
    last = done.stderr.strip().splitlines()[-1]
    assert last == (f"shelfscan: cannot load the classifier model from {model_dir}: its graph runs ReadFile, "
                    "WriteFile, which read or write files; shelfscan refuses model files that touch files or the "
                    "network — pass --trust_model_code if you trust this model")
