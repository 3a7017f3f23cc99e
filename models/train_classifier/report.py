"""A self-contained QA report (report.html): metrics, PR curve, CAM heatmaps of chosen test crops.

Heatmaps show the evidence for the class the model predicted: where it saw "target" for crops it
called target, where it saw "not target" for the rest.
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
    """One test crop to show: its model input, CAM (evidence for target, [h, w]) and outcome."""

    title: str
    input: np.ndarray  # [S, S, 3] uint8, letterboxed
    cam: np.ndarray
    score: float
    label: bool


def pick_examples(labels: np.ndarray, scores: np.ndarray, threshold: float, per_kind: int = 4,
                  seed: int = 0) -> dict[str, list[int]]:
    """Indices of the worst false positives, worst false negatives and a sample of correct crops."""
    y, p = np.asarray(labels, bool), np.asarray(scores)
    predicted = p >= threshold
    fp = np.nonzero(predicted & ~y)[0]
    fn = np.nonzero(~predicted & y)[0]
    rng = np.random.default_rng(seed)
    correct = []
    for cls in (True, False):
        idx = np.nonzero((predicted == y) & (y == cls))[0]
        correct += list(rng.choice(idx, size=min(per_kind // 2, len(idx)), replace=False))
    return {"worst false positives": list(fp[np.argsort(-p[fp])][:per_kind]),
            "worst false negatives": list(fn[np.argsort(p[fn])][:per_kind]),
            "correct (sample)": [int(i) for i in correct]}


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


def pr_plot(points: list[dict], threshold: float, val_points: list[dict] | None = None) -> str:
    """Base64 PNG of the test PR curve (and validation's, when given) with the chosen operating point."""
    fig, ax = _figure(figsize=(5, 4))
    for pts, name, style in ((points, "test", "-"), (val_points or [], "validation", "--")):
        if pts:
            ax.plot([q["recall"] for q in pts], [q["precision"] for q in pts], style, label=name)
    if points:
        op = min(points, key=lambda q: abs(q["threshold"] - threshold))
        ax.plot([op["recall"]], [op["precision"]], "o", color="red", label=f"threshold {threshold:.3f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    return _png(fig)


def _overlay(example: CamExample, threshold: float) -> np.ndarray:
    from PIL import Image

    evidence = example.cam if example.score >= threshold else -example.cam
    heat = np.maximum(evidence, 0).astype(np.float32)
    heat = heat / heat.max() if heat.max() > 0 else heat
    size = example.input.shape[:2][::-1]
    return np.asarray(Image.fromarray(heat).resize(size, Image.BILINEAR))


def _short(text: str, width: int = 24) -> str:
    """Each line of a caption cut to `width` characters, so neighbouring captions never overlap."""
    return "\n".join(line if len(line) <= width else line[:width - 1] + "\u2026" for line in text.splitlines())


def cam_plot(examples: list[CamExample], threshold: float) -> str:
    """Base64 PNG: per example, the input and its CAM overlay for the predicted class."""
    fig, axes = _figure(2, len(examples), figsize=(2.4 * len(examples), 5.4), squeeze=False)
    for k, ex in enumerate(examples):
        axes[0, k].imshow(ex.input)
        axes[0, k].set_title(_short(f"{ex.title}\n{'target' if ex.label else 'other'}, score {ex.score:.3f}"),
                             fontsize=7)
        axes[1, k].imshow(ex.input)
        axes[1, k].imshow(_overlay(ex, threshold), cmap="jet", alpha=0.45, vmin=0, vmax=1)
        for ax in axes[:, k]:
            ax.axis("off")
    return _png(fig)


def _table(rows: list[list], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(path, metrics: dict, info: dict, pr_png: str, cams: dict[str, str], summary: str) -> None:
    """Write report.html: summary, headline table, PR curve, per-brand table, CAM sections, run info."""
    from models.train_classifier.metrics import interval_text

    t = metrics["test"]
    found = t.get("intervals_95") or {}
    headline = _table([[k, t[k], interval_text(found[k]) if k in found else ""]
                       for k in ("n", "n_target", "accuracy", "auc", "precision", "recall", "f1", "threshold")],
                      ["metric", "test", "95 % interval"])
    warning = (f'<p class="warn">{html.escape(t["small_split"])}</p>' if t.get("small_split") else "")
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
