"""Check the command line before any work: unknown flags, ranges, the sink, the inputs. Each error is one
line."""
from __future__ import annotations

import argparse
import difflib
import math
import os

from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, StandardOptions

from pipeline.help_format import DefaultsHelpFormatter
from pipeline.options import OptionAdder, ScanOptions, add_scan_options
from transforms.slicing import slice_options_problem


class OptionError(ValueError):
    """A command line the scan refuses: the message names the option, the cause and what to do."""


DESCRIPTION = """Count the bottles in each photo, classify each as your product or not, and measure how much
of the photo they cover: one row per photo to Parquet or BigQuery.

examples:
  python -m pipeline.run --input /data/audit --output out --report           # every photo under the folder
  python -m pipeline.run --input 'gs://bucket/photos/**' --classifier my_classifier --output gs://bucket/scans
  python -m pipeline.run --input '/data/*.jpg' --output bq://my-project.shelfscan.summaries --scan_id 2026-11
"""


def full_parser() -> tuple[argparse.ArgumentParser, list[str]]:
    """Our options in their groups, then every Beam option under its own heading, as --help lists them;
    and every --flag either knows."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.run", allow_abbrev=False, description=DESCRIPTION,
                                     usage="%(prog)s [scan options] [Beam options]",
                                     formatter_class=HelpFormatter)
    actions = add_scan_options(parser)
    beam = OptionAdder(parser, "Beam and runner options (DirectRunner, Dataflow, ...)")
    for cls in dict.fromkeys(PipelineOptions.__subclasses__()):
        if cls is not ScanOptions:
            cls._add_argparse_args(beam)
    flags = [s for action in (*actions, *beam.actions) for s in action.option_strings if s.startswith("--")]
    return parser, flags


class HelpFormatter(DefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults where they mean something; the description and examples as written."""


def check_flags(argv: list[str]) -> None:
    """Refuse flags no option knows (Beam only warns) and stray words (an unquoted glob's expansion)."""
    parser, known = full_parser()
    _, unknown = parser.parse_known_args(argv)
    if not unknown:
        return
    word = unknown[0]
    if not word.startswith("-"):
        raise OptionError(f"unexpected argument {word!r}: every value belongs to an option; if the shell "
                          "expanded a glob, quote it (--input 'photos/*.jpg')")
    flag = word.split("=", 1)[0]
    close = difflib.get_close_matches(flag, known, n=1)
    hint = f"did you mean {close[0]}?" if close else "see python -m pipeline.run --help"
    raise OptionError(f"unknown option {flag}: no scan or Beam option has that name; {hint}")


def _between(name: str, value: float | None, low: float, high: float, what: str) -> None:
    if value is not None and not (math.isfinite(value) and low <= value <= high):
        raise OptionError(f"--{name} {value}: must be between {low:g} and {high:g}; {what}")


def _at_least(name: str, value: int | None, low: int, what: str) -> None:
    if value is not None and value < low:
        raise OptionError(f"--{name} {value}: must be at least {low}; {what}")


def check_ranges(scan: ScanOptions) -> None:
    _between("detector_score_threshold", scan.detector_score_threshold, 0, 1, "give a score such as 0.5")
    _between("classifier_threshold", scan.classifier_threshold, 0, 1, "give a probability such as 0.5")
    _between("max_failure_rate", scan.max_failure_rate, 0, 1, "give a share such as 0.05 for 5 %")
    _between("area_ratio_tolerance", scan.area_ratio_tolerance, 1, 1000,
             "it is a factor either way, e.g. 1.5")
    _between("decode_bottle_share", scan.decode_bottle_share, 0, 1,
             "a share of the photo's long side such as 0.125, or 0 to decode every pixel")
    for slot in ("detector", "classifier", "segmenter"):
        batch = getattr(scan, f"{slot}_batch_size")
        _at_least(f"{slot}_batch_size", batch, 1, "use 1 for models that take one input at a time")
        if batch > 4096:
            raise OptionError(f"--{slot}_batch_size {batch}: at most 4096; a batch that large does not "
                              "fit in memory, use e.g. 32")
    _at_least("model_copies", scan.model_copies, 1, "leave it out for one copy per process")
    _at_least("decode_threads", scan.decode_threads, 0, "0 decodes without threads; leave it out for the default")
    problem = slice_options_problem(scan)
    if problem:
        raise OptionError(problem)
    _at_least("max_image_pixels", scan.max_image_pixels, 1, "the default is 50000000")
    _at_least("max_image_bytes", scan.max_image_bytes, 1, "the default is 200000000")


