"""What a training run leaves in MODEL_DIR: the SavedModel and shelfscan.json, metrics.json, report.html,
examples.jsonl, and the summary it prints.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from models.train_classifier import metrics as classifier_metrics
from models.train_classifier.products import LEGACY_PRODUCTS
from models.train_classifier.products import called as called_by_rule
from models.train_classifier.references import HELD_OUT_COPIES
from models.train_classifier.rounds import RoundConfig


def honesty_text(out: dict) -> str:
    """What the numbers of a model trained from reference photos alone are, and are not; "" otherwise."""
    if out["trained_from"] != "references":
        return ""
    tested = (f"its test numbers are on {out['data']['test_path']}" if out["data"]["test_path"] else
              "its numbers are on shelf-like copies of held-out reference photos and on unlabeled crops taken as "
              "other, not on labeled crops of your photos")
    return (f"TRAINED FROM REFERENCE PHOTOS ONLY: {tested}; its thresholds were chosen on held-out reference "
            "photos. Scan with it, label the crops it is least sure of (they come first on the labeling page), "
            "and train again with --data to measure it on your own crops.")


def summary_lines(out: dict, result, cache, args) -> str:
    """The printed summary: test metrics, validation, thresholds, negatives, what the numbers are, the scan."""
    test_title = "test" if not args.test_data else f"test ({args.test_data})"
    lines = [classifier_metrics.summary_text(out["test"], test_title)]
    if len(result.products) == 1:
        lines.append(f"  validation AUC {out['validation']['auc']}, threshold {result.threshold:.4f}: "
                     f"{result.threshold_rule}")
    else:
        chosen = ", ".join(f"{p} {t:.4f}" for p, t in zip(result.products, result.thresholds))
        lines.append(f"  validation AUC {out['validation']['auc']}; thresholds: {chosen} ({result.threshold_rule})")
    near = (out.get("references") or {}).get("negatives", {})
    if near.get("unlabeled"):
        lines.append(f"  negatives: {near['kept_as_other']} of {near['unlabeled']} unlabeled crops taken as other; "
                     f"{near['dropped_as_near_a_product']} looked like a product and were left out")
    honest = honesty_text(out)
    if honest:
        lines.append(f"  {honest}")
    lines.append(f"  embedding cache: {cache.hits} hits, {cache.misses} misses ({cache.root or 'off'})")
    lines.append(f"scan with it:\n  {out['use']}")
    return "\n".join(lines)


def reference_summary(args, data, sides: np.ndarray, near: dict, cfg: RoundConfig) -> dict:
    """metrics.json's "references": photos per product and split side, copies, where negatives came from."""
    photos: dict[str, dict[str, int]] = {}
    for c, side in zip(data.crops, sides):
        if c.source == "reference":
            photos.setdefault(c.product, {"train": 0, "val": 0, "test": 0})[side] += 1
    labeled_other = any(not c.label and c.source == "label" for c in data.crops)
    return {"dir": args.references, "photos": photos, "detector": args.reference_detector, "cut": data.cut_how,
            "copies_per_training_photo": cfg.reference_copies,
            "copies_per_held_out_photo": HELD_OUT_COPIES,
            "negatives": {"from": "crops labeled other" if labeled_other else "unlabeled crops", **near}}


def model_meta(out: dict, result, cfg: RoundConfig, backbone: str) -> dict:
    """shelfscan.json: what the scan needs to feed and read the model, and where it came from."""
    meta = {"kind": "classifier", "input_size": cfg.input_size, "resize": "letterbox",
            "signature": "serving_default", "threshold": result.threshold}
    if result.products != LEGACY_PRODUCTS:  # a file without "products" means one product called target
        meta.update(products=list(result.products), thresholds=list(result.thresholds))
    if out["trained_from"] != "labels":  # absent means labels, as for every model before references
        meta["trained_from"] = out["trained_from"]
    return {**meta, "backbone": backbone, "trained_on": out["data"]["trained_on"],
            "metrics": {**{k: out["test"][k] for k in ("n", "accuracy", "auc", "precision", "recall", "f1")},
                        "val_auc": out["validation"]["auc"]},
            "architecture": result.classifier.description, "command": out["command"]}


