"""gs:// in, BigQuery and gs:// Parquet out, through the real scan on DirectRunner and the emulators."""
import io
import math

import numpy as np
import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystems import FileSystems
from PIL import Image

from pipeline.run import run

pytestmark = pytest.mark.slow

COLOURS = {"white": (255, 255, 255), "magenta": (255, 0, 255), "green": (0, 255, 0), "black": (0, 0, 0)}


@pytest.fixture(scope="module")
def photos(bq_emulator):
    bucket = bq_emulator.gcs.client().bucket(bq_emulator.gcs.bucket)
    for name, rgb in COLOURS.items():
        buffer = io.BytesIO()
        Image.fromarray(np.full((200, 200, 3), rgb, np.uint8)).save(buffer, "PNG")
        bucket.blob(f"photos/{name}.png").upload_from_string(buffer.getvalue())
    bucket.blob("photos/broken.png").upload_from_string(b"\x89PNG\r\n\x1a\n not really")
    return f"gs://{bq_emulator.gcs.bucket}/photos"


def _scan(toy_models, bq_emulator, photos, output, scan_id, *extra):
    return run(["--input", f"{photos}/*", "--output", output, "--scan_id", scan_id, "--no_progress",
                f"--temp_location={bq_emulator.temp_location}", f"--project={bq_emulator.project}",
                "--detector", str(toy_models["detector"]), "--classifier", str(toy_models["classifier"]),
                "--segmenter", str(toy_models["segmenter"]), *extra])


def _parquet(prefix: str) -> list[dict]:
    """A scan folder's rows with scan_id from the folder's name, as Hive-partitioned readers give it."""
    rows, scan_id = [], prefix.rstrip("/").rsplit("scan_id=", 1)[1]
    for metadata in FileSystems.match([f"{prefix}/*.parquet"])[0].metadata_list:
        with FileSystems.open(metadata.path) as f:
            rows += [{**row, "scan_id": scan_id} for row in pq.read_table(io.BytesIO(f.read())).to_pylist()]
    return sorted(rows, key=lambda r: r["image_uri"])


def _comparable(rows: list[dict]) -> list[dict]:
    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k != "processed_at"}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, float):
            return round(value, 6) if math.isfinite(value) else value
        return value

    return sorted((clean(r) for r in rows), key=lambda r: r["image_uri"])


def test_gs_to_bigquery_equals_gs_parquet_and_reruns_do_not_duplicate(toy_models, bq_emulator, photos):
    parquet_out = f"gs://{bq_emulator.gcs.bucket}/scans"
    _scan(toy_models, bq_emulator, photos, parquet_out, "cloud-1")
    report = _scan(toy_models, bq_emulator, photos, bq_emulator.output("summaries"), "cloud-1")
    assert report.images == 5 and report.failures == 1

    summaries = bq_emulator.rows("summaries")
    assert len(summaries) == 4
    assert _comparable(summaries) == _comparable(_parquet(f"{parquet_out}/summaries/scan_id=cloud-1"))
    white = next(r for r in summaries if r["image_uri"].endswith("white.png"))
    assert (white["bottles"], white["target_bottles"]) == (2, 2)
    assert _comparable(bq_emulator.rows("summaries_failures")) == _comparable(
        _parquet(f"{parquet_out}/failures/scan_id=cloud-1"))

    _scan(toy_models, bq_emulator, photos, bq_emulator.output("summaries"), "cloud-1")
    assert len(bq_emulator.rows("summaries")) == 4, "a re-run replaces the scan's rows"
    assert len(bq_emulator.rows("summaries_failures")) == 1


def test_nightly_scan_skips_images_already_in_bigquery(toy_models, bq_emulator, photos):
    output = bq_emulator.output("nightly")
    _scan(toy_models, bq_emulator, photos, output, "night-1", "--skip_scanned")
    bucket = bq_emulator.gcs.client().bucket(bq_emulator.gcs.bucket)
    buffer = io.BytesIO()
    Image.fromarray(np.full((200, 200, 3), 255, np.uint8)).save(buffer, "PNG")
    bucket.blob("photos/new.png").upload_from_string(buffer.getvalue())
    try:
        report = _scan(toy_models, bq_emulator, photos, output, "night-2", "--skip_scanned")
    finally:
        bucket.blob("photos/new.png").delete()
    night2 = [r["image_uri"] for r in bq_emulator.rows("nightly") if r["scan_id"] == "night-2"]
    assert night2 == [f"{photos}/new.png"]
    assert report.images == 2  # the new image, and the broken one again: failures are retried
