"""Fetching a model directory for the slot loader (models.slots): a gs:// prefix copied into a local
cache, a TF Hub handle downloaded and unpacked. Everything here ends in a local directory or a
ModelLoadError naming the slot, the URI and the cause."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from models import builtin
from models.slots import META_FILE, ModelLoadError

MAX_HUB_ARCHIVE_BYTES = 4 << 30  # the largest TF Hub detectors are about 1 GB compressed


def default_cache_dir() -> Path:
    return Path(os.environ.get("SHELFSCAN_MODEL_CACHE", Path.home() / ".cache" / "shelfscan" / "models"))


def resolve(slot: str, uri: str, cache_dir: Path) -> Path:
    """A local directory holding the model at `uri`."""
    if uri.startswith("gs://"):
        return _copy_to_cache(slot, uri, cache_dir)
    if "://" not in uri and not Path(uri).exists():
        raise ModelLoadError(slot, uri, f"no such {'file' if is_onnx(uri) else 'directory'}, and not a built-in "
                                        f"{slot} name ({', '.join(builtin.names(slot))})")
    if is_onnx(uri) and "://" not in uri:
        return Path(uri)
    if uri.startswith(("http://", "https://")):
        return _fetch_hub_module(slot, uri, hub_cache_dir())
    import tensorflow_hub as hub

    try:  # local paths come back as they are; URLs are downloaded into TFHUB_CACHE_DIR
        return Path(hub.resolve(uri))
    except Exception as e:  # tensorflow_hub raises bare IOError/ValueError/URLError subclasses
        raise ModelLoadError(slot, uri, f"TF Hub could not fetch it: {type(e).__name__}: {e}") from e


def hub_cache_dir() -> Path:
    """Where TF Hub modules are kept: TF Hub's own TFHUB_CACHE_DIR, as tensorflow_hub reads it."""
    return Path(os.environ.get("TFHUB_CACHE_DIR") or Path(tempfile.gettempdir()) / "tfhub_modules")


def _fetch_hub_module(slot: str, uri: str, cache_dir: Path) -> Path:
    """Download and unpack a compressed TF Hub module, at most MAX_HUB_ARCHIVE_BYTES, into the cache.

    Only a module that unpacks to a SavedModel is kept, so a broken download is fetched again next
    time instead of failing every run from the cache.
    """
    import tarfile
    import urllib.request

    target = cache_dir / hashlib.sha1(uri.encode()).hexdigest()
    if (target / "saved_model.pb").is_file():
        return target
    url = uri if uri.endswith((".tar.gz", ".tgz")) else uri.rstrip("/") + "?tf-hub-format=compressed"
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=cache_dir))
    try:
        archive = partial / "module.tar.gz"
        try:
            with urllib.request.urlopen(url, timeout=120) as response, open(archive, "wb") as out:
                size = int(response.headers.get("Content-Length") or 0)
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    size = max(size, out.tell() + len(chunk))
                    if size > MAX_HUB_ARCHIVE_BYTES:
                        raise ModelLoadError(slot, uri, f"the archive is over {MAX_HUB_ARCHIVE_BYTES} bytes "
                                                        "(MAX_HUB_ARCHIVE_BYTES); check the handle")
                    out.write(chunk)
            with tarfile.open(archive) as tar:
                tar.extractall(partial / "module", filter="data")  # "data": nothing outside, no devices
        except (OSError, tarfile.TarError, ValueError) as e:
            raise ModelLoadError(slot, uri, f"TF Hub could not fetch it: {type(e).__name__}: {e}") from e
        if not (partial / "module" / "saved_model.pb").is_file():
            raise ModelLoadError(slot, uri, "the archive holds no saved_model.pb at its top; check the handle")
        try:
            (partial / "module").rename(target)
        except OSError:  # another process finished the same download first
            pass
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def _copy_to_cache(slot: str, uri: str, cache_dir: Path) -> Path:
    """Copy a model directory from any Beam filesystem into a cache keyed by its objects' metadata.

    tf.io.gfile does not honour STORAGE_EMULATOR_HOST and needs TF's own GCS credentials; Beam's
    FileSystems uses the same client as the rest of the job.
    """
    from transforms.beam_files import FileSystems, list_files

    onnx_name = uri.rsplit("/", 1)[1] if is_onnx(uri) else None  # one file, and the shelfscan.json beside it
    root = uri.rsplit("/", 1)[0] + "/" if onnx_name else uri.rstrip("/") + "/"
    try:
        files = ([m for name in (onnx_name, META_FILE) for m in _object(root + name)] if onnx_name else
                 [m for m in list_files(root) if not m.path.endswith("/")])  # the URI taken literally
    except Exception as e:  # Beam wraps every filesystem error differently
        raise ModelLoadError(slot, uri, f"listing it failed: {type(e).__name__}: {e}") from e
    if not files or (onnx_name and files[0].path != uri):
        raise ModelLoadError(slot, uri, "no such object" if onnx_name else "no objects under that prefix")
    key = hashlib.sha256(root.encode())
    for m in sorted(files, key=lambda m: m.path):
        key.update(f"{m.path}\0{m.size_in_bytes}\0{m.last_updated_in_seconds}\n".encode())
    target = cache_dir / key.hexdigest()[:24]
    if (target / (onnx_name or "saved_model.pb")).is_file():
        return target / onnx_name if onnx_name else target
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=cache_dir))
    try:
        for m in files:
            dest = _inside(slot, uri, partial, m.path[len(root):])
            dest.parent.mkdir(parents=True, exist_ok=True)
            with FileSystems.open(m.path, compression_type="uncompressed") as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
        try:
            partial.rename(target)
        except OSError:  # another process finished the same copy first
            shutil.rmtree(partial, ignore_errors=True)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target / onnx_name if onnx_name else target


def _inside(slot: str, uri: str, folder: Path, relative: str) -> Path:
    """folder/relative, refusing object names (../x, /x) that would land outside the model's copy."""
    dest = (folder / relative).resolve()
    if not relative or not dest.is_relative_to(folder.resolve()) or dest == folder.resolve():
        raise ModelLoadError(slot, uri, f"object name {relative!r} leads outside the model directory; "
                                        "remove it from the model's prefix")
    return dest


def is_onnx(uri: str) -> bool:
    """Whether the slot's URI names an ONNX file (models.onnx.runtime) rather than a model directory."""
    return uri.lower().endswith(".onnx")


def _object(uri: str) -> list:
    """The metadata of the object named exactly `uri`: one, or none."""
    from transforms.beam_files import FileSystems

    return [m for m in FileSystems.match([uri])[0].metadata_list if m.path == uri]
