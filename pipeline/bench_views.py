"""Benchmark: the detector views each slicing setting costs, and the bottles it finds, side by side.

    python -m pipeline.bench_views --truth /tmp/phone64 --truth /tmp/realset/instances.json
    [--candidate 'NAME=--slice_max_across 3 --slice_bottle_px 0' ...] [--cache DIR] [--detector coco]

Every candidate is a set of --slice_* options (as the scan takes them) scored by models.evaluation's
detector evaluation on each truth (a models.synth folder or a COCO instances.json). The detector runs once
per distinct view input: outputs are kept by the input's content hash, in memory and, with --cache, on disk,
so candidates sharing views (all share the whole image) cost little. Prints one markdown table: views per
photo, precision, recall and AP of each candidate on each truth.
"""
from __future__ import annotations

import argparse
import hashlib
import shlex
import sys
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from pipeline.help_format import DefaultsHelpFormatter

# name -> the --slice_* options it sets; the rest are the scan's defaults.
CANDIDATES = {
    "SAHI grid, 1/4, overlap 0.2 (before)": "--slice_bottle_px 0 --slice_min_edges 0",
    "SAHI grid, 1/3, overlap 0.2": "--slice_max_across 3 --slice_bottle_px 0 --slice_min_edges 0",
    "SAHI grid, 1/4, overlap 0": "--slice_overlap 0 --slice_bottle_px 0 --slice_min_edges 0",
    "SAHI grid, 1/2, overlap 0.2": "--slice_max_across 2 --slice_bottle_px 0 --slice_min_edges 0",
    "grid from the whole view only": "--slice_min_edges 0",
    "blank slices skipped only": "--slice_bottle_px 0",
    "defaults": "",
    "defaults, more skipped": "--slice_min_edges 0.01",
    "defaults, smaller bottles for coarse slices": "--slice_bottle_px 45",
    "defaults, finest slices 1/3": "--slice_max_across 3",
}

Outputs = Mapping[str, np.ndarray]


class CachedDetector:
    """The detector's function, run once per distinct input: its outputs kept by the input's sha1."""

    def __init__(self, fn: Callable[[np.ndarray], Outputs], cache_file: Path | None = None):
        self._fn, self._file = fn, cache_file
        self.outputs: dict[str, dict[str, np.ndarray]] = {}
        self.runs = 0
        if cache_file is not None and cache_file.is_file():
            with np.load(cache_file, allow_pickle=False) as stored:
                for key in stored.files:
                    digest, name = key.split("/", 1)
                    self.outputs.setdefault(digest, {})[name] = stored[key]

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        keys = [hashlib.sha1(np.ascontiguousarray(x).tobytes() + str(x.shape).encode()).hexdigest() for x in batch]
        todo = sorted({k: i for i, k in enumerate(keys) if k not in self.outputs}.items(), key=lambda kv: kv[1])
        if todo:
            fresh = self._fn(np.stack([batch[i] for _, i in todo]))
            self.runs += len(todo)
            for row, (key, _) in enumerate(todo):
                self.outputs[key] = {name: np.asarray(value[row]) for name, value in fresh.items()}
        return {name: np.stack([self.outputs[k][name] for k in keys]) for name in self.outputs[keys[0]]}

    def save(self) -> None:
        if self._file is not None:
            self._file.parent.mkdir(parents=True, exist_ok=True)
            np.savez(self._file, **{f"{k}/{name}": v for k, out in self.outputs.items() for name, v in out.items()})


