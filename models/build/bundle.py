"""Train and export the three default models on synthetic scenes.

    python -m models.build [--out models/default] [--train_scenes N] [--seed S] [--only detector,...]

Scenes come from models.synth with fixed seeds (training: S, validation: S + 1000), with their labeled
crops (`--crops`, what the classifier trains on), and are cached under .cache/build/; all randomness is
seeded, so a rebuild reproduces the same data and training.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Sequence

from models.export import directory_bytes

_LOG = logging.getLogger("models.build")

SLOTS = ("detector", "classifier", "segmenter")
VAL_SEED_OFFSET = 1000
RESERVED_EVAL_SEEDS = (4242,)  # held out for `models.evaluation`; never train or validate on them


def scenes(cache: Path, count: int, seed: int) -> Path:
    """A models.synth output with crops for (count, seed), generated once and reused."""
    from models.synth import generator

    out = cache / f"seed-{seed}-n{count}"
    if (out / "truth.jsonl").exists() and (out / "crops.jsonl").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)  # a cache from before the scenes had crops
    partial = cache / f".partial-seed-{seed}-n{count}"
    shutil.rmtree(partial, ignore_errors=True)
    start = time.perf_counter()
    generator.generate(str(partial), count, seed, crops=True)
    partial.rename(out)
    _LOG.info("generated %d scenes (seed %d) in %.0fs", count, seed, time.perf_counter() - start)
    return out


def run(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m models.build", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", default="models/default", help="Where the model directories go.")
    parser.add_argument("--train_scenes", type=int, default=800, help="Training scenes to generate.")
    parser.add_argument("--val_scenes", type=int, default=100,
                        help="Validation scenes (thresholds, metrics in shelfscan.json).")
    parser.add_argument("--seed", type=int, default=1001, help="Training scene seed; validation uses seed+1000.")
    parser.add_argument("--only", default=",".join(SLOTS), help="Comma-separated subset of " + ",".join(SLOTS))
    parser.add_argument("--cache", default=".cache/build", help="Generated scenes are kept here.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SLOTS))
    if unknown:
        parser.error(f"--only: unknown model(s) {unknown}; choose from {list(SLOTS)}")
    val_seed = args.seed + VAL_SEED_OFFSET
    if {args.seed, val_seed} & set(RESERVED_EVAL_SEEDS):
        parser.error(f"--seed {args.seed}: seeds {RESERVED_EVAL_SEEDS} are reserved for evaluation")

    cache, out = Path(args.cache), Path(args.out)
    train_dir = scenes(cache, args.train_scenes, args.seed)
    val_dir = scenes(cache, args.val_scenes, val_seed)
    trained_on = {"generator": "models.synth", "train_seed": args.seed, "train_scenes": args.train_scenes,
                  "val_seed": val_seed, "val_scenes": args.val_scenes}
    command = "python -m models.build " + " ".join(argv if argv is not None else sys.argv[1:])

    report = {}
    for slot in only:
        start = time.perf_counter()
        meta = _build_one(slot, train_dir, val_dir, out / slot, trained_on)
        seconds = round(time.perf_counter() - start, 1)
        meta.update(build_command=command.strip(), build_seconds=seconds)
        (out / slot / "shelfscan.json").write_text(json.dumps(meta, indent=2) + "\n")
        report[slot] = {"seconds": seconds, "bytes": directory_bytes(out / slot), "metrics": meta["metrics"],
                        "threshold": meta["threshold"]}
        _LOG.info("%s: %s", slot, json.dumps(report[slot]))
    print(json.dumps(report, indent=2))
    return report


def _build_one(slot: str, train_dir: Path, val_dir: Path, out: Path, trained_on: dict) -> dict:
    if slot == "detector":
        from models.build import detector

        return detector.build(train_dir, val_dir, out, trained_on)
    if slot == "classifier":
        from models.build import classifier

        return classifier.build(train_dir, val_dir, out, trained_on)
    from models.build import segmenter

    return segmenter.build(train_dir, val_dir, out, trained_on)

