"""A small real test set: photographs that registry packages ship, with bottles we annotated by hand.

    python -m models.realset OUT_DIR

writes OUT_DIR/images/* (copied from the installed packages) and OUT_DIR/instances.json (COCO,
committed here). Only the annotations are ours; the photos stay in their packages (README.md says
where each comes from and under which licence), and each copy is checked against the bytes the
boxes were drawn on.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import shutil
from pathlib import Path

ANNOTATIONS = Path(__file__).resolve().parent / "instances.json"


@dataclasses.dataclass(frozen=True)
class Photo:
    """One photo: the package (PyPI name and import name) that ships it, its path there, its sha256."""

    name: str
    pip_name: str
    module: str
    path: str  # inside the module's folder
    sha256: str


def _skimage(name: str, sha256: str) -> Photo:
    return Photo(name, "scikit-image", "skimage", f"data/{name}", sha256)


PHOTOS = (
    _skimage("motorcycle_left.png", "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179"),
    _skimage("motorcycle_right.png", "5fc913ae870e42a4b662314bc904d1786bcad8e2f0b9b67dba5a229406357797"),
    _skimage("coffee.png", "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"),
    _skimage("astronaut.png", "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"),
    _skimage("chelsea.png", "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"),
    _skimage("rocket.jpg", "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"),
    Photo("grace_hopper.jpg", "matplotlib", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg",
          "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130"),
)


class RealSetError(RuntimeError):
    """A photo that cannot be copied: the message names it, the cause and what to do."""


def _source(photo: Photo) -> Path:
    """The installed file, found without importing its package."""
    spec = importlib.util.find_spec(photo.module)
    if spec is None or not spec.submodule_search_locations:
        raise RealSetError(f"{photo.name}: package {photo.pip_name} is not installed; "
                           f"pip install -r requirements-dev.txt (it pins {photo.pip_name})")
    path = Path(list(spec.submodule_search_locations)[0]) / photo.path
    if not path.is_file():
        raise RealSetError(f"{photo.name}: not found at {path}; install the {photo.pip_name} version "
                           "requirements-dev.txt pins")
    return path


def assemble(out_dir: str | Path) -> Path:
    """Copy the photos into OUT_DIR/images and the annotations to OUT_DIR/instances.json; returns the latter."""
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    for photo in PHOTOS:
        data = _source(photo).read_bytes()
        if hashlib.sha256(data).hexdigest() != photo.sha256:
            raise RealSetError(f"{photo.name}: the installed {photo.pip_name} ships other bytes than the "
                               "annotations were drawn on; install the version requirements-dev.txt pins")
        (out / "images" / photo.name).write_bytes(data)
    shutil.copyfile(ANNOTATIONS, out / "instances.json")
    return out / "instances.json"
