"""The scan job's own options, listed by --help beside Beam's."""
from __future__ import annotations

import argparse
import datetime
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions

from models import builtin
from transforms.slicing import DEFAULT_OVERLAP, DEFAULT_SLICE_SIZE, MIN_SLICE_SIZE

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = PACKAGE_ROOT / "pipeline" / "samples"


def _boolean(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _flag(parser, name: str, help: str) -> None:
    """A boolean option that also takes =true/=false, as Flex Templates pass every parameter."""
    parser.add_argument(name, nargs="?", const=True, default=False, type=_boolean, help=help)


def default_scan_id() -> str:
    return "scan-" + datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


class ScanOptions(PipelineOptions):
    """Where to read, which models to run, where to write."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--input", action="append", default=None,
            help="Glob of images to scan (local, gs://, any Beam filesystem). Repeatable. "
                 "Default: the bundled sample images.")
        parser.add_argument(
            "--input_list", default=None,
            help="Text file with one image URI per line, scanned as well as --input.")
        parser.add_argument(
            "--output", default="out",
            help="Directory prefix for Parquet (local or gs://), or bq://PROJECT.DATASET.TABLE.")
        parser.add_argument("--detector", default=builtin.DEFAULTS["detector"],
                            help="Detector model: a built-in name, local SavedModel dir, gs:// URI or TF Hub "
                                 "handle. " + builtin.help_text("detector"))
        parser.add_argument("--classifier", default=builtin.DEFAULTS["classifier"],
                            help="Target classifier model: a built-in name, local dir, gs:// URI or TF Hub "
                                 "handle. " + builtin.help_text("classifier"))
        parser.add_argument("--segmenter", default=builtin.DEFAULTS["segmenter"],
                            help="Bottle segmenter model: a built-in name, local dir, gs:// URI or TF Hub "
                                 "handle. " + builtin.help_text("segmenter"))
        parser.add_argument("--detector_score_threshold", type=float, default=None,
                            help="Drop boxes scoring below this. Default: the detector's own, else 0.5.")
        parser.add_argument("--detector_class_filter", default=None,
                            help="Comma-separated detector class ids meaning 'bottle' "
                                 "(COCO: 44). Default: the detector's own.")
        parser.add_argument("--classifier_threshold", type=float, default=None,
                            help="Target score threshold. Default: the one stored with the classifier.")
        parser.add_argument("--area_ratio_tolerance", type=float, default=1.5,
                            help="Use the box-derived expected area when mask and expected area "
                                 "differ by more than this factor either way.")
        parser.add_argument("--scan_id", default=None,
                            help="Names this scan's output partition. Default: derived from the time.")
        parser.add_argument("--detector_batch_size", type=int, default=4,
                            help="Images or slices per detector call (1 for detectors that take any size).")
        parser.add_argument("--slice_size", type=int, default=None,
                            help="Besides the whole image, show the detector overlapping slices of about this "
                                 "many original pixels, so small bottles in large photos are found; images "
                                 f"not larger than a slice are not sliced. 0 turns slicing off; else at least "
                                 f"{MIN_SLICE_SIZE}. Default: the detector's own (coco: 300), else "
                                 f"{DEFAULT_SLICE_SIZE}.")
        parser.add_argument("--slice_overlap", type=float, default=DEFAULT_OVERLAP,
                            help="Share of a slice that its neighbour also sees (at least 0, below 1), so a "
                                 "bottle on a slice border is seen whole by one of them.")
        parser.add_argument("--classifier_batch_size", type=int, default=32, help="Crops per classifier batch.")
        parser.add_argument("--segmenter_batch_size", type=int, default=16, help="Crops per segmenter batch.")
        parser.add_argument("--max_image_pixels", type=int, default=50_000_000,
                            help="Images larger than this are failures (decompression-bomb guard).")
        parser.add_argument("--max_image_bytes", type=int, default=200_000_000,
                            help="Files larger than this (bytes) are failures, never read whole.")
        parser.add_argument(
            "--decode_bottle_share", type=float, default=0.125,
            help="Decode each photo at the fewest pixels that still give the detector its input size and "
                 "a bottle this share of the photo's long side the classifier's and segmenter's input size "
                 "(JPEG: libjpeg's DCT scaling to 1/2, 1/4, 1/8; other formats: averaged down after "
                 "decoding). Boxes and areas stay in original pixels. 0 decodes every pixel.")
        parser.add_argument(
            "--decode_threads", type=int, default=None,
            help="Threads decoding the next photos while the models work on earlier ones, per worker thread. "
                 "Default: half the worker's CPUs, at least 1 (2-core machine: 1; 4-vCPU GPU worker: 2). "
                 "0 decodes in the worker thread itself.")
        parser.add_argument("--max_failure_rate", type=float, default=None,
                            help="Exit non-zero when more than this share of inputs (0-1) failed. "
                                 "Default: only when every input failed.")
        _flag(parser, "--large_model",
                            help="Load each model once per machine, shared across SDK processes "
                                 "(one GPU serving many processes).")
        parser.add_argument("--model_copies", type=int, default=None,
                            help="Exact model copies per machine (implies sharing across processes).")
        _flag(parser, "--no_progress", help="No progress line on stderr.")
        _flag(parser, "--verbose",
              help="Show TensorFlow's and Beam's own log lines (hidden by default: start-up chatter, "
                   "CUDA probing on a machine without a GPU).")
        _flag(parser, "--report",
              help="After a local scan with Parquet output, write its visual report to "
                   "OUTPUT/reports/SCAN_ID.html and every image's row to SCAN_ID.csv beside it "
                   "(also: python -m pipeline.report OUTPUT --scan_id X).")
        parser.add_argument("--compare", default=None, metavar="SCAN_ID",
                            help="With --report: show what changed against this earlier scan of the same "
                                 "--output (counts, areas, the images whose targets or bottles differ).")
        parser.add_argument(
            "--modified_after", default=None,
            help="Only scan files modified after this time: ISO 8601 (2026-11-01T00:00:00Z) or an age "
                 "such as 26h or 7d, for nightly incremental scans.")
        _flag(
            parser, "--skip_scanned",
            help="Skip images that already have a summary row in --output (from any earlier scan).")
        parser.add_argument(
            "--crops_output", default=None,
            help="Also write every detected crop (JPEG) with its URI, box and scores under this prefix, "
                 "lowest-confidence first in crops.jsonl, to label crops from your own archive.")


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Adds "(default: X)" where a default means something and the help text does not say it already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        empty = isinstance(action.default, (list, tuple)) and not action.default
        if empty or action.default in (None, False, argparse.SUPPRESS) or "default" in text.lower():
            return text
        return text + " (default: %(default)s)"


class LocalRunOptions(PipelineOptions):
    """The options a local scan hands Beam: all of them, but what Beam passes on to worker processes
    leaves ours out. A worker knows only Beam's option classes and would log ours as "Discarding
    unparseable args", as if they were dropped; our values reach the graph through ScanConfig."""

    def get_all_options(self, *args, **kwargs) -> dict:
        ours = {name for name, _, _ in option_help()}
        return {k: v for k, v in super().get_all_options(*args, **kwargs).items() if k not in ours}


def option_help() -> list[tuple[str, str, bool]]:
    """(name, help, is_flag) for each of our options, in --help order."""
    import argparse

    parser = argparse.ArgumentParser()
    ScanOptions._add_argparse_args(parser)
    return [(action.dest, action.help or "", action.type is _boolean)
            for action in parser._actions if action.dest != "help"]


def flex_template_metadata() -> dict:
    """The Flex Template spec's metadata: one parameter per scan option."""
    return {
        "name": "shelfscan",
        "description": "Count and measure a target product's bottles in photo archives; "
                       "per-image summaries to Parquet or BigQuery.",
        "parameters": [
            {"name": name, "label": name.replace("_", " ").capitalize(), "helpText": text, "isOptional": True,
             **({"regexes": ["^(true|false)$"]} if is_flag else {})}
            for name, text, is_flag in option_help()],
    }


if __name__ == "__main__":
    import json

    print(json.dumps(flex_template_metadata(), indent=2))
