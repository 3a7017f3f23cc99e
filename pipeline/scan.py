"""One scan: options to models to the Beam graph, run locally or submitted; `python -m pipeline.run` is
its command line (pipeline/run.py)."""
from __future__ import annotations

import dataclasses
import datetime
import logging
import sys
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions

from pipeline.graph import ModelSettings, ScanConfig, build_scan
from pipeline.inputs import input_roots, scan_patterns
from pipeline.options import LocalRunOptions, ScanOptions, default_scan_id
from pipeline.progress import ProgressLine
from pipeline.report import (
    ScanReport,
    models_line,
    next_steps,
    report_hint,
    scan_report,
    with_failure_examples,
    write_visual_report,
)
from pipeline.sinks import write_rows
from pipeline.status import Status
from pipeline.validate import check_options, full_parser, parse_class_filter, submits_remotely
from transforms.cutoff import parse_modified_after
from transforms.slicing import slice_plan

_LOG = logging.getLogger("pipeline.run")


def model_settings(scan: ScanOptions) -> tuple[ModelSettings, ModelSettings, ModelSettings]:
    """Load each model here, so a model that cannot load fails the job before it starts; a scan that runs
    in this process uses these models (SlotModelHandler's `loaded`) rather than loading them again."""
    from models import slots
    from models.handler import enable_gpu_memory_growth

    enable_gpu_memory_growth()  # before TensorFlow first touches a GPU: the scan runs these very models

    wanted = {
        "detector": (scan.detector, {"threshold": scan.detector_score_threshold,
                                     "class_filter": parse_class_filter(scan.detector_class_filter)},
                     scan.detector_batch_size),
        "classifier": (scan.classifier, {"threshold": scan.classifier_threshold},
                       scan.classifier_batch_size),
        "segmenter": (scan.segmenter, {}, scan.segmenter_batch_size),
    }
    settings = []
    for slot, (uri, overrides, batch) in wanted.items():
        overrides = {k: v for k, v in overrides.items() if v is not None}
        model = slots.load_model(slot, uri, trust_model_code=scan.trust_model_code, **overrides)
        settings.append(ModelSettings(slot, uri, overrides, model.meta, batch, scan.trust_model_code, model))
    return tuple(settings)


def cutoff(modified_after: str | None) -> float | None:
    if modified_after is None:
        return None
    return parse_modified_after(modified_after, datetime.datetime.now(datetime.timezone.utc))


def scan_config(scan: ScanOptions) -> ScanConfig:
    detector, classifier, segmenter = model_settings(scan)
    patterns = scan_patterns(scan.input, scan.input_list)
    return ScanConfig(
        patterns=patterns, input_list=scan.input_list, scan_id=scan.scan_id or default_scan_id(),
        detector=detector, classifier=classifier, segmenter=segmenter,
        slices=slice_plan(scan, detector.meta.extra),
        area_ratio_tolerance=scan.area_ratio_tolerance, max_image_pixels=scan.max_image_pixels,
        max_image_bytes=scan.max_image_bytes, decode_bottle_share=scan.decode_bottle_share,
        decode_threads=scan.decode_threads,
        large_model=scan.large_model, model_copies=scan.model_copies,
        crops_output=scan.crops_output, modified_after=cutoff(scan.modified_after),
        skip_scanned_in=scan.output if scan.skip_scanned else None)


def run(argv: list[str] | None = None, started: float | None = None, checked: bool = False,
        status: Status | None = None) -> ScanReport | None:
    """Parse options, build the scan and run it; locally, wait and return the scan's report.

    checked: check_options already passed (main checks before TensorFlow is imported).
    status: the line saying what happens until the progress bar takes over (pipeline.status).
    On Dataflow this returns None once the job is submitted (or the template is written).
    """
    started = time.monotonic() if started is None else started  # model loading counts
    argv = list(sys.argv[1:] if argv is None else argv)
    options = PipelineOptions(argv)
    if not checked:
        check_options(argv, options)
    scan = options.view_as(ScanOptions)
    cfg = scan_config(scan)
    remote = submits_remotely(options)
    if status:
        status.clear()
    with ProgressLine(enabled=not scan.no_progress and not remote) as progress:
        cfg = dataclasses.replace(cfg, progress_board=progress.board)
        p = beam.Pipeline(options=options if remote else LocalRunOptions(argv))
        rows = build_scan(p, cfg)
        where = write_rows(rows, scan.output, cfg.scan_id)
        job_started = time.monotonic()
        progress.job_started()
        result = p.run()
        if remote:
            template = options.view_as(GoogleCloudOptions).template_location
            job_id = getattr(result, "job_id", lambda: None)() if not template else None
            _LOG.warning("scan %s %s", cfg.scan_id, f"template written to {template}" if template
                         else f"submitted as Dataflow job {job_id}; output: {where}")
            if scan.report:
                _LOG.warning("--report is for local scans; once the job is done: python -m pipeline.report "
                             "%s --scan_id %s", scan.output, cfg.scan_id)
            return None
        result.wait_until_finish()
    job_s = time.monotonic() - job_started
    report = (write_visual_report(scan.output, cfg.scan_id, scan.compare) if scan.report
              else report_hint(scan.output, cfg.scan_id))
    models, note = models_line(cfg.detector.uri, cfg.classifier.uri, cfg.segmenter.uri)
    steps = next_steps(cfg.crops_output, scan.output, input_roots(cfg.patterns[:1])[0] if cfg.patterns else None,
                       cfg.classifier.uri == "demo")
    done = scan_report(result, cfg.scan_id, where, time.monotonic() - started, job_s, cfg.classifier.meta.products)
    return dataclasses.replace(with_failure_examples(done, scan.output), report=report, models=models, note=note,
                               next_steps=steps)


def print_help() -> None:
    """Our options, then Beam's: PipelineOptions(argv) alone would only list the base class's (none)."""
    full_parser()[0].print_help()


def failure_verdict(report: ScanReport, max_failure_rate: float | None) -> str | None:
    """Why the scan should exit non-zero, or None: every input failed, or more than the allowed share."""
    if report.images and report.failures == report.images:
        return f"every input failed ({report.failures} of {report.images}); see the failures table"
    if max_failure_rate is not None and report.images and report.failures / report.images > max_failure_rate:
        return (f"{report.failures} of {report.images} inputs failed ({report.failures / report.images:.1%}), "
                f"over --max_failure_rate {max_failure_rate:g}; see the failures table")
    return None
