"""Benchmark: one detector under TensorFlow and under ONNX Runtime, side by side in one run.

    python -m pipeline.bench_onnx --images DIR           # any folder or glob of photos, local or gs://
    python -m pipeline.bench_onnx --synth phone:16       # 16 synthetic 4032x3024 scenes, as pipeline.bench makes them
    [--detector coco] [--onnx FILE] [--rounds 2] [--slice_size N] [--batch_size 4] [--work DIR]

The ONNX file is the detector converted by models.onnx.convert (once, kept under --work) unless --onnx
names one; both are loaded through the detector slot, as a scan loads them. Each photo is decoded once
(every pixel, untimed) and detected by each runtime in turn, the order alternating photo by photo and
round by round, so that other work on the machine falls on both alike. Per runtime: seconds per photo of
the Detect stage's work (model inputs, slices, model calls, merging) and of its model calls alone, and
whether ONNX Runtime finds the same bottles as TensorFlow (models.onnx.agreement: boxes at IoU 0.9,
scores within 0.02). Prints one JSON object, then a table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Mapping

from models.onnx.agreement import NONE, SCORE_MARGIN, Agreement, agreement, photo_detections
from pipeline.bench import image_glob, synth_images
from pipeline.help_format import DefaultsHelpFormatter

RUNTIMES = ("tensorflow", "onnxruntime")  # the first is the reference the others are compared with


class Timed:
    """A model callable that adds up the seconds its calls take."""

    def __init__(self, fn):
        self.fn, self.seconds = fn, 0.0

    def __call__(self, batch):
        start = time.perf_counter()
        try:
            return self.fn(batch)
        finally:
            self.seconds += time.perf_counter() - start


def onnx_file(detector: str, given: str | None, work: Path) -> str:
    """The ONNX file to compare with `detector`: the one given, else the built-in converted once into `work`."""
    from models import builtin
    from models.onnx.convert import ConvertError, convert
    from models.slots import builtin_version

    if given:
        return given
    named = builtin.lookup("detector", detector)
    if named is None:
        raise SystemExit(f"pipeline.bench_onnx: --detector {detector} is not built in, so pass --onnx with its "
                         "ONNX export (python -m tf2onnx.convert --saved-model DIR --output model.onnx)")
    version = (builtin_version(named) or "missing").replace("sha256:", "")
    out = work / "onnx" / f"{detector}-{version}" / f"{detector}.onnx"
    if not out.is_file():
        try:
            convert(detector, out, say=lambda line: print(line, file=sys.stderr, flush=True))
        except ConvertError as e:
            raise SystemExit(f"pipeline.bench_onnx: {e}") from None
    return str(out)


def rotated(names: list[str], by: int) -> list[str]:
    by %= len(names)
    return names[by:] + names[:by]


def measure(models: Mapping[str, object], uris: list[str], rounds: int, slice_size: int | None,
            batch_size: int) -> dict:
    """Interleaved timing of every model (LoadedModels, RUNTIMES order) on `uris`, and their agreement."""
    from models.slots import LoadedModel
    from transforms.image_file import load_image

    timed = {name: LoadedModel(Timed(m.fn), m.meta) for name, m in models.items()}
    reference, *others = timed
    threshold = timed[reference].meta.threshold
    floor = threshold - SCORE_MARGIN
    first = load_image(uris[0])
    for model in timed.values():  # the first call allocates and plans; it is not throughput
        photo_detections(model, first, floor, slice_size, batch_size)
        model.fn.seconds = 0.0
    detect_s = dict.fromkeys(timed, 0.0)
    agree: dict[str, Agreement] = dict.fromkeys(others, NONE)
    bottles = dict.fromkeys(timed, 0)
    for round_ in range(rounds):
        for i, uri in enumerate(uris):
            image, found = load_image(uri), {}
            for name in rotated(list(timed), i + round_):
                start = time.perf_counter()
                found[name] = photo_detections(timed[name], image, floor, slice_size, batch_size)
                detect_s[name] += time.perf_counter() - start
            if round_ == 0:  # the outputs do not change between rounds
                for name in timed:
                    bottles[name] += sum(d.score >= threshold for d in found[name])
                for name in others:
                    agree[name] += agreement(found[reference], found[name], threshold)
    photos = len(uris) * rounds
    return {"runtimes": {name: {"uri": model.meta.uri, "version": model.meta.version, "bottles": int(bottles[name]),
                                "detect_s_per_photo": round(detect_s[name] / photos, 4),
                                "model_s_per_photo": round(model.fn.seconds / photos, 4)}
                         for name, model in timed.items()},
            "agreement": {name: {**a._asdict(), "same": a.same} for name, a in agree.items()}}


def table(result: dict) -> str:
    """The JSON result as a few lines a person reads."""
    runtimes = result["runtimes"]
    reference = runtimes[RUNTIMES[0]]
    lines = [f"photos     {result['photos']} ({result['images']}), {result['rounds']} round(s), "
             f"{result['cpus']} CPUs, load {result['load_avg_1m_at_end']} at the end",
             f"{'runtime':<13} {'detect s/photo':<16} {'model calls s/photo':<21} bottles"]
    for name, r in runtimes.items():
        detect, calls = f"{r['detect_s_per_photo']:.3f}", f"{r['model_s_per_photo']:.3f}"
        if name != RUNTIMES[0]:
            detect += f" ({r['detect_s_per_photo'] / reference['detect_s_per_photo']:.2f}x)"
            calls += f" ({r['model_s_per_photo'] / reference['model_s_per_photo']:.2f}x)"
        lines.append(f"{name:<13} {detect:<16} {calls:<21} {r['bottles']}")
    for name, a in result["agreement"].items():
        verdict = "the same bottles" if a["same"] else "DIFFERENT bottles"
        lines.append(f"{name} vs {RUNTIMES[0]}: {verdict}: {a['matched']} matched at IoU >= 0.9, "
                     f"{a['only_first']} found by {RUNTIMES[0]} only, {a['only_second']} by {name} only, "
                     f"scores within {a['max_score_gap']:.1e}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    from models.slots import ModelLoadError, load_model
    from transforms.read import match_entries

    parser = argparse.ArgumentParser(prog="python -m pipeline.bench_onnx", description=__doc__.split("\n\n")[0],
                                     formatter_class=DefaultsHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", help="A folder or glob of photos (local or gs://).")
    source.add_argument("--synth", help="KIND:COUNT synthetic scenes: phone (4032x3024) or small (as the samples).")
    parser.add_argument("--seed", type=int, default=4242, help="Seed of the synthetic scenes.")
    parser.add_argument("--detector", default="coco", help="The TensorFlow detector: built-in name or SavedModel.")
    parser.add_argument("--onnx", help="Its ONNX export (default: the built-in converted by models.onnx.convert).")
    parser.add_argument("--rounds", type=int, default=2, help="Passes over the photos; each runtime's time adds up.")
    parser.add_argument("--slice_size", type=int, default=None, help="Slice size (default: the detector's own).")
    parser.add_argument("--batch_size", type=int, default=4, help="Images or slices per model call, as a scan's.")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "shelfscan-bench"),
                        help="Where synthetic scenes and the converted model are kept between runs.")
    args = parser.parse_args(argv)
    work = Path(args.work)
    pattern = synth_images(work, args.synth, args.seed) if args.synth else image_glob(args.images)
    uris = sorted(e.uri for e in match_entries(pattern))
    if not uris or args.rounds < 1:
        raise SystemExit(f"pipeline.bench_onnx: {pattern} matches no file" if not uris else
                         "pipeline.bench_onnx: --rounds must be 1 or more")
    exported = onnx_file(args.detector, args.onnx, work)
    try:
        models = {"tensorflow": load_model("detector", args.detector),
                  "onnxruntime": load_model("detector", exported)}
    except ModelLoadError as e:
        raise SystemExit(f"pipeline.bench_onnx: {e}") from None
    measured = measure(models, uris, args.rounds, args.slice_size, args.batch_size)
    result = {"images": pattern, "photos": len(uris), "rounds": args.rounds, "cpus": os.cpu_count(),
              "onnxruntime_providers": models["onnxruntime"].fn.session.get_providers(), **measured,
              "load_avg_1m_at_end": round(os.getloadavg()[0], 2)}
    print(json.dumps(result, indent=2))
    print()
    print(table(result))
    return result


if __name__ == "__main__":
    main()
