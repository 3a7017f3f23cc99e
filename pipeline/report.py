"""A scan's reports: the short table it ends with (read from the job's counters) and, as
`python -m pipeline.report OUTPUT --scan_id X`, the visual HTML report (pipeline.visual_report)."""
from __future__ import annotations

import dataclasses
import logging
import shlex

from apache_beam.metrics.metric import MetricsFilter

from transforms.bigquery_table import looks_like_bigquery
from transforms.classify import PRODUCT_NAMESPACE
from transforms.progress import FAILURE_NAMESPACE

_LOG = logging.getLogger("pipeline.report")


@dataclasses.dataclass(frozen=True)
class ScanReport:
    """What a finished scan prints: counts from the job's counters, times, where things are.

    wall_s: the whole run, from the command's start (imports and model loading count); pipeline_s: the
    Beam job alone.
    failure_types: "stage/error_type" -> inputs.
    failure_examples: "stage/error_type" -> one failure's "uri: message", for the most common types.
    products: (product, bottles) in the classifier's order; the table names each when there are several.
    """

    scan_id: str
    images: int
    bottles: int
    targets: int
    failures: int
    wall_s: float
    output: str
    pipeline_s: float = 0.0
    failure_types: dict = dataclasses.field(default_factory=dict)
    failure_examples: dict = dataclasses.field(default_factory=dict)
    report: str | None = None  # where the visual report is, or how to write it
    models: str = ""  # "detector X, classifier Y, segmenter Z"
    note: str | None = None  # what the user must know about these results
    next_steps: tuple[tuple[str, str], ...] = ()  # (row name, text): where crops went, the command to run next
    products: tuple[tuple[str, int], ...] = ()

    @property
    def images_per_s(self) -> float:
        """Images per second of the Beam job: the rate the progress line showed, model loading aside."""
        seconds = self.pipeline_s or self.wall_s
        return self.images / seconds if seconds > 0 else 0.0

    def table(self) -> str:
        common = common_failures(self.failure_types)
        kinds = ", ".join(f"{n} {kind}" for kind, n in common)
        rows = [
            ("scan_id", self.scan_id),
            ("images", f"{self.images} ({self.images - self.failures} summarized, {self.failures} failed)"),
            ("bottles", self.bottles),
            *self._targets(),
            ("failures", f"{self.failures}" + (f": {kinds}" if kinds else "")),
            *(("", f"{kind}, e.g. {_clip(self.failure_examples[kind])}") for kind, _ in common[:EXAMPLES]
              if kind in self.failure_examples),
            ("wall time", f"{self.wall_s:.1f} s, the whole command (the Beam job itself: {self.pipeline_s:.1f} s)"),
            ("throughput", f"{self.images_per_s:.2f} img/s while scanning, as the progress line counts"),
            ("output", self.output),
        ]
        if self.models:
            rows.insert(1, ("models", self.models))
        if self.note:
            rows.append(("note", self.note))
        if self.report:
            rows.append(("report", self.report))
        rows.extend(self.next_steps)
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)

    def _targets(self) -> list[tuple[str, object]]:
        """The targets row; with several products, one row more for each, with its share of the bottles."""
        if len(self.products) < 2:
            return [("targets", self.targets)]
        return [("targets", f"{self.targets} (bottles of any of the {len(self.products)} products)"),
                *(("", f"{name} {n} ({n / self.bottles:.0%} of the bottles)" if self.bottles else f"{name} {n}")
                  for name, n in self.products)]


EXAMPLES = 3  # failure types the closing table shows an example of


