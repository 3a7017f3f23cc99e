"""Train the target-product classifier from labeled crops: split, augment, embed, fit, evaluate, report, export.

    python -m models.train_classifier --data PATH --out MODEL_DIR [--augment 10] [--mixup 0.4] ...

PATH is a crops.jsonl (uri, label, optional group and brand; what `models.synth --crops` writes) or a
folder with one subfolder per label (target/, other/), local or gs://. MODEL_DIR (local or gs://)
gets the SavedModel with shelfscan.json that `pipeline.run --classifier MODEL_DIR` loads, plus
metrics.json, report.html and examples.jsonl (every example with its split side and copy index).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from models.train_classifier import augment as aug
from models.train_classifier import metrics as classifier_metrics
from models.train_classifier import split
from models.train_classifier.data import check_enough, data_hash, load_crops
from models.train_classifier.embed_cache import EmbeddingCache
from models.train_classifier.rounds import RoundConfig, split_summary, train_round

_LOG = logging.getLogger("models.train_classifier")
MIN_PER_CLASS = 10  # below this a validation split holds one or two crops of a class: its AUC means nothing


def default_cache_dir() -> Path:
    """The user's cache directory, so embeddings are shared by every folder the command runs in."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "shelfscan" / "embeddings"


def use_command(model_dir: str) -> str:
    """The scan command that uses a trained classifier."""
    return (f"python -m pipeline.run --classifier {shlex.quote(model_dir)} --input 'PHOTOS/*.jpg' "
            "--output out --report")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m models.train_classifier", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", required=True, help="crops.jsonl or a folder of label subfolders (local or gs://).")
    p.add_argument("--out", required=True, help="Model directory to write (local or gs://).")
    p.add_argument("--test_data", help="Evaluate on these crops (e.g. another seed) instead of a test split.")
    p.add_argument("--positive", default="target", help="The label that means the target product.")
    p.add_argument("--group_pattern", help="Folders only: regex whose first group in the file stem names the "
                                           "source image, e.g. '^(\\d+)_\\d+$'; default: each crop is its own group.")
    p.add_argument("--val_fraction", type=float, default=0.15,
                   help="About this share of the target and of the other crops, as whole source images, for "
                        "validation.")
    p.add_argument("--test_fraction", type=float, default=0.15,
                   help="The same for the test split (0 with --test_data).")
    p.add_argument("--folds", type=int, default=0, help="K-fold cross-validation over source images (K >= 2); "
                                                         "the exported model is round 0's.")
    p.add_argument("--augment", type=int, default=0, help="Augmented copies per training crop (offline, cached).")
    p.add_argument("--hflip", action="store_true", help="Also mirror half the copies (label text does not survive it).")
    p.add_argument("--erase", type=float, default=aug.AugmentParams.erase, help="Random-erasing probability per copy.")
    p.add_argument("--mixup", type=float, default=0.0, help="Mixup Beta(alpha, alpha) parameter; 0 turns it off.")
    p.add_argument("--mixup_mode", choices=("embeddings", "images"), default="embeddings",
                   help="Mix pooled embeddings (free) or letterboxed images (embeds every mix).")
    p.add_argument("--mixup_copies", type=float, default=1.0, help="Mixed examples per training example.")
    p.add_argument("--head", choices=("logreg", "mlp"), default="logreg", help="Head on the frozen embeddings.")
    p.add_argument("--fine_tune", type=int, default=0, metavar="N",
                   help="Retrain the last N backbone blocks (and the head conv) end to end; slow on CPU.")
    p.add_argument("--epochs", type=int, default=3, help="Fine-tuning epochs.")
    p.add_argument("--lr", type=float, default=1e-4, help="Fine-tuning learning rate.")
    p.add_argument("--min_precision", type=float, help="Pick the threshold with the most validation recall at "
                                                        "this precision; default: best validation F1.")
    p.add_argument("--seed", type=int, default=0, help="Seeds the split, augmentation, mixup and heads.")
    p.add_argument("--cache", default=str(default_cache_dir()),
                   help="Embedding cache directory ($XDG_CACHE_HOME/shelfscan/embeddings when that is set); "
                        "'' disables it.")
    p.add_argument("--limit", type=int, help="Use only the first N crops of --data (quick trials).")
    p.add_argument("--no_report", action="store_true", help="Skip report.html (CAM needs the backbone twice).")
    p.add_argument("--no_export", action="store_true", help="Skip the SavedModel (metrics only).")
    p.add_argument("--min_per_class", type=int, default=MIN_PER_CLASS,
                   help="Refuse to train with fewer labeled crops than this of the target or of the others: "
                        "a classifier from a handful of labels only looks ready. 0 trains on anything.")
    p.add_argument("--verbose", action="store_true", help="Show TensorFlow's start-up lines and progress logs.")
    args = p.parse_args(argv)
    if args.folds and args.test_data:
        p.error("--folds and --test_data exclude each other: k-fold makes its own test folds")
    if args.folds == 1 or args.folds < 0:
        p.error("--folds needs K >= 2")
    return args


