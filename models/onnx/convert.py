"""A bundled detector as an ONNX file, to run under ONNX Runtime: `python -m models.onnx.convert coco out/coco.onnx`.

tf2onnx (requirements-dev.txt; a scan does not need it) converts the whole model: the `coco` SSD's TF1
frozen graph with its post-processing (per-class NMS inside a while loop), or the `synthetic` SavedModel.
A `shelfscan.json` written beside the file carries what the built-in is fed and read with (input size,
resize, threshold, class filter, slice size) and what it was converted from, so `--detector out/coco.onnx`
scans as `--detector coco` does; `python -m pipeline.bench_onnx` measures how far the two agree and which
is faster. That file is per folder: give each converted model a folder of its own.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

from models import builtin
from models.frozen_graph import INPUT, OUTPUTS
from models.slots import META_FILE, builtin_version

OPSET = 17  # what ONNX Runtime 1.17+ and OpenVINO 2023+ run; tf2onnx 1.17 writes up to 18
FEEDING = ("input_size", "resize", "threshold", "class_filter", "slice_size")


class ConvertError(RuntimeError):
    """A model that cannot be converted: the message says which, why and what to do."""


def tf2onnx_args(named: builtin.Builtin, out: Path, opset: int) -> list[str]:
    """tf2onnx's command line for the built-in `named`; FileNotFoundError when its files are missing."""
    if named.directory is not None:
        source = ["--saved-model", str(named.directory)]
    else:  # a frozen graph's tensors are named "x:0"; the slot reads the OD-API names without it
        source = ["--graphdef", str(named.graph_path()), "--inputs", INPUT,
                  "--outputs", ",".join(f"{name}:0" for name in OUTPUTS), "--rename-outputs", ",".join(OUTPUTS)]
    return [sys.executable, "-m", "tf2onnx.convert", *source, "--opset", str(opset), "--output", str(out)]


def stored_meta(named: builtin.Builtin, opset: int) -> dict:
    """The shelfscan.json for the converted `named`: how it is fed, and where it came from."""
    own = named.meta if named.directory is None else json.loads((named.directory / META_FILE).read_text())
    return {"kind": named.slot, **{k: own[k] for k in FEEDING if k in own},
            "converted_from": {"builtin": named.name, "version": builtin_version(named),
                               "tool": f"tf2onnx {importlib.metadata.version('tf2onnx')}", "opset": opset}}


def _check_target(out: Path) -> None:
    if out.suffix.lower() != ".onnx":
        raise ConvertError(f"{out}: the file name must end in .onnx, as the model slots recognise ONNX files by it")
    beside = out.parent / META_FILE
    if beside.is_file():
        try:
            ours = "converted_from" in json.loads(beside.read_text())
        except (OSError, ValueError):
            ours = False
        if not ours:
            raise ConvertError(f"{beside} belongs to another model and would be replaced; convert into a folder "
                               "of its own")


def convertible() -> list[str]:
    """Built-in detectors kept whole: a cut or int8 twin of coco converts as coco itself."""
    return [b.name for b in builtin.BUILTINS if b.slot == "detector" and b.runtime == "graph"]


def convert(name: str, out: Path, opset: int = OPSET, say: Callable[[str], None] = lambda line: None) -> Path:
    """Convert the built-in detector `name` to the ONNX file `out`, its shelfscan.json beside it; `say`
    hears one line before the conversion starts."""
    named = builtin.lookup("detector", name)
    if named is None or named.runtime != "graph":
        raise ConvertError(f"{name!r} is not a built-in detector tf2onnx converts ({', '.join(convertible())}); "
                           "convert "
                           "your own SavedModel with python -m tf2onnx.convert --saved-model DIR --output "
                           "model.onnx (README: Use your own detector)")
    _check_target(out)
    try:
        importlib.metadata.version("tf2onnx")
        args = tf2onnx_args(named, out, opset)
    except importlib.metadata.PackageNotFoundError:
        raise ConvertError("tf2onnx is not installed; pip install -r requirements-dev.txt (it pins the version "
                           "tested)") from None
    except FileNotFoundError as e:
        raise ConvertError(f"{name}: {e}") from e
    out.parent.mkdir(parents=True, exist_ok=True)
    say(f"converting {name} with tf2onnx (the coco SSD takes about 2 minutes on 2 cores) ...")
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode != 0 or not out.is_file():
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        cause = next((line for line in reversed(lines) if "Error" in line), lines[-1] if lines else "no output")
        raise ConvertError(f"tf2onnx could not convert {name} (exit {done.returncode}): {cause.strip()[:300]}")
    (out.parent / META_FILE).write_text(json.dumps(stored_meta(named, opset), indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m models.onnx.convert", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help=f"The built-in detector: {', '.join(convertible())}.")
    parser.add_argument("out", help="The .onnx file to write, in a folder of its own (shelfscan.json goes beside).")
    parser.add_argument("--opset", type=int, default=OPSET, help="ONNX opset to convert to (default %(default)s).")
    args = parser.parse_args(argv)
    try:
        print(convert(args.name, Path(args.out), args.opset, lambda line: print(line, file=sys.stderr, flush=True)))
    except ConvertError as e:
        sys.exit(f"models.onnx.convert: {e}")


if __name__ == "__main__":
    main()
