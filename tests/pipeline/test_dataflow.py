"""`pipeline.run --runner=DataflowRunner` builds a valid Dataflow job, translated offline.

--template_location writes the job instead of submitting it; --dataflow_endpoint points at a localhost
port nothing listens on (a localhost endpoint also lets temp and staging be local directories),
--no_auth skips credentials and --sdk_location=container skips downloading the SDK from PyPI.
"""
import json

import pytest
from apache_beam.portability.api import beam_runner_api_pb2

from pipeline.run import run

pytestmark = pytest.mark.slow

WORKER_IMAGE = "us-central1-docker.pkg.dev/acme/shelfscan/worker:1.0"
GPU = "worker_accelerator=type:nvidia-tesla-t4;count:1;install-nvidia-driver"


@pytest.fixture(scope="module")
def job(toy_models, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dataflow")
    staging = tmp / "staging"
    staging.mkdir()
    template = tmp / "job.json"
    report = run([
        "--runner=DataflowRunner", "--project=acme-test", "--region=us-central1",
        f"--template_location={template}", "--dataflow_endpoint=http://localhost:1", "--no_auth",
        f"--temp_location={tmp / 'temp'}", f"--staging_location={staging}", "--sdk_location=container",
        f"--sdk_container_image={WORKER_IMAGE}", f"--dataflow_service_options={GPU}",
        "--experiments=use_runner_v2", "--experiments=no_use_multiple_sdk_containers",
        "--number_of_worker_harness_threads=4", "--machine_type=n1-standard-8",
        "--input=gs://acme-photos/2026/**", f"--output={tmp / 'out'}", "--scan_id=nightly",
        "--detector", str(toy_models["detector"]), "--classifier", str(toy_models["classifier"]),
        "--segmenter", str(toy_models["segmenter"]),
    ])
    assert report is None, "a Dataflow launch returns without waiting"
    pipeline = beam_runner_api_pb2.Pipeline()
    pipeline.ParseFromString((staging / "pipeline.pb").read_bytes())
    return json.loads(template.read_text()), pipeline


def test_job_carries_our_stages(job):
    _, pipeline = job
    names = {t.unique_name for t in pipeline.components.transforms.values()}
    for stage in ("Read", "Read/FanOut", "Decode", "Detect", "Crops", "Classify", "Segment", "Summarize",
                  "WriteSummaries", "WriteFailures"):
        assert stage in names, stage
    assert any(name.startswith("Detect/") and "RunInference" in name for name in names)


def test_job_runs_on_our_gpu_worker_image(job):
    spec, _ = job
    environment = spec["environment"]
    (pool,) = environment["workerPools"]
    assert pool["workerHarnessContainerImage"] == WORKER_IMAGE
    assert {c["containerImage"] for c in pool["sdkHarnessContainerImages"]} == {WORKER_IMAGE}
    options = environment["sdkPipelineOptions"]["options"]
    assert options["dataflow_service_options"] == [GPU]
    assert options["number_of_worker_harness_threads"] == 4
    assert {"use_runner_v2", "no_use_multiple_sdk_containers"} <= set(environment["experiments"])
    assert "use_multiple_sdk_containers" not in environment["experiments"]
    assert options["scan_id"] == "nightly" and options["input"] == ["gs://acme-photos/2026/**"]