def round_config(args: argparse.Namespace) -> RoundConfig:
    params = aug.AugmentParams(erase=args.erase, hflip=args.hflip)
    return RoundConfig(augment=args.augment, params=params, mixup=args.mixup, mixup_mode=args.mixup_mode,
                       mixup_copies=args.mixup_copies, head=args.head, fine_tune=args.fine_tune,
                       epochs=args.epochs, lr=args.lr, min_precision=args.min_precision, seed=args.seed)


def _sides(crops, args, k: int = 0, folds_of=None) -> np.ndarray:
    groups, labels = [c.group for c in crops], [c.label for c in crops]
    if args.folds:
        return split.fold_split(folds_of, k, args.folds)
    test_fraction = 0.0 if args.test_data else args.test_fraction
    return split.split_groups(groups, labels, args.val_fraction, test_fraction, args.seed)


def _compact(m: dict) -> dict:
    return {k: m[k] for k in ("n", "accuracy", "auc", "precision", "recall", "f1")}


def _cross_validation(folds: list[dict]) -> dict:
    out: dict = {"folds": folds}
    for key in ("accuracy", "auc", "f1"):
        values = [f[key] for f in folds if f[key] is not None]  # a fold with one class has no AUC
        out[f"{key}_mean"] = round(float(np.mean(values)), 5) if values else None
        out[f"{key}_std"] = round(float(np.std(values)), 5) if values else None
    return out


def run(argv: Sequence[str] | None = None, embedder=None) -> dict:
    """Train, evaluate, report and export; returns metrics.json's content.

    embedder: anything with `.embed(uint8 [B,S,S,3]) -> [B,D]` and `.version`; default the frozen
    EfficientNet-Lite0 (models.train_classifier.classifiers.Backbone). Tests pass a cheap stand-in (no export/report).
    """
    args = parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    command = "python -m models.train_classifier " + shlex.join(argv)
    cfg = round_config(args)
    timing: dict[str, float] = {}
    clock = time.perf_counter()

    crops, skipped = load_crops(args.data, args.positive, args.group_pattern, args.limit)
    check_enough(crops, args.positive, args.min_per_class, args.data)
    test_crops, test_skipped = (load_crops(args.test_data, args.positive, args.group_pattern) if args.test_data
                                else (crops, []))
    timing["load"] = time.perf_counter() - clock
    if embedder is None:
        from models.train_classifier.classifiers import Backbone

        embedder = Backbone(cfg.input_size)
    cache = EmbeddingCache(args.cache or None, embedder.version, cfg.input_size)

    folds_of = split.kfold_groups([c.group for c in crops], [c.label for c in crops], args.folds, args.seed) \
        if args.folds else None
    rounds, fold_metrics = [], []
    for k in range(args.folds or 1):
        sides = _sides(crops, args, k, folds_of)
        split.check_no_leak([c.group for c in crops], sides)
        test_index = np.arange(len(test_crops)) if args.test_data else np.nonzero(sides == split.TEST)[0]
        start = time.perf_counter()
        result = train_round(crops, sides, test_crops, test_index, cfg, embedder, cache)
        timing[f"train_round_{k}"] = time.perf_counter() - start
        m = classifier_metrics.evaluate([test_crops[i].label for i in test_index], result.test_scores,
                                        result.threshold, [test_crops[i].brand for i in test_index],
                                        [test_crops[i].group for i in test_index])
        rounds.append((sides, result, m))
        fold_metrics.append(_compact(m))
        if args.folds:
            _LOG.info("fold %d: %s", k, json.dumps(fold_metrics[-1]))

    sides, result, test_m = rounds[0]
    val_m = classifier_metrics.evaluate(result.val_labels >= 0.5, result.val_scores, result.threshold,
                                        [""] * len(result.val_labels), [""] * len(result.val_labels))
    out = {
        "test": test_m,
        "validation": {k: val_m[k] for k in ("n", "n_target", "auc", "accuracy", "precision", "recall", "f1")},
        "threshold": result.threshold, "threshold_rule": result.threshold_rule,
        "model": {**result.info, "backbone": embedder.version},
        "data": {"path": args.data, "test_path": args.test_data, "trained_on": data_hash(crops),
                 "crops": len(crops), "skipped": skipped + test_skipped, "split": split_summary(crops, sides)},
        "augment": {"copies": args.augment, "seed": args.seed, "params": dataclasses.asdict(cfg.params),
                    "key": cfg.params.key(args.seed)},
        "mixup": {"alpha": args.mixup, "mode": args.mixup_mode, "copies": args.mixup_copies} if args.mixup else None,
        "embedding_cache": cache.stats(),
        "command": command,
        "use": use_command(args.out),
    }
    if args.folds:
        out["cross_validation"] = _cross_validation(fold_metrics)
    summary = classifier_metrics.summary_text(test_m, "test" if not args.test_data else f"test ({args.test_data})")
    summary += (f"\n  validation AUC {val_m['auc']}, threshold {result.threshold:.4f}: {result.threshold_rule}"
                f"\n  embedding cache: {cache.hits} hits, {cache.misses} misses ({cache.root or 'off'})"
                f"\nscan with it:\n  {out['use']}")
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "model" if "://" in args.out else Path(args.out)
        local.mkdir(parents=True, exist_ok=True)
        _write_outputs(local, out, result, crops, sides, test_crops, summary, args, timing, embedder, cfg)
        if local != Path(args.out):
            _upload(local, args.out)
    print(summary)
    return out


