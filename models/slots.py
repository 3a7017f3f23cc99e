"""The model-slot contract: any detector, classifier or segmenter, by built-in name (models.builtin),
from a local dir, gs:// or TF Hub (fetched by models.fetch) or an ONNX file (models.onnx.runtime), and
how tasks feed a slot's model in full batches (run_tasks: models.handler's RunInference and the
evaluators alike).

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
import shutil
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np

from models import builtin, model_ops
from transforms.products import LEGACY_TARGET, ProductRule, name_problem

SLOTS = ("detector", "classifier", "segmenter")
COCO_BOTTLE = 44
OD_API_OUTPUTS = ("detection_boxes", "detection_scores", "detection_classes")
REQUIRED_OUTPUTS = {"detector": OD_API_OUTPUTS[:2], "classifier": ("scores",), "segmenter": ("masks",)}
META_FILE = "shelfscan.json"
_KNOWN_META = ("kind", "input_size", "resize", "signature", "threshold", "class_filter", "products", "thresholds")
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
    signature_style: str  # "shelfscan" | "tf_od_api" | "onnx_<layout>" (models.onnx.layouts)
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False, hash=False)
    products: tuple[str, ...] = (LEGACY_TARGET,)  # classifiers: the product_scores columns' names
    thresholds: tuple[float, ...] = ()  # classifiers: one per product

    def product_rule(self) -> ProductRule:
        return ProductRule(self.products, self.thresholds or (self.threshold,) * len(self.products))


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A callable model: numpy batch in, dict of numpy arrays out."""

    fn: Callable[[np.ndarray], dict[str, np.ndarray]]
    meta: ModelMeta

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return self.fn(batch)


# Feeding a slot's model: tasks in (each with its input or inputs), model calls of whole batches.
class ModelTask(Protocol):
    """Anything carrying a preprocessed model input; the rest of it rides along untouched."""

    model_input: np.ndarray


class ManyInputsTask(Protocol):
    """A task carrying several inputs (an image and its slices); its result has one output dict per input."""

    model_inputs: Sequence[np.ndarray]


Model = Callable[[np.ndarray], Mapping[str, np.ndarray]]  # a batch in, named output arrays out


def task_inputs(task: ModelTask | ManyInputsTask) -> Sequence[np.ndarray]:
    return task.model_inputs if hasattr(task, "model_inputs") else (task.model_input,)


def run_batched(model: Model, inputs: Sequence[np.ndarray], batch_size: int) -> list[dict[str, np.ndarray]]:
    """Run `model` on `inputs` in batches of `batch_size` (the last one may be short); one output
    dict per input, in order."""
    outputs = []
    for start in range(0, len(inputs), batch_size):
        batch = np.stack(inputs[start:start + batch_size])
        result = model(batch)
        outputs += [{name: value[i] for name, value in result.items()} for i in range(len(batch))]
    return outputs


def run_tasks(model: Model, tasks: Sequence[ModelTask | ManyInputsTask], batch_size: int) -> list[Any]:
    """Run every input of `tasks` in batches of `batch_size`, filled across tasks; per task its output
    dict, or for a ManyInputsTask a tuple of one per input."""
    per_task = [task_inputs(task) for task in tasks]
    outputs = run_batched(model, [x for inputs in per_task for x in inputs], batch_size)
    results, start = [], 0
    for task, inputs in zip(tasks, per_task):
        mine, start = outputs[start:start + len(inputs)], start + len(inputs)
        results.append(tuple(mine) if hasattr(task, "model_inputs") else mine[0])
    return results


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
    from models.fetch import default_cache_dir, hub_cache_dir, is_onnx, resolve  # fetch raises our ModelLoadError

    overrides = {k: v for k, v in overrides.items() if v is not None}
    named = builtin.lookup(slot, uri)
    if named is not None and named.directory is None:
        return _load_frozen_graph(named, overrides, trust_model_code)
    local = named.directory if named else resolve(slot, uri, Path(cache_dir) if cache_dir else default_cache_dir())
    if is_onnx(uri):
        from models.onnx.runtime import load_onnx

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
    from models.frozen_graph import load_builtin

    slot, uri = named.slot, named.name
    meta = _meta(slot, uri, {"kind": slot, **named.meta}, set(OD_API_OUTPUTS), overrides, "", "tf_od_api")

    def check(graph_def) -> None:  # before the graph is imported: nothing of it has run yet
        if not trust_model_code:
            check_ops(slot, uri, lambda: model_ops.graph_def_ops(graph_def))

    try:
        fn, files = load_builtin(named, meta.class_filter, check)
    except (FileNotFoundError, ValueError) as e:
        raise ModelLoadError(slot, uri, str(e)) from e
    model = LoadedModel(fn, dataclasses.replace(meta, version=files_version(files)))
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


