"""The model-slot contract: any detector, classifier or segmenter, by built-in name (models.builtin),
from a local dir, gs:// or TF Hub, or an ONNX file (models.onnx_runtime).

A slot loads the model *and* what it needs to be fed right (input size, resize mode, threshold,
class filter) from the `shelfscan.json` beside `saved_model.pb`, so the scan never hard-codes
them. Detectors with the TF Object Detection API signature (TF Hub's detection models) load
without one. The rest of the code sees `LoadedModel(fn, meta)` and nothing of where it came from.

A model file is a program: before TensorFlow loads it, its ops are checked (models.model_ops), and one
that reads or writes files or reaches the network is refused unless the user trusts it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from models import builtin, model_ops

SLOTS = ("detector", "classifier", "segmenter")
COCO_BOTTLE = 44
OD_API_OUTPUTS = ("detection_boxes", "detection_scores", "detection_classes")
REQUIRED_OUTPUTS = {"detector": OD_API_OUTPUTS[:2], "classifier": ("scores",), "segmenter": ("masks",)}
META_FILE = "shelfscan.json"
MAX_HUB_ARCHIVE_BYTES = 4 << 30  # the largest TF Hub detectors are about 1 GB compressed
_KNOWN_META = ("kind", "input_size", "resize", "signature", "threshold", "class_filter")
_SHELFSCAN_JSON_EXAMPLE = ('{"kind": "classifier", "input_size": 224, "resize": "letterbox", '
                           '"signature": "serving_default", "threshold": 0.5}')


class ModelLoadError(Exception):
    """A model slot could not be filled; the message names the slot, the URI and the cause."""

    def __init__(self, slot: str, uri: str, cause: str):
        super().__init__(f"cannot load the {slot} model from {uri}: {cause}")
        self.slot, self.uri, self.cause = slot, uri, cause


class UntrustedModelError(ModelLoadError):
    """The model's graph runs ops shelfscan does not run from a model file unless told to trust it."""


