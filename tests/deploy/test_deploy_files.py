"""deploy/ stays in step with the code: pinned versions, template parameters, the schedule."""
import json
import re
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.options import ScanOptions, flex_template_metadata, option_help

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;#]+)")


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = PIN.match(line.strip().strip('"'))
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_worker_image_installs_the_pinned_requirements():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    requirements = _pins((ROOT / "requirements.txt").read_text().splitlines())
    assert "pip install -r requirements.txt" in dockerfile
    installed = _pins(re.findall(r'"([^"]+==[^"]+)"', dockerfile))
    assert installed, "the Dockerfile should pin the CUDA TensorFlow extra it adds"
    for name, version in installed.items():
        assert requirements.get(name) == version, f"Dockerfile pins {name}=={version}, requirements.txt differs"
    beam = re.search(r"ARG BEAM_VERSION=(\S+)", dockerfile).group(1)
    assert beam == requirements["apache-beam"], "the boot binary must come from the same Beam version"
    assert "FROM apache/beam_python3.11_sdk:${BEAM_VERSION}" in dockerfile
    assert re.search(r"FROM nvidia/cuda:\S+-runtime", dockerfile)
    assert 'ENTRYPOINT ["/opt/apache/beam/boot"]' in dockerfile


def test_flex_template_metadata_names_every_option():
    committed = json.loads((DEPLOY / "flex" / "metadata.json").read_text())
    assert committed == flex_template_metadata(), \
        "regenerate with: python -m pipeline.options > deploy/flex/metadata.json"
    names = {p["name"] for p in committed["parameters"]}
    assert names == {name for name, _help, _flag in option_help()}
    assert {"input", "output", "detector", "classifier", "segmenter", "scan_id", "skip_scanned"} <= names


def test_scheduled_launch_passes_only_options_the_job_knows():
    body = json.loads((DEPLOY / "scheduler" / "launch.json").read_text())["launchParameter"]
    flags = [f"--{name}={value}" for name, value in body["parameters"].items()]
    options = PipelineOptions(flags)
    known = set(options.get_all_options(retain_unknown_options=False))
    unknown = set(body["parameters"]) - known
    assert not unknown, f"launch.json passes options no one defines: {sorted(unknown)}"
    scan = options.view_as(ScanOptions)
    assert scan.skip_scanned is True and scan.modified_after == "26h"
    assert "worker_accelerator=type:nvidia-tesla-t4" in body["parameters"]["dataflow_service_options"]
    assert "use_runner_v2" in body["environment"]["additionalExperiments"]


@pytest.mark.parametrize("path", ["flex/main.py", "gpu_check.py"])
def test_entry_points_compile(path):
    compile((DEPLOY / path).read_text(), path, "exec")