def expected_shapes(slot: str, batch: int, side: int, products: int = 1) -> dict[str, tuple[int | None, ...]]:
    """The output shapes the scan reads, for a batch of `batch` inputs of side `side` (None: any)."""
    classifier = {"scores": (batch,)}
    if products > 1:
        classifier["product_scores"] = (batch, products)
    return {"detector": {"detection_boxes": (batch, None, 4), "detection_scores": (batch, None)},
            "classifier": classifier,
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
                                                  f"{type(e).__name__}: {_first_line(e)}") from e
    for name, want in expected_shapes(meta.slot, batch, side, len(meta.products)).items():
        if name not in outputs:
            raise ModelLoadError(meta.slot, meta.uri, f"it has no output {name!r} (outputs: {sorted(outputs)}), "
                                                      f"which a model naming {len(meta.products)} products needs; "
                                                      "export the model with the documented signature "
                                                      "(docs/CONTRACTS.md)")
        got = tuple(np.shape(outputs[name]))
        if len(got) != len(want) or any(w is not None and g != w for g, w in zip(got, want)):
            shown = tuple("N" if w is None else w for w in want)
            raise ModelLoadError(meta.slot, meta.uri, f"output {name!r} has shape {got} for a batch of {batch}, "
                                                      f"expected {shown}; export the model with the documented "
                                                      "signature (docs/CONTRACTS.md)")


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
    products, thresholds = product_thresholds(slot, uri, values, "threshold" in overrides)
    return ModelMeta(
        slot=slot, uri=uri, kind=values["kind"],
        input_size=int(values["input_size"]) if values["input_size"] else None,
        resize=values["resize"], threshold=float(threshold) if threshold is not None else None,
        class_filter=tuple(int(c) for c in values["class_filter"] or ()),
        version=version, signature_style="tf_od_api" if od_api else "shelfscan",
        extra={k: v for k, v in stored.items() if k not in _KNOWN_META}, products=products, thresholds=thresholds)


def product_thresholds(slot: str, uri: str, values: dict,
                       threshold_overridden: bool) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The classifier's product names and their thresholds; a threshold given on the command line holds for all."""
    names = values.get("products") or [LEGACY_TARGET]
    if not isinstance(names, list) or len(set(map(str, names))) != len(names):
        raise ModelLoadError(slot, uri, f"{META_FILE} 'products' must be a list of distinct names, not {names!r}")
    for name in names:
        problem = name_problem(name)
        if problem:
            raise ModelLoadError(slot, uri, f"{META_FILE}: {problem}")
    thresholds = values.get("thresholds")
    if threshold_overridden or thresholds is None:
        threshold = values["threshold"] if values["threshold"] is not None else 0.5
        thresholds = [threshold] * len(names)
    try:
        thresholds = tuple(float(t) for t in thresholds)
    except (TypeError, ValueError):
        thresholds = ()
    if len(thresholds) != len(names) or not all(0.0 <= t <= 1.0 for t in thresholds):
        raise ModelLoadError(slot, uri, f"{META_FILE} 'thresholds' must hold one number in [0, 1] per product "
                                        f"({len(names)}), not {values.get('thresholds')!r}")
    return tuple(names), thresholds


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
        return files_version(named.model_files())
    except FileNotFoundError:
        return None


def builtin_named(slot: str, version: str) -> str | None:
    """The built-in name ("demo", "coco") whose files have this version, or None: lets a report say
    which model made a scan from the hash its rows carry. Twins that share their files' version
    (coco, coco-fast) find the same bottles; the slot's default is named first."""
    twins = sorted((b for b in builtin.BUILTINS if b.slot == slot),
                   key=lambda b: b.name != builtin.DEFAULTS.get(slot))
    for named in twins:
        if builtin_version(named) == version:
            return named.name
    return None


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else ""