@dataclasses.dataclass(frozen=True)
class ModelMeta:
    """How to feed and read one model; everything else from shelfscan.json is kept in `extra`."""

    slot: str
    uri: str
    kind: str
    input_size: int | None  # square input side; None = any size, one image per call
    resize: str  # "letterbox" | "stretch"
    threshold: float | None
    class_filter: tuple[int, ...]
    version: str  # content hash of the SavedModel files
    signature_style: str  # "shelfscan" | "tf_od_api" | "onnx_<layout>" (models.onnx_layouts)
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False, hash=False)


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A callable model: numpy batch in, dict of numpy arrays out."""

    fn: Callable[[np.ndarray], dict[str, np.ndarray]]
    meta: ModelMeta

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return self.fn(batch)


def default_cache_dir() -> Path:
    return Path(os.environ.get("SHELFSCAN_MODEL_CACHE", Path.home() / ".cache" / "shelfscan" / "models"))


def load_model(slot: str, uri: str, cache_dir: str | Path | None = None, *, trust_model_code: bool = False,
               **overrides: Any) -> LoadedModel:
    """Fill `slot` with the model at `uri`: a built-in name (models.builtin), local dir, gs://... or a
    TF Hub handle.

    trust_model_code: skip the check that refuses graphs whose ops touch files or the network
    (UntrustedModelError otherwise).
    overrides: metadata that wins over the model's own (threshold, class_filter, input_size...);
    None values are ignored.
    """
    if slot not in SLOTS:
        raise ValueError(f"unknown model slot {slot!r}; expected one of {SLOTS}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    named = builtin.lookup(slot, uri)
    if named is not None and named.directory is None:
        return _load_frozen_graph(named, overrides, trust_model_code)
    local = named.directory if named else resolve(slot, uri, Path(cache_dir) if cache_dir else default_cache_dir())
    if _is_onnx(uri):
        from models.onnx_runtime import load_onnx

        return load_onnx(slot, uri, local, _read_meta(slot, uri, local.parent), overrides)
    try:
        return _load_local(slot, uri, local, overrides, trust_model_code)
    except UntrustedModelError:
        raise  # it is what was asked for; kept, so that trusting it does not fetch it again
    except ModelLoadError:
        if uri.startswith(("http://", "https://")) and local.is_relative_to(hub_cache_dir()):
            shutil.rmtree(local, ignore_errors=True)  # never keep a downloaded module that does not load
        raise


def _load_local(slot: str, uri: str, local: Path, overrides: dict[str, Any], trust_model_code: bool) -> LoadedModel:
    if not local.is_dir():
        raise ModelLoadError(slot, uri, f"{local} is a file, not a directory; point the slot at the "
                                        "SavedModel export directory (the one holding saved_model.pb)")
    if not (local / "saved_model.pb").is_file():
        found = sorted(p.name for p in local.iterdir())[:8]
        raise ModelLoadError(slot, uri, f"no saved_model.pb in {local} (found {found}); point the slot at "
                                        "a TF2 SavedModel export directory")
    stored = _read_meta(slot, uri, local)
    if not trust_model_code:  # TensorFlow runs some of a SavedModel's functions while loading it
        check_ops(slot, uri, lambda: model_ops.saved_model_ops(local))
    signature, module = _signature(slot, uri, local, stored.get("signature", "serving_default"))
    input_name, input_dtype = _single_input(slot, uri, signature)
    outputs = set(signature.structured_outputs)
    meta = _meta(slot, uri, stored, outputs, overrides, model_version(uri, local))
    missing = [name for name in REQUIRED_OUTPUTS[slot] if name not in outputs]
    if missing:
        raise ModelLoadError(slot, uri, f"its signature lacks outputs {missing}; it has {sorted(outputs)}")

    def fn(batch: np.ndarray) -> dict[str, np.ndarray]:
        import tensorflow as tf

        result = signature(**{input_name: tf.constant(np.asarray(batch), dtype=input_dtype)})
        return {name: value.numpy() for name, value in result.items()}

    fn.module = module  # keeps the loaded variables alive as long as fn is
    check_output_shapes(LoadedModel(fn, meta))
    return LoadedModel(fn, meta)


def _load_frozen_graph(named: builtin.Builtin, overrides: dict[str, Any], trust_model_code: bool) -> LoadedModel:
    from models.frozen_graph import load_detection_graph, read_graph_def

    slot, uri = named.slot, named.name
    try:
        path = named.graph_path()
        graph_def = read_graph_def(path)
        if not trust_model_code:  # before the graph is imported: nothing of it has run yet
            check_ops(slot, uri, lambda: model_ops.graph_def_ops(graph_def))
        fn = load_detection_graph(graph_def)
    except (FileNotFoundError, ValueError) as e:
        raise ModelLoadError(slot, uri, str(e)) from e
    meta = _meta(slot, uri, {"kind": slot, **named.meta}, set(OD_API_OUTPUTS), overrides,
                 files_version([path]), "tf_od_api")
    model = LoadedModel(fn, meta)
    check_output_shapes(model)
    return model


def check_ops(slot: str, uri: str, ops: Callable[[], set[str]]) -> None:
    """Raise UntrustedModelError when the op types `ops()` reads from the model file are not all harmless."""
    try:
        found = ops()
    except Exception as e:  # protobuf's DecodeError, OSError: the graph cannot be read, so nothing is known
        raise ModelLoadError(slot, uri, f"its graph could not be read to check its ops ({type(e).__name__}: "
                                        f"{str(e).splitlines()[0] if str(e) else ''}); re-export the model") from e
    why = model_ops.refusal(found)
    if why:
        raise UntrustedModelError(slot, uri, why)


def expected_shapes(slot: str, batch: int, side: int) -> dict[str, tuple[int | None, ...]]:
    """The output shapes the scan reads, for a batch of `batch` inputs of side `side` (None: any)."""
    return {"detector": {"detection_boxes": (batch, None, 4), "detection_scores": (batch, None)},
            "classifier": {"scores": (batch,)},
            "segmenter": {"masks": (batch, side, side)}}[slot]


def check_output_shapes(model: LoadedModel) -> None:
    """Run the model once on two blank inputs; outputs the scan cannot read fail at load, not mid-scan."""
    meta = model.meta
    side = meta.input_size or 64
    batch = 2 if meta.input_size else 1  # any-size models take one image per call
    try:
        outputs = model(np.zeros((batch, side, side, 3), np.uint8))
    except Exception as e:  # TF raises many types; its own text is the cause detail
        raise ModelLoadError(meta.slot, meta.uri, f"it fails on a blank {batch}x{side}x{side}x3 uint8 batch: "
                                                  f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
    for name, want in expected_shapes(meta.slot, batch, side).items():
        got = tuple(np.shape(outputs[name]))
        if len(got) != len(want) or any(w is not None and g != w for g, w in zip(got, want)):
            shown = tuple("N" if w is None else w for w in want)
            raise ModelLoadError(meta.slot, meta.uri, f"output {name!r} has shape {got} for a batch of {batch}, "
                                                      f"expected {shown}; export the model with the documented "
                                                      "signature (docs/CONTRACTS.md)")


def resolve(slot: str, uri: str, cache_dir: Path) -> Path:
    """A local directory holding the model at `uri`."""
    if uri.startswith("gs://"):
        return _copy_to_cache(slot, uri, cache_dir)
    if "://" not in uri and not Path(uri).exists():
        raise ModelLoadError(slot, uri, f"no such {'file' if _is_onnx(uri) else 'directory'}, and not a built-in "
                                        f"{slot} name ({', '.join(builtin.names(slot))})")
    if _is_onnx(uri) and "://" not in uri:
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
    from apache_beam.io.filesystems import FileSystems

    from transforms.write import list_files

    onnx_name = uri.rsplit("/", 1)[1] if _is_onnx(uri) else None  # one file, and the shelfscan.json beside it
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


def _is_onnx(uri: str) -> bool:
    return uri.lower().endswith(".onnx")


def _object(uri: str) -> list:
    """The metadata of the object named exactly `uri`: one, or none."""
    from apache_beam.io.filesystems import FileSystems

    return [m for m in FileSystems.match([uri])[0].metadata_list if m.path == uri]


def _inside(slot: str, uri: str, folder: Path, relative: str) -> Path:
    """folder/relative, refusing object names (../x, /x) that would land outside the model's copy."""
    dest = (folder / relative).resolve()
    if not relative or not dest.is_relative_to(folder.resolve()) or dest == folder.resolve():
        raise ModelLoadError(slot, uri, f"object name {relative!r} leads outside the model directory; "
                                        "remove it from the model's prefix")
    return dest


