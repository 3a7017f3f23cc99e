"""The few file operations the commit protocol needs, on a local folder or on gs://, without Beam.

The commit log (transforms/commit_log.py) is read by commands that should not pay Beam's start-up
(report, evaluate), so this talks to the local filesystem and to google-cloud-storage directly. What
the protocol relies on is `create_new`: create an object only if none exists, atomically, with its
whole content (locally a hard link of a finished temp file; on gs:// `if_generation_match=0`).
"""
from __future__ import annotations

import os
import tempfile


class Exists(Exception):
    """create_new found the object already there (another writer got it first)."""


class LocalStore:
    """A local folder. Paths are plain OS paths."""

    def join(self, *parts: str) -> str:
        return os.path.join(*parts)

    def list(self, prefix: str) -> list[str]:
        """Every file below the folder `prefix`, recursively; [] when it does not exist."""
        found = []
        for root, _, files in os.walk(prefix):
            found += [os.path.join(root, f) for f in files]
        return sorted(found)

    def read(self, path: str) -> bytes | None:
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def create_new(self, path: str, data: bytes) -> None:
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)  # unlike os.replace, fails if the name is taken
            except FileExistsError:
                raise Exists(path) from None
        finally:
            os.unlink(tmp)

    def delete(self, path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def move(self, src: str, dst: str) -> None:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.replace(src, dst)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)


class GcsStore:
    """A gs:// bucket through google-cloud-storage (which honours STORAGE_EMULATOR_HOST)."""

    def __init__(self):
        from google.cloud import storage

        self._client = storage.Client()

    def join(self, *parts: str) -> str:
        return "/".join(p.strip("/") if i else p.rstrip("/") for i, p in enumerate(parts))

    def _blob(self, path: str):
        bucket, _, name = path.removeprefix("gs://").partition("/")
        return self._client.bucket(bucket).blob(name)

    def list(self, prefix: str) -> list[str]:
        bucket, _, name = prefix.removeprefix("gs://").partition("/")
        name = name.rstrip("/") + "/"
        return sorted(f"gs://{bucket}/{b.name}" for b in self._client.list_blobs(bucket, prefix=name))

    def read(self, path: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        try:
            return self._blob(path).download_as_bytes()
        except NotFound:
            return None

    def create_new(self, path: str, data: bytes) -> int:
        """Create the object if none exists; its generation. Exists if there was one."""
        from google.api_core.exceptions import PreconditionFailed

        blob = self._blob(path)
        try:
            blob.upload_from_string(data, if_generation_match=0)
        except PreconditionFailed:
            raise Exists(path) from None
        return blob.generation

    def delete(self, path: str) -> None:
        from google.api_core.exceptions import NotFound

        try:
            self._blob(path).delete()
        except NotFound:
            pass

    def move(self, src: str, dst: str) -> None:
        source, target = self._blob(src), self._blob(dst)
        source.bucket.copy_blob(source, target.bucket, target.name)
        self.delete(src)

    def exists(self, path: str) -> bool:
        return self._blob(path).exists()

    def generation(self, path: str) -> tuple[int, bytes] | None:
        """(generation, content) of an object, or None if there is none."""
        from google.api_core.exceptions import NotFound

        blob = self._blob(path)
        try:
            data = blob.download_as_bytes()
        except NotFound:
            return None
        return blob.generation, data

    def replace_if(self, path: str, data: bytes, generation: int) -> int | None:
        """Overwrite only if the object is still at `generation`; its new generation, or None."""
        from google.api_core.exceptions import NotFound, PreconditionFailed

        blob = self._blob(path)
        try:
            blob.upload_from_string(data, if_generation_match=generation)
        except (PreconditionFailed, NotFound):
            return None
        return blob.generation

    def delete_if(self, path: str, generation: int) -> bool:
        from google.api_core.exceptions import NotFound, PreconditionFailed

        try:
            self._blob(path).delete(if_generation_match=generation)
        except (PreconditionFailed, NotFound):
            return False
        return True


def store_for(output: str) -> LocalStore | GcsStore:
    """The store an output prefix lives on: gs:// or a local folder (other schemes are refused)."""
    if output.startswith("gs://"):
        return GcsStore()
    if "://" in output:
        raise ValueError(f"--output {output!r}: Parquet output goes to a local folder or gs://")
    return LocalStore()