def common_failures(failure_types: dict[str, int]) -> list[tuple[str, int]]:
    """(type, count), most common first; ties by name, so the table reads the same each run."""
    return sorted(failure_types.items(), key=lambda kv: (-kv[1], kv[0]))


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def failure_examples(output: str, scan_id: str, kinds: list[str]) -> dict[str, str]:
    """One "uri: message" per wanted "stage/error_type", read from the scan's failures Parquet (Parquet
    output only), stopping once each has one: a look at the failures table without opening it."""
    from pipeline.visual_report.collect import parquet_files, read_rows

    wanted, found = set(kinds), {}
    for path in parquet_files(output, "failures", scan_id):
        for row in read_rows(path, columns=["image_uri", "stage", "error_type", "message"]):
            kind = f"{row['stage']}/{row['error_type']}"
            if kind in wanted and kind not in found:
                uri, message = row["image_uri"], row["message"]
                found[kind] = message if uri in message else f"{uri}: {message}"
                if len(found) == len(wanted):
                    return found
    return found


DEMO_CLASSIFIER_NOTE = ("the demo classifier knows only the synthetic demo brand 'micellar_rose', so "
                        "'targets' mean nothing on your photos; train yours with python -m models.train_classifier "
                        "(README: Your loop), then scan with --classifier DIR")


def next_steps(crops_output: str | None, output: str, input_root: str | None,
               demo_classifier: bool) -> tuple[tuple[str, str], ...]:
    """The closing table's last rows: where the crops went and how to label them, or, for a scan with the
    demo classifier, how to get crops to train your own."""
    allow = f" --allow {shlex.quote(input_root)}" if input_root else ""
    if crops_output:
        crops = f"{crops_output.rstrip('/')}/crops.jsonl"
        return (("crops", f"{crops}: every detected bottle, least certain first"),
                ("next", f"python -m models.label {shlex.quote(crops)}{allow}   (label them in the browser), then "
                         f"python -m models.train_classifier --data {shlex.quote(crops)} --out my_classifier"))
    if demo_classifier:
        crops = "crops" if looks_like_bigquery(output) else f"{output.rstrip('/')}/crops"
        return (("next", f"to train your own classifier, scan again with --crops_output {shlex.quote(crops)} "
                         "and label the crops it writes"),)
    return ()


def models_line(detector: str, classifier: str, segmenter: str) -> tuple[str, str | None]:
    """The closing table's models row, and the note a scan with the demo classifier must carry."""
    line = f"detector {detector}, classifier {classifier}, segmenter {segmenter}"
    return line, DEMO_CLASSIFIER_NOTE if classifier == "demo" else None


def _value(c) -> int:
    # committed is the truth where the runner reports it; DirectRunner reports attempted only
    return int((c.committed if c.committed is not None else c.attempted) or 0)


def counter(result, name: str) -> int:
    found = result.metrics().query(MetricsFilter().with_namespace("shelfscan").with_name(name))["counters"]
    return sum(_value(c) for c in found)


def _by_name(result, namespace: str) -> dict[str, int]:
    """Counter name -> value, for the counters a stage names as it goes (one per failure type, per product)."""
    out: dict[str, int] = {}
    for c in result.metrics().query(MetricsFilter().with_namespace(namespace))["counters"]:
        out[c.key.metric.name] = out.get(c.key.metric.name, 0) + _value(c)
    return out


def failure_types(result) -> dict[str, int]:
    return {k: v for k, v in _by_name(result, FAILURE_NAMESPACE).items() if v}


def scan_report(result, scan_id: str, output: str, wall_s: float, pipeline_s: float = 0.0,
                products: tuple[str, ...] = ()) -> ScanReport:
    """products: the classifier's, in its order; each gets its bottles (zero included) in the table."""
    summaries = counter(result, "summaries_written")
    failures = counter(result, "failures_written")
    bottles = _by_name(result, PRODUCT_NAMESPACE)
    return ScanReport(scan_id, summaries + failures, counter(result, "bottles_detected"),
                      counter(result, "targets"), failures, wall_s, output, pipeline_s, failure_types(result),
                      products=tuple((name, bottles.get(name, 0)) for name in products))


def with_failure_examples(report: ScanReport, output: str) -> ScanReport:
    """The report with an example of each of its most common failure types, from --output (Parquet only)."""
    kinds = [kind for kind, _ in common_failures(report.failure_types)[:EXAMPLES]]
    if not kinds or looks_like_bigquery(output):
        return report
    try:
        examples = failure_examples(output, report.scan_id, kinds)
    except (OSError, ValueError) as e:  # the counts still stand; the examples are a convenience
        _LOG.warning("no failure examples for the closing table: %s", e)
        return report
    return dataclasses.replace(report, failure_examples=examples)


