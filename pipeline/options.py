"""The scan job's own options, listed by --help beside Beam's."""
from __future__ import annotations

import argparse
import datetime
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions

from models import builtin
from transforms.slicing import add_slice_options

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = PACKAGE_ROOT / "pipeline" / "samples"


def _boolean(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


class OptionAdder:
    """Adds options to a parser under group headings and keeps the actions it made, in order: what
    --help, the Flex Template spec and the unknown-flag check read, without argparse's private lists.

    Beam's option classes call add_value_provider_argument, which only Beam's own parser has; here it
    adds a plain argument, enough to list and recognise it."""

    def __init__(self, parser: argparse.ArgumentParser, title: str | None = None):
        self._parser = parser
        self._target = parser.add_argument_group(title) if title else parser
        self.actions: list[argparse.Action] = []

    def group(self, title: str) -> None:
        self._target = self._parser.add_argument_group(title)

    def add(self, *flags: str, **kwargs) -> argparse.Action:
        action = self._target.add_argument(*flags, **kwargs)
        self.actions.append(action)
        return action

    add_argument = add

    def add_value_provider_argument(self, *flags: str, **kwargs) -> argparse.Action:
        return self.add(*flags, **kwargs)

    def flag(self, name: str, help: str) -> argparse.Action:
        """A boolean option that also takes =true/=false, as Flex Templates pass every parameter."""
        return self.add(name, nargs="?", const=True, default=False, type=_boolean, help=help)

    def __getattr__(self, name: str):  # add_mutually_exclusive_group and the like, as the parser has them
        return getattr(self._target, name)


def default_scan_id() -> str:
    return "scan-" + datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


class ScanOptions(PipelineOptions):
    """Where to read, which models to run, where to write."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        add_scan_options(parser)


def add_scan_options(parser) -> list[argparse.Action]:
    """Our options, in their groups, on `parser`; returns them in --help order."""
    options = OptionAdder(parser)
    options.group("input: which photos")
    options.add(
        "--input", action="append", default=None,
        help="A folder (every image under it, at any depth) or a glob ('*' one level, '**' any depth) of "
             "images: local, gs:// or any Beam filesystem. Repeatable. Default: the bundled sample images.")
    options.add(
        "--input_list", default=None,
        help="Text file with one image URI per line, scanned as well as --input.")
    options.add(
        "--modified_after", default=None,
        help="Only scan files modified after this time: ISO 8601 (2026-11-01T00:00:00Z) or an age "
             "such as 26h or 7d, for nightly incremental scans.")
    options.flag(
        "--skip_scanned",
        help="Skip images that already have a summary row in --output (from any earlier scan).")
    options.add("--max_image_pixels", type=int, default=50_000_000,
                help="Images larger than this are failures (decompression-bomb guard).")
    options.add("--max_image_bytes", type=int, default=200_000_000,
                help="Files larger than this (bytes) are failures, never read whole.")
    options.group("models")
    options.add("--detector", default=builtin.DEFAULTS["detector"],
                help="Detector model: a built-in name, local SavedModel dir, gs:// URI, TF Hub "
                     "handle or .onnx file (Ultralytics, RT-DETR, OD-API exports). " + builtin.help_text("detector"))
    options.add("--classifier", default=builtin.DEFAULTS["classifier"],
                help="Target classifier model: a built-in name, local dir, gs:// URI, TF Hub "
                     "handle or .onnx file. " + builtin.help_text("classifier"))
    options.add("--segmenter", default=builtin.DEFAULTS["segmenter"],
                help="Bottle segmenter model: a built-in name, local dir, gs:// URI, TF Hub "
                     "handle or .onnx file. " + builtin.help_text("segmenter"))
    options.add("--detector_score_threshold", type=float, default=None,
                help="Drop boxes scoring below this. Default: the detector's own, else 0.5.")
    options.add("--detector_class_filter", default=None,
                help="Comma-separated detector class ids meaning 'bottle' "
                     "(COCO: 44). Default: the detector's own (an ONNX detector's class named 'bottle').")
    options.add("--classifier_threshold", type=float, default=None,
                help="Score at or above which a bottle is a product, for every product the classifier knows. "
                     "Default: the ones stored with the classifier (one per product).")
    options.add("--area_ratio_tolerance", type=float, default=1.5,
                help="Use the box-derived expected area when mask and expected area "
                     "differ by more than this factor either way.")
    options.flag("--trust_model_code",
                 help="Load model files even if their graphs run ops that touch files or the network or are not "
                      "known to be harmless (refused otherwise).")
    options.group("slicing: small bottles in large photos")
    add_slice_options(options.add)
    options.group("output")
    options.add(
        "--output", default="out",
        help="Directory prefix for Parquet (local or gs://), or bq://PROJECT.DATASET.TABLE.")
    options.add("--scan_id", default=None,
                help="Names this scan's output partition. Default: derived from the time.")
    options.flag("--report",
                 help="After a local scan with Parquet output, write its visual report to "
                      "OUTPUT/reports/SCAN_ID.html and every image's row to SCAN_ID.csv beside it "
                      "(also: python -m pipeline.report OUTPUT --scan_id X).")
    options.add("--compare", default=None, metavar="SCAN_ID",
                help="With --report: show what changed against this earlier scan of the same "
                     "--output (counts, areas, the images whose targets or bottles differ).")
    options.add(
        "--crops_output", default=None,
        help="Also write every detected crop (JPEG) with its URI, box and scores under this prefix, "
             "lowest-confidence first in crops.jsonl, to label crops from your own archive.")
    options.add("--max_failure_rate", type=float, default=None,
                help="Exit non-zero when more than this share of inputs (0-1) failed. "
                     "Default: only when every input failed.")
    options.group("runtime")
    options.add("--detector_batch_size", type=int, default=4,
                help="Images or slices per detector call (1 for detectors that take any size).")
    options.add("--classifier_batch_size", type=int, default=32, help="Crops per classifier batch.")
    options.add("--segmenter_batch_size", type=int, default=16, help="Crops per segmenter batch.")
    options.add(
        "--decode_bottle_share", type=float, default=0.125,
        help="Decode each photo at the fewest pixels that still give the detector its input size and "
             "a bottle this share of the photo's long side the classifier's and segmenter's input size "
             "(JPEG: libjpeg's DCT scaling to 1/2, 1/4, 1/8; other formats: averaged down after "
             "decoding). Boxes and areas stay in original pixels. 0 decodes every pixel.")
    options.add(
        "--decode_threads", type=int, default=None,
        help="Threads decoding the next photos while the models work on earlier ones, per worker thread. "
             "Default: half the worker's CPUs, at least 1 (2-core machine: 1; 4-vCPU GPU worker: 2). "
             "0 decodes in the worker thread itself.")
    options.flag("--large_model",
                 help="Load each model once per machine, shared across SDK processes "
                      "(one GPU serving many processes).")
    options.add("--model_copies", type=int, default=None,
                help="Exact model copies per machine (implies sharing across processes).")
    options.flag("--no_progress", help="No progress line on stderr.")
    options.flag("--verbose",
                 help="Show TensorFlow's and Beam's own log lines (hidden by default: start-up chatter, "
                      "CUDA probing on a machine without a GPU).")
    return options.actions


class LocalRunOptions(PipelineOptions):
    """The options a local scan hands Beam: all of them, but what Beam passes on to worker processes
    leaves ours out. A worker knows only Beam's option classes and would log ours as "Discarding
    unparseable args", as if they were dropped; our values reach the graph through ScanConfig."""

    def get_all_options(self, *args, **kwargs) -> dict:
        ours = {name for name, _, _ in option_help()}
        return {k: v for k, v in super().get_all_options(*args, **kwargs).items() if k not in ours}


def option_help() -> list[tuple[str, str, bool]]:
    """(name, help, is_flag) for each of our options, in --help order."""
    return [(action.dest, action.help or "", action.type is _boolean)
            for action in add_scan_options(argparse.ArgumentParser())]


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