def write_outputs(local: Path, out: dict, result, crops, sides, test_crops, summary, args, timing, embedder,
                  cfg: RoundConfig) -> None:
    start = time.perf_counter()
    if not args.no_export:
        import tensorflow as tf

        from models.export import save_serving

        spec = tf.TensorSpec([None, cfg.input_size, cfg.input_size, 3], tf.uint8, name="crops")
        save_serving(result.classifier.serving_fn(), spec, local, model_meta(out, result, cfg, embedder.version))
        timing["export"] = time.perf_counter() - start
    if not args.no_report:
        start = time.perf_counter()
        report(local / "report.html", out, result, crops, test_crops, summary, cfg)
        timing["report"] = time.perf_counter() - start
    out["timing_s"] = {k: round(v, 1) for k, v in timing.items()}
    (local / "metrics.json").write_text(json.dumps(out, indent=2) + "\n")
    _write_examples(local / "examples.jsonl", result, crops, sides, test_crops if args.test_data else None)


def _row(c, side: str, **extra) -> str:
    row = {"uri": c.uri, "group": c.group, "label": bool(c.label), "product": c.product, "side": side,
           "sha256": c.sha256, **extra}
    if c.source != "label":
        row["source"] = c.source
    return json.dumps(row) + "\n"


def _write_examples(path: Path, result, crops, sides, test_data_crops) -> None:
    """Every crop with its side (unlabeled crops left out as near a product: side "dropped"), each
    augmented training copy, and the --test_data crops."""
    with open(path, "w") as f:
        for c, side in zip(crops, sides):
            f.write(_row(c, str(side)))
        for c in test_data_crops or []:
            f.write(_row(c, "test", source="test_data"))
        for e in result.train_examples:
            if e.copy:
                f.write(json.dumps({"uri": crops[e.crop].uri, "group": crops[e.crop].group,
                                    "side": "train", "copy": e.copy, "augmented": True}) + "\n")


def report(path: Path, out: dict, result, crops, test_crops, summary: str, cfg: RoundConfig) -> None:
    from models.evaluation import metrics as base_metrics
    from models.train_classifier import report as rep
    from models.train_classifier.rounds import Inputs

    test = out["test"]
    if len(result.products) == 1:
        val_curve = base_metrics.pr_curve(result.val_labels[:, 0] >= 0.5, result.val_scores[:, 0])
        val_points = [{"threshold": t, "precision": a, "recall": b}
                      for t, a, b in zip(val_curve.thresholds, val_curve.precision, val_curve.recall)]
        pr_png = rep.pr_plot([("test", test["pr_curve"], result.threshold), ("validation", val_points, None)])
    else:
        pr_png = rep.pr_plot([(p, m["pr_curve"], m["threshold"]) for p, m in test["per_product"].items()])
    examples = result.test_examples
    shown = [test_crops[e.crop] for e in examples]
    scores = result.test_scores
    called = np.asarray(called_by_rule(scores, result.products, result.thresholds))
    inputs = Inputs(test_crops, cfg, result.products, result.references)
    cams = {}
    for kind, picks in rep.pick_examples([c.product for c in shown], called, scores.max(axis=1),
                                         seed=cfg.seed).items():
        if not picks:
            cams[kind] = ""
            continue
        batch = np.stack([inputs.make(examples[i]) for i in picks])
        columns = np.array([list(result.products).index(called[i]) if called[i] != "other" else
                            int(np.argmax(scores[i])) for i in picks])
        maps = result.classifier.cam(batch, columns)
        cams[kind] = rep.cam_plot([
            rep.CamExample(f"{shown[i].brand or shown[i].group}\n{Path(shown[i].uri).name}", x, m,
                           float(scores[i, k]), shown[i].product, called[i] != "other")
            for i, x, m, k in zip(picks, batch, maps, columns)])
    info = {k: out[k] for k in ("threshold_rule", "model", "data", "augment", "mixup", "embedding_cache", "command",
                                "use")}
    if "references" in out:
        info["references"] = out["references"]
    rep.write_report(path, out, info, pr_png, cams, summary, honesty_text(out))


def upload(local: Path, remote: str) -> None:
    """Copy a finished local model directory to gs:// (or any Beam filesystem)."""
    from transforms.beam_files import FileSystems

    for file in sorted(p for p in local.rglob("*") if p.is_file()):
        target = FileSystems.join(remote.rstrip("/"), *file.relative_to(local).parts)
        with FileSystems.create(target) as f:
            f.write(file.read_bytes())