def _write_outputs(local: Path, out: dict, result, crops, sides, test_crops, summary, args, timing, embedder, cfg):
    start = time.perf_counter()
    if not args.no_export:
        import tensorflow as tf

        from models.export import save_serving

        meta = {"kind": "classifier", "input_size": cfg.input_size, "resize": "letterbox",
                "signature": "serving_default", "threshold": result.threshold, "backbone": embedder.version,
                "trained_on": out["data"]["trained_on"],
                "metrics": {**_compact(out["test"]), "val_auc": out["validation"]["auc"]},
                "architecture": result.classifier.description, "command": out["command"]}
        spec = tf.TensorSpec([None, cfg.input_size, cfg.input_size, 3], tf.uint8, name="crops")
        save_serving(result.classifier.serving_fn(), spec, local, meta)
        timing["export"] = time.perf_counter() - start
    if not args.no_report:
        start = time.perf_counter()
        _report(local / "report.html", out, result, test_crops, summary, cfg)
        timing["report"] = time.perf_counter() - start
    out["timing_s"] = {k: round(v, 1) for k, v in timing.items()}
    (local / "metrics.json").write_text(json.dumps(out, indent=2) + "\n")
    with open(local / "examples.jsonl", "w") as f:
        for i, c in enumerate(crops):
            f.write(json.dumps({"uri": c.uri, "group": c.group, "label": bool(c.label), "side": str(sides[i]),
                                "sha256": c.sha256}) + "\n")
        if args.test_data:
            for c in test_crops:
                f.write(json.dumps({"uri": c.uri, "group": c.group, "label": bool(c.label), "side": "test",
                                    "sha256": c.sha256, "source": "test_data"}) + "\n")
        for e in result.train_examples:
            if e.copy:
                f.write(json.dumps({"uri": crops[e.crop].uri, "group": crops[e.crop].group,
                                    "side": "train", "copy": e.copy, "augmented": True}) + "\n")


def _report(path: Path, out: dict, result, test_crops, summary: str, cfg: RoundConfig) -> None:
    from models.evaluation import metrics as base_metrics
    from models.train_classifier import report as rep

    test_idx, p = result.test_index, result.test_scores
    y = np.array([test_crops[i].label for i in test_idx])
    val_curve = base_metrics.pr_curve(result.val_labels >= 0.5, result.val_scores)
    val_points = [{"threshold": t, "precision": a, "recall": b}
                  for t, a, b in zip(val_curve.thresholds, val_curve.precision, val_curve.recall)]
    pr_png = rep.pr_plot(out["test"]["pr_curve"], result.threshold, val_points)
    cams = {}
    for kind, picks in rep.pick_examples(y, p, result.threshold, seed=cfg.seed).items():
        if not picks:
            cams[kind] = ""
            continue
        crops = [test_crops[test_idx[i]] for i in picks]
        inputs = np.stack([aug.model_input(c.pixels, c.sha256, 0, cfg.params, cfg.seed, cfg.input_size)
                           for c in crops])
        maps = result.classifier.cam(inputs)
        examples = [rep.CamExample(f"{c.brand or c.group}\n{Path(c.uri).name}", x, m, float(p[i]), c.label)
                    for c, x, m, i in zip(crops, inputs, maps, picks)]
        cams[kind] = rep.cam_plot(examples, result.threshold)
    info = {k: out[k] for k in ("threshold_rule", "model", "data", "augment", "mixup", "embedding_cache", "command",
                                "use")}
    rep.write_report(path, out, info, pr_png, cams, summary)


def _upload(local: Path, remote: str) -> None:
    """Copy a finished local model directory to gs:// (or any Beam filesystem)."""
    from transforms.beam_files import FileSystems

    for file in sorted(p for p in local.rglob("*") if p.is_file()):
        target = FileSystems.join(remote.rstrip("/"), *file.relative_to(local).parts)
        with FileSystems.create(target) as f:
            f.write(file.read_bytes())


def main() -> None:
    from models.train_classifier.data import CropDataError
    from pipeline.logs import configure
    from transforms.image_file import CloudError

    args = parse_args(None)  # --help and option errors before TensorFlow loads
    for option, path in (("--data", args.data), ("--test_data", args.test_data)):
        if path and "://" not in path and not os.path.exists(path):
            sys.exit(f"models.train_classifier: {option} {path} does not exist; pass a crops.jsonl "
                     "(pipeline.run --crops_output DIR writes DIR/crops.jsonl) or a folder of label subfolders")
    configure(args.verbose)
    try:
        run()
    except CropDataError as e:  # the data cannot train a model: say what to do, not where it broke
        sys.exit(f"models.train_classifier: {e}")
    except (OSError, CloudError) as e:  # --data unreadable, --out unwritable
        what = f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.filename else str(e)
        sys.exit(f"models.train_classifier: cannot read or write {what}; check --data, --out and your access")