def report_hint(output: str, scan_id: str) -> str | None:
    """What the closing table says about a report that was not asked for (None for BigQuery output)."""
    if looks_like_bigquery(output):
        return None
    return f"not written: python -m pipeline.report {output} --scan_id {scan_id} (or scan with --report)"


def write_visual_report(output: str, scan_id: str, compare: str | None = None) -> str | None:
    """The visual report of a finished scan, or None for BigQuery output (it reads Parquet files back).

    compare: an earlier scan_id of the same output, whose changes the report shows."""
    if looks_like_bigquery(output):
        _LOG.warning("--report reads Parquet output; for BigQuery, query the table instead")
        return None
    from pipeline.visual_report.page import write_report
    from pipeline.visual_report.scans import scans

    try:
        return write_report(output, scan_id, compare=compare, scans=scans(output))
    except FileNotFoundError as e:  # --compare names no scan: the scan itself is done and written
        return f"not written: {e}"


def choose_scan(output: str, scan_id: str | None) -> tuple[str, list]:
    """The scan to report (scan_id, or else the latest: the newest processed_at in its rows) and every
    scan of the output, newest first. Says on stdout which scan it took when it chose; FileNotFoundError
    when the output holds none."""
    from pipeline.visual_report.scans import scans

    found = scans(output)
    if scan_id is not None:
        return scan_id, found
    if not found:
        raise FileNotFoundError(f"no scans under {output}/summaries or {output}/failures; check OUTPUT "
                                "(the scan's --output)")
    when = [f"{s.scan_id} ({s.last_processed:%Y-%m-%d %H:%M} UTC)" if s.last_processed else s.scan_id for s in found]
    print(f"latest scan: {when[0]}" + (f"; the others, newest first: {', '.join(when[1:])}" if found[1:] else ""))
    return found[0].scan_id, found


def main(argv: list[str] | None = None) -> None:
    """`python -m pipeline.report OUTPUT [--scan_id X] [--compare Y]`: write the scan's visual report."""
    import argparse
    import sys

    p = argparse.ArgumentParser(
        prog="python -m pipeline.report", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Write one self-contained HTML report of a finished scan (headline numbers, a breakdown by "
                    "folder, a sortable and filterable table of images that opens each photo with its boxes, "
                    "failures by type, distributions) and the full per-image table as CSV beside it.")
    p.add_argument("output", help="The scan's --output: a Parquet directory prefix, local or gs://.")
    p.add_argument("--scan_id", default=None,
                   help="The scan to report (its scan_id=... folder). Default: the latest, the one whose rows "
                        "were processed last; the others are listed.")
    p.add_argument("--report_path", default=None,
                   help="Where to write the HTML. Default: OUTPUT/reports/SCAN_ID.html; the full per-image "
                        "table goes beside it as .csv.")
    p.add_argument("--compare", default=None, metavar="SCAN_ID",
                   help="An earlier scan of the same OUTPUT: show what changed (counts, areas, the images "
                        "whose targets or bottles differ).")
    args = p.parse_args(argv)
    from pipeline.visual_report.page import write_report
    from transforms.commit_log import check_scan_id

    for name in ("scan_id", "compare"):
        try:
            if getattr(args, name) is not None:
                check_scan_id(getattr(args, name))
        except ValueError as e:  # one line and usage's exit status, as for the scan itself
            print(f"pipeline.report: {str(e).replace('--scan_id', '--' + name, 1)}", file=sys.stderr)
            sys.exit(2)

    try:
        scan_id, scans = choose_scan(args.output, args.scan_id)
        where = write_report(args.output, scan_id, args.report_path, args.compare, scans)
    except FileNotFoundError as e:
        sys.exit(f"pipeline.report: {e}")
    print(f"report: {where}")


if __name__ == "__main__":
    main()
