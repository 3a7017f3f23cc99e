"""Train the product classifier from labeled crops or reference photos: split, augment, embed, fit, evaluate,
report, export.

    python -m models.train_classifier --data PATH --out MODEL_DIR [--augment 10] [--mixup 0.4] ...
    python -m models.train_classifier --references DIR --data SCAN_CROPS --out MODEL_DIR

PATH is a crops.jsonl (uri, label, optional group and brand; what `models.synth --crops` and
`pipeline.run --crops_output` write) or a folder with one subfolder per label, local or gs://.
Labels are product names, "other" and "skip" ("target" is the one product of older data); with
more than one product every product gets its own head and threshold. DIR holds DIR/<product>/
with 3-20 photos of each product. MODEL_DIR (local or gs://) gets the SavedModel with
shelfscan.json that `pipeline.run --classifier MODEL_DIR` loads, plus metrics.json, report.html
and examples.jsonl (every example with its split side and copy index).
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

from models import builtin
from models.train_classifier import augment as aug
from models.train_classifier import metrics as classifier_metrics
from models.train_classifier import split
from models.train_classifier.data import CropDataError, data_hash
from models.train_classifier.embed_cache import EmbeddingCache
from models.train_classifier.outputs import reference_summary, summary_lines, upload, write_outputs
from models.train_classifier.references import DROPPED
from models.train_classifier.rounds import Example, Inputs, RoundConfig, embed, examples_on, split_summary, train_round
from models.train_classifier.training_set import drop_near_references, gather, reference_copies, split_sides
from transforms.products import OTHER, name_problem

_LOG = logging.getLogger("models.train_classifier")
MIN_PER_CLASS = 10  # below this a validation split holds one or two crops of a class: its AUC means nothing
REFERENCE_COPIES = 40  # shelf copies per training reference photo: 5 photos give a product 200 examples


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
    p.add_argument("--data", help="crops.jsonl or a folder of label subfolders (local or gs://); with --references, "
                                  "the crops that give negatives (labeled 'other', or else unlabeled).")
    p.add_argument("--references", metavar="DIR",
                   help="DIR/<product>/ holds 3-20 photos of each product (pack shots, web images, phone photos): "
                        "train from them, without labels, on shelf-like copies (local or gs://).")
    p.add_argument("--reference_detector", default=builtin.DEFAULTS["detector"], metavar="NAME|DIR|FILE.onnx",
                   help="The detector that boxes the product in each reference photo, as the scan will box it "
                        "(use the scan's --detector); 'none': cut photos on a plain backdrop to the product by its "
                        "colour, use the others whole.")
    p.add_argument("--reference_copies", type=int, default=REFERENCE_COPIES,
                   help="Shelf-like training copies per reference photo (offline, cached).")
    p.add_argument("--out", required=True, help="Model directory to write (local or gs://).")
    p.add_argument("--test_data", help="Evaluate on these crops (e.g. another seed) instead of a test split.")
    p.add_argument("--positive", help="Train one product against everything else: crops labeled this are the "
                                      "product, every other label is other. Default: every label but other and "
                                      "skip names a product ('target' included).")
    p.add_argument("--group_pattern", help="Folders only: regex whose first group in the file stem names the "
                                           "source image, e.g. '^(\\d+)_\\d+$'; default: each crop is its own group.")
    p.add_argument("--val_fraction", type=float, default=0.15,
                   help="About this share of each product's and of the other crops, as whole source images (and "
                        "of each product's reference photos), for validation.")
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
    p.add_argument("--head", choices=("logreg", "mlp"), default="logreg",
                   help="Head on the frozen embeddings (one per product, each product against the rest).")
    p.add_argument("--fine_tune", type=int, default=0, metavar="N",
                   help="Retrain the last N backbone blocks (and the head conv) end to end; one product only; slow "
                        "on CPU.")
    p.add_argument("--epochs", type=int, default=3, help="Fine-tuning epochs.")
    p.add_argument("--lr", type=float, default=1e-4, help="Fine-tuning learning rate.")
    p.add_argument("--min_precision", type=float, help="Pick each product's threshold with the most validation "
                                                        "recall at this precision; default: best validation F1.")
    p.add_argument("--seed", type=int, default=0, help="Seeds the split, augmentation, mixup and heads.")
    p.add_argument("--cache", default=str(default_cache_dir()),
                   help="Embedding cache directory ($XDG_CACHE_HOME/shelfscan/embeddings when that is set); "
                        "'' disables it.")
    p.add_argument("--limit", type=int, help="Use only the first N labeled (and N unlabeled) crops of --data "
                                             "(quick trials).")
    p.add_argument("--no_report", action="store_true", help="Skip report.html (CAM needs the backbone twice).")
    p.add_argument("--no_export", action="store_true", help="Skip the SavedModel (metrics only).")
    p.add_argument("--min_per_class", type=int, default=MIN_PER_CLASS,
                   help="Refuse to train with fewer labeled crops than this of any product or of the others: "
                        "a classifier from a handful of labels only looks ready. 0 trains on anything.")
    p.add_argument("--verbose", action="store_true", help="Show TensorFlow's start-up lines and progress logs.")
    args = p.parse_args(argv)
    if not args.data and not args.references:
        p.error("pass --data (labeled crops) or --references DIR (photos of each product) or both")
    if args.folds and args.test_data:
        p.error("--folds and --test_data exclude each other: k-fold makes its own test folds")
    if args.folds and args.references:
        p.error("--folds and --references exclude each other: reference photos are held out whole, not folded")
    if args.folds == 1 or args.folds < 0:
        p.error("--folds needs K >= 2")
    problem = name_problem(args.positive) if args.positive is not None else None
    if problem:
        p.error(f"--positive: {problem}")
    if args.reference_copies < 0:
        p.error("--reference_copies needs N >= 0")
    return args


def round_config(args: argparse.Namespace) -> RoundConfig:
    params = aug.AugmentParams(erase=args.erase, hflip=args.hflip)
    return RoundConfig(augment=args.augment, params=params, mixup=args.mixup, mixup_mode=args.mixup_mode,
                       mixup_copies=args.mixup_copies, head=args.head, fine_tune=args.fine_tune,
                       epochs=args.epochs, lr=args.lr, min_precision=args.min_precision, seed=args.seed,
                       reference_copies=args.reference_copies)


def _compact(m: dict) -> dict:
    return {k: m[k] for k in ("n", "accuracy", "auc", "precision", "recall", "f1")}


def _cross_validation(folds: list[dict]) -> dict:
    out: dict = {"folds": folds}
    for key in ("accuracy", "auc", "f1"):
        values = [f[key] for f in folds if f[key] is not None]  # a fold with one class has no AUC
        out[f"{key}_mean"] = round(float(np.mean(values)), 5) if values else None
        out[f"{key}_std"] = round(float(np.std(values)), 5) if values else None
    return out


def _evaluate(result, crops, examples, scores) -> dict:
    picked = [crops[e.crop] for e in examples]
    return classifier_metrics.evaluate_examples(result.products, [c.product for c in picked], scores,
                                                result.thresholds, [c.brand for c in picked],
                                                [c.group for c in picked])


def _validation(result, crops) -> dict:
    blank = [""] * len(result.val_examples)  # no breakdowns or bootstrap: only the headline numbers are kept
    val_m = classifier_metrics.evaluate_examples(result.products, [crops[e.crop].product for e in result.val_examples],
                                                 result.val_scores, result.thresholds, blank, blank)
    out = {k: val_m[k] for k in ("n", "n_target", "auc", "accuracy", "precision", "recall", "f1")}
    if "per_product" in val_m:
        out["per_product"] = {p: {k: m[k] for k in ("n_target", "auc", "precision", "recall", "f1", "threshold")}
                              for p, m in val_m["per_product"].items()}
    return out


def _embed_sides(data, sides, cfg, embedder, cache, references):
    """embed_sides for training_set.drop_near_references: reference copies by side, unlabeled crops."""
    inputs = Inputs(data.crops, cfg, data.products, references)

    def embed_side(side):
        if side == "unlabeled":
            return embed(inputs, [Example(int(i)) for i in data.indices("unlabeled")], embedder, cache), []
        examples = [e for e in examples_on(data.crops, sides, side, cfg) if data.crops[e.crop].source == "reference"]
        return embed(inputs, examples, embedder, cache), [data.crops[e.crop].product for e in examples]

    return embed_side


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

    data = gather(args)
    if cfg.fine_tune and len(data.products) > 1:
        raise CropDataError(f"--fine_tune trains one product against other, and {data.where} names "
                            f"{len(data.products)} ({', '.join(data.products)}): drop --fine_tune, or pass "
                            "--positive NAME to train that product alone")
    crops, test_crops = data.crops, data.test_crops
    timing["load"] = time.perf_counter() - clock
    if embedder is None:
        from models.train_classifier.classifiers import Backbone

        embedder = Backbone(cfg.input_size)
    cache = EmbeddingCache(args.cache or None, embedder.version, cfg.input_size)

    folds_of = split.kfold_groups([c.group for c in crops], [c.product for c in crops], args.folds, args.seed,
                                  negative=OTHER) if args.folds else None
    rounds, fold_metrics, near = [], [], {}
    for k in range(args.folds or 1):
        sides = split_sides(data, args, k, folds_of)
        split.check_no_leak([c.group for c in crops], sides)
        references = reference_copies(data, sides, cfg)
        sides, near = drop_near_references(data, sides, _embed_sides(data, sides, cfg, embedder, cache, references),
                                           cfg, args.min_per_class)
        test_sides = np.full(len(test_crops), split.TEST) if args.test_data else sides
        start = time.perf_counter()
        result = train_round(crops, sides, test_crops, test_sides, data.products, cfg, embedder, cache, references)
        timing[f"train_round_{k}"] = time.perf_counter() - start
        m = _evaluate(result, test_crops, result.test_examples, result.test_scores)
        rounds.append((sides, result, m))
        fold_metrics.append(_compact(m))
        if args.folds:
            _LOG.info("fold %d: %s", k, json.dumps(fold_metrics[-1]))

    sides, result, test_m = rounds[0]
    val_m = _validation(result, crops)
    used = [c for c, side in zip(crops, sides) if side != DROPPED]
    out = {
        "test": test_m,
        "validation": val_m,
        "threshold": result.threshold, "threshold_rule": result.threshold_rule,
        "products": list(data.products), "thresholds": dict(zip(data.products, result.thresholds)),
        "trained_from": data.trained_from,
        "model": {**result.info, "backbone": embedder.version},
        "data": {"path": args.data, "test_path": args.test_data, "trained_on": data_hash(used),
                 "crops": sum(c.source != "reference" for c in used), "skipped": data.skipped,
                 "split": split_summary(crops, sides, data.products)},
        "augment": {"copies": args.augment, "seed": args.seed, "params": dataclasses.asdict(cfg.params),
                    "key": cfg.params.key(args.seed)},
        "mixup": {"alpha": args.mixup, "mode": args.mixup_mode, "copies": args.mixup_copies} if args.mixup else None,
        "embedding_cache": cache.stats(),
        "command": command,
        "use": use_command(args.out),
    }
    if args.references:
        out["references"] = reference_summary(args, data, sides, near, cfg)
    if args.folds:
        out["cross_validation"] = _cross_validation(fold_metrics)
    summary = summary_lines(out, result, cache, args)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "model" if "://" in args.out else Path(args.out)
        local.mkdir(parents=True, exist_ok=True)
        write_outputs(local, out, result, crops, sides, test_crops, summary, args, timing, embedder, cfg)
        if local != Path(args.out):
            upload(local, args.out)
    print(summary)
    return out


def main() -> None:
    from models.slots import ModelLoadError
    from pipeline.logs import configure
    from transforms.image_file import CloudError

    args = parse_args(None)  # --help and option errors before TensorFlow loads
    for option, path in (("--data", args.data), ("--test_data", args.test_data)):
        if path and "://" not in path and not os.path.exists(path):
            sys.exit(f"models.train_classifier: {option} {path} does not exist; pass a crops.jsonl "
                     "(pipeline.run --crops_output DIR writes DIR/crops.jsonl) or a folder of label subfolders")
    if args.references and "://" not in args.references and not os.path.isdir(args.references):
        sys.exit(f"models.train_classifier: --references {args.references} is not a folder; make one with a "
                 "subfolder per product (named as the product) holding 3-20 photos of it")
    configure(args.verbose)
    try:
        run()
    except CropDataError as e:  # the data cannot train a model: say what to do, not where it broke
        sys.exit(f"models.train_classifier: {e}")
    except ModelLoadError as e:  # --reference_detector names no usable detector; the message names it and why
        sys.exit(f"models.train_classifier: --reference_detector: {e}")
    except (OSError, CloudError) as e:  # --data unreadable, --out unwritable
        what = f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.filename else str(e)
        sys.exit(f"models.train_classifier: cannot read or write {what}; check --data, --references, --out and "
                 "your access")
