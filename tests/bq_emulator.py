"""A real BigQuery stand-in for tests: bqemulator on 127.0.0.1, reading load files from a GCS emulator.

Beam's FILE_LOADS writes files under --temp_location (gs:// only) and starts load jobs whose sourceUris
are those gs:// files. bqemulator resolves `gs://BUCKET/PATH` to `BQEMU_GCS_LOCAL_ROOT/BUCKET/PATH`,
and gcp-storage-emulator, when it stores on disk, keeps each object at `ROOT/BUCKET/NAME`. So both
emulators share one directory: the BigQuery emulator reads exactly the bytes Beam uploaded through
GcsIO. That needs the GCS emulator on disk, which `gcs_disk_emulator` provides (the shared
`gcs_emulator` fixture keeps objects in memory).

Beam's BigQuery client has no endpoint option; tests/bq_sitecustomize/ (on PYTHONPATH for every
process started from here) points it at the emulator, and this process is patched directly.

bqemulator needs DuckDB's spatial extension and would download it; the emulator process gets its own
HOME whose DuckDB extension directory links the file shipped in the duckdb-extension-spatial wheel.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.gcs_emulator import EnvPatch, GcsEmulator, free_port, stop, wait_for_port

PROJECT = "test-project"
DATASET = "shelfscan"
SITECUSTOMIZE_DIR = Path(__file__).parent / "bq_sitecustomize"


@dataclasses.dataclass
class BigQueryEmulator:
    """What a test needs: where the emulator is, a dataset in it, and the GCS emulator it reads."""

    endpoint: str  # http://127.0.0.1:PORT
    project: str
    dataset: str
    gcs: GcsEmulator
    temp_location: str  # a gs:// prefix for Beam's --temp_location

    def client(self):
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        return bigquery.Client(project=self.project, credentials=AnonymousCredentials(),
                               client_options=ClientOptions(api_endpoint=self.endpoint))

    def output(self, table: str) -> str:
        """The --output for a table in the test dataset."""
        return f"bq://{self.project}.{self.dataset}.{table}"

    def rows(self, table: str, order_by: str = "image_uri") -> list[dict[str, Any]]:
        query = f"SELECT * FROM `{self.project}.{self.dataset}.{table}` ORDER BY {order_by}"
        return [dict(row) for row in self.client().query(query).result()]


@pytest.fixture(scope="session")
def gcs_disk_emulator(gcs_emulator) -> GcsEmulator:
    """The session's GCS emulator, which stores objects on disk under `.root`."""
    return gcs_emulator


def _duckdb_home(home: Path) -> Path:
    """A HOME whose DuckDB extension directory holds the spatial extension from its PyPI package."""
    import duckdb
    import duckdb_extension_spatial

    platform = duckdb.execute("PRAGMA platform").fetchone()[0]
    version = f"v{duckdb.__version__}"
    shipped = Path(duckdb_extension_spatial.__file__).parent / "extensions" / version / "spatial.duckdb_extension"
    if not shipped.is_file():
        raise RuntimeError(f"{shipped} missing: pin duckdb-extension-spatial to duckdb's version {version}")
    target = home / ".duckdb" / "extensions" / version / platform
    target.mkdir(parents=True)
    (target / shipped.name).symlink_to(shipped)
    return home


def _point_beam_at(endpoint: str) -> None:
    """This process started before PYTHONPATH named the sitecustomize: run its patch here."""
    spec = importlib.util.spec_from_file_location("tests_bq_sitecustomize", SITECUSTOMIZE_DIR / "sitecustomize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.install(endpoint)


@pytest.fixture(scope="session")
def bq_emulator(gcs_disk_emulator, tmp_path_factory) -> Iterator[BigQueryEmulator]:
    """bqemulator with dataset DATASET, reading gs:// load files from `gcs_disk_emulator`."""
    from apache_beam.io.gcp.internal.clients.bigquery import BigqueryV2

    home = _duckdb_home(tmp_path_factory.mktemp("bq_home"))
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("bq_log") / "bqemulator.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "bqemulator", "start", "--rest-host=127.0.0.1", f"--rest-port={port}",
         "--grpc-host=127.0.0.1", "--grpc-port=0", f"--project={PROJECT}", "--log-level=error"],
        env={**os.environ, "HOME": str(home), "BQEMU_GCS_LOCAL_ROOT": str(gcs_disk_emulator.root)},
        stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    env = EnvPatch()
    env.set("BIGQUERY_EMULATOR_HOST", endpoint)
    env.set("PYTHONPATH", os.pathsep.join(filter(None, [str(SITECUSTOMIZE_DIR), os.environ.get("PYTHONPATH")])))
    base_url = BigqueryV2.BASE_URL
    try:
        try:
            wait_for_port(port, process, timeout=60)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; its log ends:\n{log.read_text(errors='replace')[-2000:]}") from None
        _point_beam_at(endpoint)
        emulator = BigQueryEmulator(endpoint, PROJECT, DATASET, gcs_disk_emulator,
                                    f"gs://{gcs_disk_emulator.bucket}/tmp")
        emulator.client().create_dataset(DATASET)
        yield emulator
    finally:
        BigqueryV2.BASE_URL = base_url
        stop(process)
        env.restore()
