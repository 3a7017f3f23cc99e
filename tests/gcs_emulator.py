"""A real GCS stand-in for tests: gcp-storage-emulator on 127.0.0.1, reached through Beam's GcsIO.

google-cloud-storage (and so Beam) honours STORAGE_EMULATOR_HOST. Without credentials,
google-auth probes the GCE metadata server and Beam retries that for 20-27 s per process, so the
fixture also writes a fake authorized-user credentials file whose token never expires (nothing
ever refreshes it) and sets NO_GCE_CHECK. Environment variables reach Beam's worker processes too.
"""
from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

BUCKET = "shelfscan-test"
PRECONDITIONS = Path(__file__).parent / "gcs_preconditions.py"  # the emulator, honouring ifGenerationMatch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"emulator exited early with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f}s")


@dataclasses.dataclass
class GcsEmulator:
    endpoint: str
    bucket: str
    root: Path  # objects live on disk: gs://BUCKET/NAME is the file ROOT/BUCKET/NAME

    def client(self):
        from google.cloud import storage

        return storage.Client(project="test-project")

    def upload_dir(self, local: Path, prefix: str) -> str:
        """Copy a local directory tree under gs://bucket/prefix/; returns that URI."""
        bucket = self.client().bucket(self.bucket)
        for path in sorted(Path(local).rglob("*")):
            if path.is_file():
                bucket.blob(f"{prefix}/{path.relative_to(local).as_posix()}").upload_from_filename(str(path))
        return f"gs://{self.bucket}/{prefix}"

    def names(self, prefix: str = "") -> list[str]:
        return sorted(b.name for b in self.client().list_blobs(self.bucket, prefix=prefix))


class EnvPatch:
    """Set environment variables for the session and put them back afterwards."""

    def __init__(self):
        self._saved: dict[str, str | None] = {}

    def set(self, key: str, value: str) -> None:
        self._saved.setdefault(key, os.environ.get(key))
        os.environ[key] = value

    def restore(self) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def fake_credentials(path: Path) -> Path:
    path.write_text(json.dumps({
        "type": "authorized_user", "client_id": "test", "client_secret": "test", "refresh_token": "test",
        # google-auth treats a token without expiry as expired; this one outlives every test run
        "token": "test-token", "expiry": "2099-12-31T00:00:00Z"}))
    return path


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory) -> Iterator[GcsEmulator]:
    base = tmp_path_factory.mktemp("gcs")
    port = free_port()
    # On disk rather than in memory: the BigQuery emulator reads load files straight from ROOT.
    process = subprocess.Popen(
        [sys.executable, str(PRECONDITIONS), "start", "--host=127.0.0.1", f"--port={port}",
         f"--default-bucket={BUCKET}", "--quiet"],
        env={**os.environ, "STORAGE_BASE": str(base), "STORAGE_DIR": "objects"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {
        "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}",
        "GOOGLE_APPLICATION_CREDENTIALS": str(fake_credentials(base / "creds.json")),
        "NO_GCE_CHECK": "true",
        "GOOGLE_CLOUD_PROJECT": "test-project",
    }
    patch = EnvPatch()
    for key, value in env.items():
        patch.set(key, value)
    try:
        wait_for_port(port, process)
        yield GcsEmulator(env["STORAGE_EMULATOR_HOST"], BUCKET, base / "objects")
    finally:
        stop(process)
        patch.restore()