def parse_class_filter(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise OptionError(f"--detector_class_filter {text!r}: not comma-separated integers; "
                          "give class ids such as 44 or 44,46") from None


def check_modified_after(text: str | None) -> None:
    import datetime

    from transforms.cutoff import parse_modified_after

    if text is not None:
        try:
            parse_modified_after(text, datetime.datetime.now(datetime.timezone.utc))
        except ValueError as e:
            raise OptionError(str(e)) from None


def check_scan_id(scan_id: str | None) -> None:
    from transforms.commit_log import check_scan_id as check

    if scan_id is not None:
        try:
            check(scan_id)
        except ValueError as e:
            raise OptionError(str(e)) from None


def check_output(output: str, options: PipelineOptions) -> None:
    """BigQuery: a valid table and a gs:// temp location. Parquet: a directory, not a file."""
    from transforms import write
    from transforms.bigquery_table import looks_like_bigquery, parse_table

    if looks_like_bigquery(output):
        try:
            parse_table(output)
        except ValueError as e:
            raise OptionError(str(e)) from None
        temp = options.view_as(GoogleCloudOptions).temp_location or ""
        if not temp.startswith("gs://"):
            raise OptionError(f"--output {output}: BigQuery loads files from Cloud Storage, but --temp_location "
                              f"is {temp or 'not set'}; add --temp_location=gs://BUCKET/tmp")
        return
    try:
        write.check_output(output)
    except ValueError as e:
        raise OptionError(str(e)) from None
    if "://" not in output and os.path.isfile(output):
        raise OptionError(f"--output {output} is a file; give a directory (it will hold summaries/ and "
                          "failures/) or bq://PROJECT.DATASET.TABLE")
    if "://" not in output:
        check_writable(output)


def check_writable(output: str) -> None:
    """A local output must take a file: a read-only or full disk would otherwise show only after the whole
    scan, as a long traceback from the writer. Creates and removes a probe, and any folders it needed."""
    missing = []  # outermost first
    folder = os.path.abspath(output)
    while not os.path.isdir(folder) and folder != os.path.dirname(folder):
        missing.insert(0, folder)
        folder = os.path.dirname(folder)
    created = []
    try:
        for new in missing:
            os.mkdir(new)
            created.append(new)
        probe = os.path.join(output, f".shelfscan-probe-{os.getpid()}")
        try:
            with open(probe, "wb") as f:
                f.write(b"\0" * 4096)
                f.flush()
                os.fsync(f.fileno())  # a full disk may refuse only once the block is allocated
        finally:
            if os.path.lexists(probe):
                os.remove(probe)
    except OSError as e:
        raise OptionError(f"--output {output} is not writable ({e.strerror or e}); free some space or choose "
                          "a folder you can write to") from None
    finally:
        for new in reversed(created):
            os.rmdir(new)


def submits_remotely(options: PipelineOptions) -> bool:
    """Dataflow jobs (and templates) run elsewhere: the launcher submits and returns."""
    return "Dataflow" in str(options.view_as(StandardOptions).runner or "")


def check_inputs(scan: ScanOptions, listing: bool = True) -> None:
    from pipeline import inputs

    try:
        inputs.check_inputs(inputs.scan_patterns(scan.input, scan.input_list), scan.input_list, listing)
    except inputs.InputError as e:
        raise OptionError(str(e)) from None


def check_crops_output(prefix: str | None) -> None:
    """Refuse a --crops_output whose crops.jsonl holds labels: the scan would write a new list over them."""
    if not prefix:
        return
    import json

    from apache_beam.io.filesystems import FileSystems

    index = FileSystems.join(prefix.rstrip("/"), "crops.jsonl")
    try:
        if not FileSystems.exists(index):
            return
        with FileSystems.open(index, compression_type="uncompressed") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError as e:
        raise OptionError(f"--crops_output {prefix}: cannot read its crops.jsonl ({e}); check your access") from e
    labeled = 0
    for line in lines:
        try:
            labeled += bool(json.loads(line).get("label"))
        except (ValueError, AttributeError):
            continue
    if labeled:
        raise OptionError(f"--crops_output {prefix} holds {index} with {labeled} labels, which this scan would "
                          "write over; train on them first or move them, and give this scan another folder")


def check_options(argv: list[str] | None, options: PipelineOptions) -> None:
    """Everything that can be known before models load, without scanning; raises OptionError."""
    if argv is not None:
        check_flags(argv)
    scan = options.view_as(ScanOptions)
    check_scan_id(scan.scan_id)
    check_ranges(scan)
    parse_class_filter(scan.detector_class_filter)
    check_modified_after(scan.modified_after)
    check_output(scan.output, options)
    check_crops_output(scan.crops_output)
    check_inputs(scan, listing=not submits_remotely(options))
