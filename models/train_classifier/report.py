"""A self-contained QA report (report.html): metrics, PR curves, CAM heatmaps of chosen test crops.

Heatmaps show the evidence for the class the model predicted: where it saw the product for crops it
called a product, where it saw "not that product" (the one it scored highest) for the rest.
"""
from __future__ import annotations

import base64
import dataclasses
import html
import io
import json

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class CamExample:
    """One test crop to show: its model input, CAM (evidence for the product it shows, [h, w]) and outcome."""

    title: str
    input: np.ndarray  # [S, S, 3] uint8, letterboxed
    cam: np.ndarray
    score: float
    truth: str  # the product it shows, or "other"
    called: bool  # whether the model called it a product


def pick_examples(truth: np.ndarray, called: np.ndarray, scores: np.ndarray, per_kind: int = 4,
                  seed: int = 0) -> dict[str, list[int]]:
    """Indices of the worst false positives, worst false negatives, products taken for another
    product (with several) and a sample of correct crops.

    truth, called: the product (or "other") per crop and what the model called it; scores: the
    highest product score.
    """
    truth, called, p = np.asarray(truth, str), np.asarray(called, str), np.asarray(scores)
    y, predicted = truth != "other", called != "other"
    fp = np.nonzero(predicted & ~y)[0]
    fn = np.nonzero(~predicted & y)[0]
    swapped = np.nonzero(predicted & y & (called != truth))[0]
    rng = np.random.default_rng(seed)
    correct = []
    for cls in (True, False):
        idx = np.nonzero((called == truth) & (y == cls))[0]
        correct += list(rng.choice(idx, size=min(per_kind // 2, len(idx)), replace=False))
    kinds = {"worst false positives": list(fp[np.argsort(-p[fp])][:per_kind]),
             "worst false negatives": list(fn[np.argsort(p[fn])][:per_kind])}
    if len(set(truth[y])) > 1 or len(swapped):
        kinds["taken for another product"] = list(swapped[np.argsort(-p[swapped])][:per_kind])
    return {**kinds, "correct (sample)": [int(i) for i in correct]}


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(*args, **kwargs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def pr_plot(curves: list[tuple[str, list[dict], float | None]]) -> str:
    """Base64 PNG of PR curves: (name, points, threshold) each; a threshold marks its operating point,
    a curve without one is drawn dashed (validation)."""
    fig, ax = _figure(figsize=(5, 4))
    for name, points, threshold in curves:
        if not points:
            continue
        line, = ax.plot([q["recall"] for q in points], [q["precision"] for q in points],
                        "-" if threshold is not None else "--", label=name)
        if threshold is not None:
            op = min(points, key=lambda q: abs(q["threshold"] - threshold))
            ax.plot([op["recall"]], [op["precision"]], "o", color=line.get_color(), label=f"threshold {threshold:.3f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=7)
    return _png(fig)


def _overlay(example: CamExample) -> np.ndarray:
    from PIL import Image

    evidence = example.cam if example.called else -example.cam
    heat = np.maximum(evidence, 0).astype(np.float32)
    heat = heat / heat.max() if heat.max() > 0 else heat
    size = example.input.shape[:2][::-1]
    return np.asarray(Image.fromarray(heat).resize(size, Image.BILINEAR))


def _short(text: str, width: int = 24) -> str:
    """Each line of a caption cut to `width` characters, so neighbouring captions never overlap."""
    return "\n".join(line if len(line) <= width else line[:width - 1] + "\u2026" for line in text.splitlines())


def cam_plot(examples: list[CamExample]) -> str:
    """Base64 PNG: per example, the input and its CAM overlay for the predicted class."""
    fig, axes = _figure(2, len(examples), figsize=(2.4 * len(examples), 5.4), squeeze=False)
    for k, ex in enumerate(examples):
        axes[0, k].imshow(ex.input)
        axes[0, k].set_title(_short(f"{ex.title}\n{ex.truth}, score {ex.score:.3f}"), fontsize=7)
        axes[1, k].imshow(ex.input)
        axes[1, k].imshow(_overlay(ex), cmap="jet", alpha=0.45, vmin=0, vmax=1)
        for ax in axes[:, k]:
            ax.axis("off")
    return _png(fig)


def _table(rows: list[list], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _product_tables(t: dict) -> str:
    """Per product at its threshold, and the confusion matrix over products and other."""
    from models.train_classifier.metrics import interval_text

    if "per_product" not in t:
        return ""
    rows = [[name, m["n_target"], m["precision"], interval_text(m["intervals_95"]["precision"]), m["recall"],
             interval_text(m["intervals_95"]["recall"]), m["f1"], m["auc"], round(m["threshold"], 4)]
            for name, m in t["per_product"].items()]
    per_product = _table(rows, ["product", "n", "precision", "95 %", "recall", "95 %", "F1", "AUC", "threshold"])
    confusion = t["product_confusion"]
    matrix = _table([[f"true {name}", *row] for name, row in zip(confusion["classes"], confusion["matrix"])],
                    ["", *(f"called {name}" for name in confusion["classes"])])
    return (f"<h2>Per product</h2><p>Each product against everything else, at its own threshold; a crop "
            f"goes to the highest-scoring product past its threshold, as the scan decides.</p>{per_product}"
            f"<h3>Confusion over products</h3><p>Rows: what the crop shows. Columns: what the model called it. "
            f"Each row sums to that class's test crops.</p>{matrix}")


def write_report(path, metrics: dict, info: dict, pr_png: str, cams: dict[str, str], summary: str,
                 honesty: str = "") -> None:
    """Write report.html: summary, headline table, per-product tables, PR curves, per-brand table,
    CAM sections, run info. honesty: a warning on what the numbers are (trained from references)."""
    from models.train_classifier.metrics import interval_text

    t = metrics["test"]
    found = t.get("intervals_95") or {}
    headline = _table([[k, t[k], interval_text(found[k]) if k in found else ""]
                       for k in ("n", "n_target", "accuracy", "auc", "precision", "recall", "f1", "threshold")],
                      ["metric", "test", "95 % interval"])
    warning = (f'<p class="warn">{html.escape(t["small_split"])}</p>' if t.get("small_split") else "")
    warning = (f'<p class="warn" id="trained-from">{html.escape(honesty)}</p>' if honesty else "") + warning
    use = info.get("use")
    brands = t.get("per_brand") or {}
    brand_table = _table([[b, v["n"], v["n_target"], v["accuracy"], v["predicted_target_rate"], v["mean_score"]]
                          for b, v in sorted(brands.items())],
                         ["brand", "n", "target", "accuracy", "predicted target rate", "mean score"]) if brands else ""
    sections = "".join(
        f"<h3>{html.escape(name)}</h3>" + (f'<img src="data:image/png;base64,{png}">' if png else "<p>none</p>")
        for name, png in cams.items())
    doc = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>shelfscan classifier QA</title>
<style>body{{font-family:sans-serif;margin:1em;max-width:1200px}}table{{border-collapse:collapse;margin:1em 0;
display:block;overflow-x:auto}}img{{max-width:100%;height:auto}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}
pre{{background:#f6f6f6;padding:1em;white-space:pre-wrap;overflow-wrap:anywhere}}
.warn{{background:#fff0e0;border-left:5px solid #d60;padding:.6em 1em;font-weight:bold}}</style></head>
<body><h1>shelfscan classifier QA report</h1>
{warning}
<pre>{html.escape(summary)}</pre>
<h2>Test metrics</h2>{warning}{headline}
<p>Intervals: Wilson score for accuracy, precision and recall; AUC and F1 bootstrapped over source images.
Crops of one image are not independent, so the Wilson intervals are, if anything, too narrow.</p>
{_product_tables(t)}
<h2>Precision-recall</h2><img src="data:image/png;base64,{pr_png}">
{"<h2>Per brand</h2>" + brand_table if brand_table else ""}
<h2>Where the model looks (CAM over head_relu, 7x7 at 224)</h2>
<p>Top row: the letterboxed crop the model sees. Bottom row: evidence for the predicted class
(exact CAM for the logistic head, Grad-CAM otherwise), upsampled from 7&times;7.</p>
{sections}
<h2>Run</h2><pre>{html.escape(json.dumps(info, indent=2, default=str))}</pre>
{f'<h2>Scan with this classifier</h2><pre id="use">{html.escape(use)}</pre>' if use else ""}
</body></html>"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(doc)
