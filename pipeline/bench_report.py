"""pipeline.bench's figures from its runs: one JSON object, and the table a person reads."""
from __future__ import annotations

from pipeline.bare_chain import BUSY_STAGES, MODEL_STAGES, STAGES

SIDES = ("bare", "scan")
BUSY_SHARE = 0.1  # other processes' share of the machine's CPU above which its figures are provisional


def _fastest_run(runs: list[dict], seconds: str = "job_s") -> dict:
    """The least disturbed run: other work on the machine only ever slows a run down."""
    return min(runs, key=lambda r: r[seconds] / r["images"])


def _paired_ratios(runs: list[dict], sides: tuple[str, str] = SIDES, seconds: str = "job_s") -> list[float]:
    """sides[1] / sides[0] img/s of the two runs of each repeat, which ran back to back under similar load."""
    first, second = sides
    rates = {(r["side"], r.get("repeat", 0)): r["images"] / r[seconds] for r in runs}
    return [round(rates[second, i] / rates[first, i], 3) for i in sorted({i for _, i in rates})
            if (second, i) in rates and (first, i) in rates]


def _machine(runs: list[dict], machine: dict) -> dict:
    """The machine, with the largest share of its CPU other processes took during a run, and whether that
    makes the speeds provisional."""
    shares = [r["others_cpu_share"] for r in runs if r.get("others_cpu_share") is not None]
    others = max(shares) if shares else None
    return machine | {"others_cpu_share_max": others, "busy": others is None or others > BUSY_SHARE}


def _machine_line(machine: dict) -> str:
    others = machine["others_cpu_share_max"]
    return ("  other processes took " + (f"up to {others:.0%} of the machine's CPU during a run" if others is not None
                                        else "an unknown share of the CPU (no /proc/stat)")
            + (": THE MACHINE WAS SHARED, treat every speed below as provisional" if machine["busy"] else
               ": the machine was quiet enough"))


def _per_image(run: dict) -> dict[str, float]:
    return {stage: seconds / run["images"] for stage, seconds in run["stage_s"].items()}


def _mean_batches(run: dict) -> dict[str, float]:
    items = {"detector model": run["images"] - run["failures"], "classifier model": run["bottles"],
             "segmenter model": run["targets"]}
    return {stage.split()[0]: round(items[stage] / run["calls"][stage], 1)
            for stage in MODEL_STAGES if run["calls"].get(stage)}


def summarize(source: str, runs: list[dict], machine: dict) -> dict:
    """Each side's fastest run, its per-image stage times, and the ratios the issue asks for."""
    by_side = {side: [r for r in runs if r["side"] == side] for side in SIDES}
    best = {side: _fastest_run(by_side[side]) for side in SIDES}
    bare, scan = best["bare"], best["scan"]
    if (bare["images"], bare["bottles"], bare["targets"]) != (scan["images"], scan["bottles"], scan["targets"]):
        counts = {side: {k: best[side][k] for k in ("images", "failures", "bottles", "targets")} for side in SIDES}
        raise SystemExit(f"the two sides disagree on what they found: {counts}; a bug in one of them")
    rate = {side: best[side]["images"] / best[side]["job_s"] for side in SIDES}
    bare_s, scan_s = _per_image(bare), _per_image(scan)
    bare_total, scan_total = bare["job_s"] / bare["images"], scan["job_s"] / scan["images"]
    chain = sum(v for k, v in bare_s.items() if k not in BUSY_STAGES)  # read, decode: the wait for them counts
    bare_s["loop glue"] = bare_total - chain
    scan_s["Beam overhead"] = scan_total - chain
    models = {side: sum(s.get(stage, 0.0) for stage in MODEL_STAGES)
              for side, s in (("bare", bare_s), ("scan", scan_s))}
    return {
        "benchmark": "pipeline.bench", "source": source, "images": bare["images"], "repeats": len(by_side["bare"]),
        "img_per_s": {side: round(rate[side], 3) for side in SIDES},
        "scan_over_bare": round(rate["scan"] / rate["bare"], 3),
        "scan_over_bare_each_repeat": _paired_ratios(runs),
        "bare_over_model_calls": round(bare_total / models["bare"], 3),
        "bare_over_model_calls_after_loading": round((bare_total - bare_s["load models"]) / models["bare"], 3),
        "runs_img_per_s": {side: [round(r["images"] / r["job_s"], 3) for r in by_side[side]] for side in SIDES},
        "whole_command_img_per_s": {side: round(best[side]["images"] / best[side]["command_s"], 3)
                                    for side in SIDES},
        "seconds_per_image": {"bare": {k: round(v, 4) for k, v in bare_s.items()} | {"total": round(bare_total, 4)},
                              "scan": {k: round(v, 4) for k, v in scan_s.items()} | {"total": round(scan_total, 4)}},
        "model_calls_s_per_image": {side: round(v, 4) for side, v in models.items()},
        "mean_batch": {side: _mean_batches(best[side]) for side in SIDES},
        "peak_rss_mb": {side: best[side]["peak_rss_mb"] for side in SIDES},
        "bottles_per_image": round(bare["bottles"] / bare["images"], 2),
        "targets_per_image": round(bare["targets"] / bare["images"], 2),
        "failures": bare["failures"],
        "settings": bare["settings"],
        "machine": _machine(runs, machine),
    }