def parse_candidates(texts: Sequence[str]) -> dict[str, argparse.Namespace]:
    """NAME=OPTIONS (or OPTIONS alone, named by them) -> name: the --slice_* options parsed and checked."""
    from transforms.slicing import add_slice_options, slice_options_problem

    parser = argparse.ArgumentParser(prog="--candidate", add_help=False, exit_on_error=False)
    add_slice_options(parser.add_argument)
    named = {}
    for text in texts:
        name, sep, options = text.partition("=")
        if not sep or name.lstrip().startswith("-"):
            name, options = text.strip() or "defaults", text
        try:
            parsed, unknown = parser.parse_known_args(shlex.split(options))
        except (argparse.ArgumentError, ValueError) as e:
            raise SystemExit(f"pipeline.bench_views: --candidate {text!r}: {e}") from None
        problem = (f"not a slicing option: {' '.join(unknown)}; give --slice_* options, e.g. "
                   "'coarse=--slice_max_across 3'") if unknown else slice_options_problem(parsed)
        if problem:
            raise SystemExit(f"pipeline.bench_views: --candidate {text!r}: {problem}")
        named[name.strip()] = parsed
    return named


def score(model, truths: Mapping[str, list], candidates: Mapping[str, argparse.Namespace],
          batch_size: int) -> list[dict]:
    """One row per (candidate, truth): models.evaluation's detector numbers for that candidate's views."""
    from models.evaluation.evaluate import evaluate_detector
    from transforms.slicing import slice_plan

    rows = []
    for name, options in candidates.items():
        plan = slice_plan(options, model.meta.extra)
        for truth, scenes in truths.items():
            result = evaluate_detector(model, scenes, batch_size, slices=plan)
            rows.append({"candidate": name, "truth": truth, **result})
            print(f"{name} on {truth}: {result['detector_views_per_image']} views/photo, recall "
                  f"{result['detector_recall']}", file=sys.stderr, flush=True)
    return rows


def table(rows: Sequence[dict]) -> str:
    lines = ["| candidate | truth | views per photo | precision | recall | AP | slicing |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        plan = (f"size {r['detector_slice_size']}, overlap {r['detector_slice_overlap']}, "
                f"1/{r['detector_slice_max_across']}, bottle_px {r['detector_slice_bottle_px']:g}, "
                f"min_edges {r['detector_slice_min_edges']:g}")
        lines.append(f"| {r['candidate']} | {r['truth']} | {r['detector_views_per_image']:.2f} | "
                     f"{r['detector_precision']:.4f} | {r['detector_recall']:.4f} | {r['detector_ap']:.4f} | {plan} |")
    return "\n".join(lines)


def run(argv: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m pipeline.bench_views", description=__doc__.split("\n\n")[0],
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--truth", action="append", required=True,
                        help="A models.synth folder (or its truth.jsonl) or a COCO instances.json; repeatable.")
    parser.add_argument("--candidate", action="append", default=None, metavar="NAME=OPTIONS",
                        help="Slicing options to score, e.g. 'coarse=--slice_max_across 3'; repeatable. "
                             "Default: " + "; ".join(f"{k}: {v or 'the defaults'}" for k, v in CANDIDATES.items()))
    parser.add_argument("--detector", default="coco", help="The detector, as the scan takes it.")
    parser.add_argument("--cache", default=None, help="Folder keeping the detector's outputs between runs.")
    parser.add_argument("--limit", type=int, default=None, help="Score only the first N images of each truth.")
    parser.add_argument("--batch_size", type=int, default=8, help="Views per detector call.")
    args = parser.parse_args(argv)
    candidates = parse_candidates(args.candidate or [f"{name}={options}" for name, options in CANDIDATES.items()])

    from models.evaluation.evaluate import load
    from models.evaluation.truth import TruthError, iter_labeled, read_truth
    from models.slots import LoadedModel

    try:
        truths = {path: list(iter_labeled(read_truth(path), with_mask=False, limit=args.limit)) for path in args.truth}
    except TruthError as e:
        raise SystemExit(f"pipeline.bench_views: {e}") from None
    detector = load("detector", args.detector)
    cache_file = Path(args.cache) / f"{detector.meta.version.replace(':', '-')}.npz" if args.cache else None
    cached = CachedDetector(detector.fn, cache_file)
    rows = score(LoadedModel(cached, detector.meta), truths, candidates, args.batch_size)
    cached.save()
    print(f"detector views run: {cached.runs} (the rest from the cache)", file=sys.stderr)
    print(table(rows))
    return rows


if __name__ == "__main__":
    run()
