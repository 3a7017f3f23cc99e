"""The short table a scan ends with, read from the job's counters."""
from __future__ import annotations

import dataclasses

from apache_beam.metrics.metric import MetricsFilter


@dataclasses.dataclass(frozen=True)
class ScanReport:
    scan_id: str
    images: int
    bottles: int
    targets: int
    failures: int
    wall_s: float
    output: str

    @property
    def images_per_s(self) -> float:
        return self.images / self.wall_s if self.wall_s > 0 else 0.0

    def table(self) -> str:
        rows = [
            ("scan_id", self.scan_id),
            ("images", f"{self.images} ({self.images - self.failures} summarized, {self.failures} failed)"),
            ("bottles", self.bottles),
            ("targets", self.targets),
            ("failures", self.failures),
            ("wall time", f"{self.wall_s:.1f} s"),
            ("throughput", f"{self.images_per_s:.2f} img/s"),
            ("output", self.output),
        ]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def counter(result, name: str) -> int:
    found = result.metrics().query(MetricsFilter().with_namespace("shelfscan").with_name(name))["counters"]
    # committed is the truth where the runner reports it; DirectRunner reports attempted only
    return int(sum((c.committed if c.committed is not None else c.attempted) or 0 for c in found))


def scan_report(result, scan_id: str, output: str, wall_s: float) -> ScanReport:
    summaries = counter(result, "summaries_written")
    failures = counter(result, "failures_written")
    return ScanReport(scan_id, summaries + failures, counter(result, "bottles_detected"),
                      counter(result, "targets"), failures, wall_s, output)


def main(argv: list[str] | None = None) -> None:
    """`python -m pipeline.report OUTPUT --scan_id X`: write the scan's visual report."""
    import argparse
    import sys

    p = argparse.ArgumentParser(
        prog="python -m pipeline.report", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Write one self-contained HTML report of a finished scan: headline numbers, failures by "
                    "type, distributions, and a gallery of images with their boxes drawn.")
    p.add_argument("output", help="The scan's --output: a Parquet directory prefix, local or gs://.")
    p.add_argument("--scan_id", required=True, help="The scan to report (its scan_id=... folder).")
    p.add_argument("--report_path", default=None,
                   help="Where to write the HTML. Default: OUTPUT/reports/SCAN_ID.html.")
    args = p.parse_args(argv)
    from pipeline.visual_report.page import write_report

    try:
        where = write_report(args.output, args.scan_id, args.report_path)
    except FileNotFoundError as e:
        sys.exit(f"pipeline.report: {e}")
    print(f"report: {where}")


if __name__ == "__main__":
    main()
