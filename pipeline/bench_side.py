"""One side of pipeline.bench, run in a process of its own: the bare chain or the Beam scan, timed alike."""
from __future__ import annotations

import os
import time

from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.graph import ScanConfig
from pipeline.options import ScanOptions

SLOTS = ("detector", "classifier", "segmenter")


def settings(cfg: ScanConfig) -> dict:
    """What the figures depend on besides the machine."""
    from transforms.lookahead import auto_threads

    slots = (cfg.detector, cfg.classifier, cfg.segmenter)
    return {"batch_sizes": {s.slot: s.handler(False, None).batch_elements_kwargs()["max_batch_size"] for s in slots},
            "input_sizes": {s.slot: s.meta.input_size for s in slots},
            "decode_threads": auto_threads(cfg.decode_threads), "decode_bottle_share": cfg.decode_bottle_share}


def measure_side(side: str, pattern: str, scan_args: list[str]) -> dict:
    """Launch as pipeline.run does (the model check loads every model once, untimed), then time the side."""
    from pipeline import logs
    from pipeline.run import scan_config

    logs.configure(verbose=False)
    argv = [*scan_args, "--input", pattern]
    scan = PipelineOptions(argv).view_as(ScanOptions)
    cfg = scan_config(scan)
    measured = _bare(cfg, scan.output) if side == "bare" else _scan(argv, cfg, scan.output)
    return {"side": side, "settings": settings(cfg), **measured}


def _bare(cfg: ScanConfig, output: str) -> dict:
    from pipeline.bare_chain import StageClock, run_chain
    from transforms.read import match_entries

    clock = StageClock()
    start = time.monotonic()
    uris = sorted({e.uri for pattern in cfg.patterns for e in match_entries(pattern)})
    os.makedirs(output, exist_ok=True)
    counts = run_chain(uris, cfg, os.path.join(output, "bare-summaries.parquet"), clock)
    return {"job_s": time.monotonic() - start, "images": counts.images, "failures": counts.failures,
            "bottles": counts.bottles, "targets": counts.targets, "stage_s": dict(clock.seconds),
            "calls": dict(clock.calls)}


def _distributions(result, namespace: str, name: str) -> tuple[int, int]:
    """(sum, count) of a distribution over every step that reports it."""
    found = result.metrics().query(MetricsFilter().with_namespace(namespace).with_name(name))["distributions"]
    values = [d.committed if d.committed is not None else d.attempted for d in found]
    return sum(v.sum for v in values if v), sum(v.count for v in values if v)


def _scan(argv: list[str], cfg: ScanConfig, output: str) -> dict:
    """The scan's stage times come from Beam metrics: decode from a distribution in the Decode DoFn, model
    loading and model calls from RunInference's own (per-batch latency, around run_inference)."""
    import apache_beam as beam

    from pipeline.graph import build_scan
    from pipeline.options import LocalRunOptions
    from pipeline.report import counter
    from pipeline.sinks import write_rows

    p = beam.Pipeline(options=LocalRunOptions(argv))
    write_rows(build_scan(p, cfg), output, cfg.scan_id)
    start = time.monotonic()
    result = p.run()
    result.wait_until_finish()
    job_s = time.monotonic() - start
    stage_s = {"decode": _distributions(result, "shelfscan", "decode_micros")[0] / 1e6, "load models": 0.0}
    calls = {}
    for slot in SLOTS:
        namespace = f"shelfscan_{slot}"
        stage_s["load models"] += _distributions(result, namespace, "load_model_latency_milli_secs")[0] / 1e3
        total, batches = _distributions(result, namespace, "inference_batch_latency_micro_secs")
        stage_s[f"{slot} model"], calls[f"{slot} model"] = total / 1e6, batches
    failures = counter(result, "failures_written")
    return {"job_s": job_s, "images": counter(result, "summaries_written") + failures, "failures": failures,
            "bottles": counter(result, "bottles_detected"), "targets": counter(result, "targets"),
            "stage_s": stage_s, "calls": calls}


# `python -m pipeline.run` of whichever checkout is on sys.path, recording what its Beam job counted into the
# file argv[1]. It imports nothing of shelfscan itself, so a checkout of any version runs under it as it is.
SCAN_PROBE = r"""
import json, os, runpy, sys, time
import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter

report, results, job_s = sys.argv[1], [], []
plain_run = beam.Pipeline.run


def timed_run(self, *args, **kwargs):
    started = time.monotonic()
    result = plain_run(self, *args, **kwargs)
    result.wait_until_finish()
    job_s.append(time.monotonic() - started)
    results.append(result)
    return result


def total(kind, namespace, name):
    values = []
    for result in results:
        found = result.metrics().query(MetricsFilter().with_namespace(namespace).with_name(name))[kind]
        values += [m.committed if m.committed is not None else m.attempted for m in found]
    values = [v for v in values if v is not None]
    if kind == "distributions":
        return sum(v.sum for v in values) if values else None
    return sum(values)


def write_report(status):
    pipeline = sys.modules.get("pipeline")
    found = {"exit": status, "job_s": sum(job_s) if job_s else None,
             "code": os.path.dirname(os.path.dirname(os.path.abspath(pipeline.__file__))) if pipeline else None,
             "summaries": total("counters", "shelfscan", "summaries_written"),
             "failures": total("counters", "shelfscan", "failures_written"),
             "bottles": total("counters", "shelfscan", "bottles_detected"),
             "detector_views": total("distributions", "shelfscan_detector", "inputs_per_model_call")}
    with open(report, "w") as f:
        json.dump(found, f)


beam.Pipeline.run = timed_run
sys.argv = ["pipeline.run", *sys.argv[2:]]
try:
    runpy.run_module("pipeline.run", run_name="__main__", alter_sys=True)
    write_report(0)
except SystemExit as e:
    write_report(e.code if isinstance(e.code, int) else 1)
    raise
"""


def detection_scores(truth: str, summaries: str) -> dict:
    """Bottle recall and precision (IoU 0.5, as pipeline.evaluate) of the summaries in a scan's folder."""
    from models.evaluation.truth import read_truth
    from pipeline.evaluate import read_summaries, score

    found = score(read_truth(truth), read_summaries(summaries))
    return {"recall": found["detection_recall"], "precision": found["detection_precision"],
            "true_bottles": found["detection_tp"] + found["detection_fn"],
            "photos_without_summary": found["images_without_summary"]}
