"""Build the `coco-int8` detector from the bundled coco graph: `python -m models.ssd.build [--out DIR]`.

The graph is op-checked, cut before its post-processing (models.ssd.graph_cut) and converted by TFLite's
converter (part of TensorFlow) with full-integer post-training quantization: int8 weights per channel, int8
activations calibrated on the views a scan feeds the detector (the whole image and its slices, stretched to
300 px) of synthetic phone-size shelf scenes, the bundled sample scenes and scikit-image's photographs that
the real test set does not hold, so that it is not calibrated on what it is measured on. Inputs stay uint8,
outputs (box encodings and class logits) float; anchors and post-processing constants go beside it.
Everything is seeded and nothing is downloaded: a rebuild writes the same files.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from models import builtin, model_ops
from models.frozen_graph import INPUT, read_graph_def
from models.slots import files_version
from models.ssd import graph_cut
from models.ssd.detector import INT8_ANCHORS, INT8_MODEL, INT8_SPEC

SAMPLES = Path(__file__).resolve().parents[2] / "pipeline" / "samples" / "images"
SYNTH_SEED, SYNTH_SCENES, PHONE = 77, 8, (4032, 3024)  # a seed no evaluation or training uses
# scikit-image's photographs outside the real test set (models/realset), grey ones made RGB
REAL_PHOTOS = ("camera.png", "coins.png", "moon.png", "page.png", "text.png", "brick.png", "grass.png",
               "gravel.png", "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "cell.png", "clock_motion.png")


class BuildError(RuntimeError):
    """The build cannot run; the message says why and what to do."""


def calibration_photos() -> Iterator[tuple[str, np.ndarray]]:
    """(name, RGB pixels) of every calibration photo, in a fixed order."""
    from PIL import Image

    from models.synth.generator import scene

    for i in range(1, SYNTH_SCENES + 1):
        image, _, _ = scene(SYNTH_SEED, i, max(PHONE), PHONE)
        yield f"synth:{SYNTH_SEED}/{i}", np.asarray(image.convert("RGB"))
    for path in sorted(SAMPLES.glob("*.jpg")):
        with Image.open(path) as im:
            yield f"samples/{path.name}", np.asarray(im.convert("RGB"))
    found = importlib.util.find_spec("skimage")
    if found is None or not found.submodule_search_locations:
        raise BuildError("scikit-image is not installed; its photographs calibrate the int8 model: "
                         "pip install -r requirements-dev.txt")
    data = Path(next(iter(found.submodule_search_locations))) / "data"
    for name in REAL_PHOTOS:
        with Image.open(data / name) as im:
            yield f"skimage/{name}", np.asarray(im.convert("RGB"))


def calibration_views(feeding: dict) -> Iterator[np.ndarray]:
    """The detector inputs a scan would make of every calibration photo, one uint8 [side, side, 3] each."""
    from transforms.detection import detector_input
    from transforms.records import DecodedImage
    from transforms.slicing import DEFAULT_OVERLAP

    for name, pixels in calibration_photos():
        task = detector_input(DecodedImage(name, pixels), feeding["input_size"], feeding["resize"],
                              feeding["slice_size"], DEFAULT_OVERLAP)
        yield from task.model_inputs


def quantize(cut_graph_def, side: int, views: list[np.ndarray]) -> bytes:
    """The cut as a full-integer TFLite model: uint8 images in, float box encodings and logits out."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        frozen = Path(tmp) / "cut.pb"
        frozen.write_bytes(cut_graph_def.SerializeToString())
        input_name = INPUT.split(":")[0]
        converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
            str(frozen), [input_name], [graph_cut.BOX_ENCODINGS, graph_cut.CLASS_LOGITS],
            {input_name: [1, side, side, 3]})
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([view[None]] for view in views)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        return converter.convert()


def build(out: Path, say=lambda line: None) -> Path:
    """Write the int8 build of the coco graph into `out` (replaced whole, only once complete)."""
    import tensorflow as tf

    coco = builtin.lookup("detector", "coco")
    graph_path = coco.graph_path()
    graph_def = read_graph_def(graph_path)
    refused = model_ops.refusal(model_ops.graph_def_ops(graph_def))
    if refused:
        raise BuildError(f"{graph_path}: {refused}")
    side = graph_cut.input_side(graph_def)
    start = time.perf_counter()
    views = list(calibration_views(dict(coco.meta)))
    say(f"{len(views)} calibration views in {time.perf_counter() - start:.0f} s; quantizing ...")
    model = quantize(graph_cut.backbone_graph_def(graph_def), side, views)
    spec = graph_cut.postprocess_spec(graph_def)
    stored = {"input_side": side, "outputs": [graph_cut.BOX_ENCODINGS, graph_cut.CLASS_LOGITS],
              "postprocess": dataclasses.asdict(spec), "num_threads": 1,
              "built_from": {"builtin": coco.name, "version": files_version([graph_path]),
                             "tensorflow": tf.__version__, "command": "python -m models.ssd.build"},
              "calibration": {"views": len(views), "synthetic": f"{SYNTH_SCENES} scenes of seed {SYNTH_SEED}, "
                                                                f"{PHONE[0]}x{PHONE[1]}",
                              "samples": "pipeline/samples/images", "real": list(REAL_PHOTOS)}}
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        (partial / INT8_MODEL).write_bytes(model)
        np.save(partial / INT8_ANCHORS, graph_cut.anchors(graph_def), allow_pickle=False)
        (partial / INT8_SPEC).write_text(json.dumps(stored, indent=2) + "\n")
        shutil.rmtree(out, ignore_errors=True)
        partial.chmod(0o755)  # mkdtemp makes it private; the build is a model like the bundled ones
        partial.rename(out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m models.ssd.build", description=__doc__.split("\n\n")[0])
    default = builtin.lookup("detector", "coco-int8").built
    parser.add_argument("--out", default=str(default), help=f"Folder to write (default: {default}, where "
                                                             "--detector coco-int8 looks).")
    args = parser.parse_args(argv)
    try:
        print(build(Path(args.out), lambda line: print(line, file=sys.stderr, flush=True)))
    except (BuildError, FileNotFoundError, ValueError) as e:
        sys.exit(f"models.ssd.build: {e}")


if __name__ == "__main__":
    main()