W, C = 42, 16  # label and column widths


def _cell(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _row(label: str, bare: object, scan: object, note: str = "") -> str:
    return f"{label:{W}}{bare!s:>{C}}{scan!s:>{C}}" + (f"    {note}" if note else "")


def table(result: dict) -> str:
    """The figures as a person reads them; the JSON above holds the same and more."""
    machine, rate = result["machine"], result["img_per_s"]
    runs, whole = result["runs_img_per_s"], result["whole_command_img_per_s"]
    batches = {side: ", ".join(f"{v:g}" for v in result["mean_batch"][side].values()) for side in SIDES}
    lines = [
        f"pipeline.bench: {result['images']} images ({result['source']}), {result['repeats']} run(s) per side, "
        f"{machine['cpus']} CPUs",
        _machine_line(machine),
        "  settings: " + ", ".join(f"{k} {v}" for k, v in result["settings"].items()),
        "",
        _row("", "bare chain", "Beam scan"),
        _row("img/s, timed part (fastest run)", f"{rate['bare']:.3f}", f"{rate['scan']:.3f}",
             f"scan / bare {result['scan_over_bare']:.3f}"),
        "  img/s of each run: bare " + ", ".join(f"{v:.2f}" for v in runs["bare"]) + "; scan "
        + ", ".join(f"{v:.2f}" for v in runs["scan"]) + "; scan / bare of each repeat (back to back) "
        + ", ".join(f"{v:.3f}" for v in result["scan_over_bare_each_repeat"]),
        _row("img/s, whole command (+ imports, launch)", f"{whole['bare']:.3f}", f"{whole['scan']:.3f}"),
        _row("peak memory, MB RSS", result["peak_rss_mb"]["bare"], result["peak_rss_mb"]["scan"]),
        _row("mean batch: detector, classifier, segm.", batches["bare"], batches["scan"]),
        _row("bottles, targets per image", f"{result['bottles_per_image']:.2f}", f"{result['targets_per_image']:.2f}",
             "(the same on both sides, checked)"),
        "",
        _row("seconds per image", "bare chain", "Beam scan"),
    ]
    bare, scan = result["seconds_per_image"]["bare"], result["seconds_per_image"]["scan"]
    for stage in (*STAGES, "loop glue", "Beam overhead", "total"):
        if stage in bare or stage in scan:
            lines.append(_row(f"  {stage}", _cell(bare.get(stage)), _cell(scan.get(stage))))
    models = result["model_calls_s_per_image"]
    lines += [
        _row("  model calls, all three", _cell(models["bare"]), _cell(models["scan"])),
        "",
        f"Beam overhead over the whole job: {scan['Beam overhead'] * result['images']:.2f} s (part of it is fixed per "
        "job: start-up, shuffles, the output's replace; benchmark more images to see the per-image part)",
        f"bare chain / pure model calls: {result['bare_over_model_calls']:.3f} "
        f"({result['bare_over_model_calls_after_loading']:.3f} leaving out loading the models)",
        "Scan column: Beam metrics (decode: a distribution in the Decode DoFn; model loading and calls:",
        "RunInference's own). '-': measured in the bare chain only. Beam overhead: the scan's time per image",
        "minus the bare chain's stage sums (the rows above it but read and decode, which run in decode threads",
        "and count as the chain's wait for them). Load models: once per run, spread over its images. Model",
        "calls: np.stack, the model, unbatching (SlotModelHandler.run_inference).",
    ]
    return "\n".join(lines)


CHECKOUTS = ("against", "this")  # ratios are this / against: above 1, this checkout is faster


def _rate(run: dict, seconds: str) -> float | None:
    return round(run["images"] / run[seconds], 3) if run.get(seconds) else None


def _checkout_side(runs: list[dict]) -> dict:
    """One checkout's figures: its fastest run's speeds, what its scan found, its largest peak memory."""
    best, first = _fastest_run(runs, "command_s"), runs[0]
    summarized = first["summaries"]
    views = first.get("detector_views")
    side = {
        "code": first["code"], "commit": first["commit"],
        "img_per_s": _rate(best, "command_s"),
        "job_img_per_s": _rate(_fastest_run(runs, "job_s"), "job_s") if all(r.get("job_s") for r in runs) else None,
        "runs_img_per_s": [_rate(r, "command_s") for r in runs],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "summaries": summarized, "failures": first["failures"],
        "bottles_per_photo": round(first["bottles"] / summarized, 2) if summarized else None,
        "detector_views_per_photo": round(views / summarized, 2) if views and summarized else None,
    }
    if "recall" in first:
        side |= {k: first[k] for k in ("recall", "precision", "true_bottles", "photos_without_summary")}
    if len({(r["summaries"], r["bottles"]) for r in runs}) > 1:  # a scan should find the same each time
        side["runs_disagree"] = [{"summaries": r["summaries"], "bottles": r["bottles"]} for r in runs]
    return side


def _ratio(sides: dict, key: str) -> float | None:
    this, against = sides["this"][key], sides["against"][key]
    return round(this / against, 3) if this and against else None


def summarize_against(source: str, images: int, runs: list[dict], machine: dict) -> dict:
    """This checkout's scan beside another's: each side's figures and this / against img/s."""
    runs = [r | {"images": images} for r in runs]
    sides = {side: _checkout_side([r for r in runs if r["side"] == side]) for side in ("this", "against")}
    return {
        "benchmark": "pipeline.bench --against", "source": source, "images": images,
        "repeats": sum(r["side"] == "this" for r in runs), "sides": sides,
        "this_over_against": _ratio(sides, "img_per_s"),
        "this_over_against_each_repeat": _paired_ratios(runs, CHECKOUTS, "command_s"),
        "this_over_against_job": _ratio(sides, "job_img_per_s"),
        "machine": _machine(runs, machine),
    }


def against_table(result: dict) -> str:
    """The --against figures as a person reads them."""
    this, against = result["sides"]["this"], result["sides"]["against"]

    def row(label: str, key: str, digits: int | None = 3) -> str:
        cells = [("-" if side.get(key) is None else f"{side[key]:.{digits}f}" if digits is not None else side[key])
                 for side in (this, against)]
        return _row(label, *cells)

    lines = [
        f"pipeline.bench --against: {result['images']} images ({result['source']}), {result['repeats']} run(s) per "
        f"side, interleaved, {result['machine']['cpus']} CPUs",
        _machine_line(result["machine"]),
        "",
        _row("", f"this {this['commit'] or ''}".strip(), f"against {against['commit'] or ''}".strip()),
        row("img/s, whole command (fastest run)", "img_per_s"),
        row("img/s, Beam job only", "job_img_per_s"),
        row("detector views per photo", "detector_views_per_photo", 2),
        row("peak memory, MB RSS", "peak_rss_mb", None),
        row("bottles per photo", "bottles_per_photo", 2),
        row("bottle recall (IoU 0.5)", "recall"),
        row("bottle precision (IoU 0.5)", "precision"),
        "",
        f"this / against img/s: {_cell(result['this_over_against'], 3)} (whole command; each repeat, back to back: "
        + ", ".join(f"{v:.3f}" for v in result["this_over_against_each_repeat"])
        + f"); Beam job only: {_cell(result['this_over_against_job'], 3)}",
        "img/s of each run: this " + ", ".join(f"{v:.3f}" for v in this["runs_img_per_s"]) + "; against "
        + ", ".join(f"{v:.3f}" for v in against["runs_img_per_s"]),
        f"this: {this['code']}; against: {against['code']}. Whole command: imports, the model check and the job, as",
        "a user waits for it. '-': not known (no truth, or that checkout's scan does not count it).",
    ]
    for name, side in (("this", this), ("against", against)):
        if side.get("runs_disagree"):
            lines.append(f"WARNING: the {name} side's runs found different things: {side['runs_disagree']}")
    return "\n".join(lines)