def _read_meta(slot: str, uri: str, local: Path) -> dict:
    path = local / META_FILE
    if not path.is_file():
        return {}
    try:
        stored = json.loads(path.read_text())
    except ValueError as e:
        raise ModelLoadError(slot, uri, f"{META_FILE} is not valid JSON: {e}") from e
    if stored.get("kind", slot) != slot:
        raise ModelLoadError(slot, uri, f"it is a {stored['kind']} model (per {META_FILE}), not a {slot}")
    return stored


def _signature(slot: str, uri: str, local: Path, name: str):
    import tensorflow as tf

    try:
        module = tf.saved_model.load(str(local))
    except Exception as e:  # TF's loader raises many types; its own text is the cause detail
        raise ModelLoadError(slot, uri, f"TensorFlow could not read the SavedModel: {type(e).__name__}: "
                                        f"{str(e).splitlines()[0] if str(e) else ''}") from e
    if name not in module.signatures:
        raise ModelLoadError(slot, uri, f"signature {name!r} missing; available: {sorted(module.signatures)}")
    return module.signatures[name], module


def _single_input(slot: str, uri: str, signature) -> tuple[str, Any]:
    inputs = signature.structured_input_signature[1]
    if len(inputs) != 1:
        raise ModelLoadError(slot, uri, f"expected one image input, the signature takes {sorted(inputs)}")
    (name, spec), = inputs.items()
    return name, spec.dtype


def _meta(slot: str, uri: str, stored: dict, outputs: set[str], overrides: dict, version: str,
          style: str | None = None) -> ModelMeta:
    od_api = all(name in outputs for name in OD_API_OUTPUTS) and (not stored or style == "tf_od_api")
    if od_api and slot != "detector":
        raise ModelLoadError(slot, uri, f"it is an object detector (TF Object Detection API signature), "
                                        f"not a {slot}; pass it as the detector")
    if not stored and not od_api:
        raise ModelLoadError(slot, uri, f"no {META_FILE} beside saved_model.pb, and it is not a TF Object "
                                        f"Detection API detector; add one, for example {_SHELFSCAN_JSON_EXAMPLE}")
    values = {"kind": slot, "input_size": None, "resize": "letterbox", "threshold": 0.5,
              "class_filter": [COCO_BOTTLE] if od_api else [1]}
    values.update({k: stored[k] for k in _KNOWN_META if k in stored})
    values.update(overrides)
    unknown = set(overrides) - set(_KNOWN_META)
    if unknown:
        raise ValueError(f"unknown model overrides {sorted(unknown)}")
    if values["resize"] not in ("letterbox", "stretch"):
        raise ModelLoadError(slot, uri, f"resize must be 'letterbox' or 'stretch', not {values['resize']!r}")
    threshold = values["threshold"]
    return ModelMeta(
        slot=slot, uri=uri, kind=values["kind"],
        input_size=int(values["input_size"]) if values["input_size"] else None,
        resize=values["resize"], threshold=float(threshold) if threshold is not None else None,
        class_filter=tuple(int(c) for c in values["class_filter"] or ()),
        version=version, signature_style="tf_od_api" if od_api else "shelfscan",
        extra={k: v for k, v in stored.items() if k not in _KNOWN_META})


def model_version(uri: str, local: Path) -> str:
    """The content hash; for a TF Hub URL handle, the handle itself followed by that hash."""
    digest = content_version(local)
    return f"{uri}@{digest}" if uri.startswith(("http://", "https://")) else digest


def content_version(local: Path) -> str:
    """sha256 over the SavedModel's graph and variables: changes exactly when the model does."""
    return files_version([local / "saved_model.pb", *sorted((local / "variables").glob("*"))])


def files_version(files: list[Path]) -> str:
    """sha256 over the names and bytes of `files` (those that exist), as every slot's version reads."""
    digest = hashlib.sha256()
    for path in files:
        if path.is_file():
            digest.update(path.name.encode() + b"\0")
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
    return "sha256:" + digest.hexdigest()[:16]


def builtin_version(named: builtin.Builtin) -> str | None:
    """The version a scan records when it uses this built-in model; None when its files are missing."""
    if named.directory is not None:
        return content_version(named.directory) if named.directory.is_dir() else None
    try:
        return files_version([named.graph_path()])
    except FileNotFoundError:
        return None


def builtin_named(slot: str, version: str) -> str | None:
    """The built-in name ("demo", "coco") whose files have this version, or None: lets a report say
    which model made a scan from the hash its rows carry."""
    for named in builtin.BUILTINS:
        if named.slot == slot and builtin_version(named) == version:
            return named.name
    return None
