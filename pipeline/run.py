"""Entry point: `python -m pipeline.run [scan options] [Beam options]` (see --help).

The scan itself is pipeline.scan's; this module speaks first (pipeline.status), before Beam and
TensorFlow load, then checks the options and inputs, loads the models and runs the scan.
"""
from __future__ import annotations

import sys
import time
from typing import Any

from pipeline.status import Status


def main() -> None:
    if {"-h", "--help"} & set(sys.argv[1:]):
        from pipeline.scan import print_help

        print_help()
        return
    status = Status()
    status.say("checking options and inputs ...", transient=True)
    from pipeline.progress import process_age_s

    started = time.monotonic() - process_age_s()
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline import logs
    from pipeline.options import ScanOptions
    from pipeline.scan import failure_verdict, run
    from pipeline.validate import OptionError, check_options

    argv = sys.argv[1:]
    verbose = any(a in ("--verbose", "--verbose=true") for a in argv)
    logs.configure_logging(verbose)
    try:  # before TensorFlow is even imported, so a mistake costs about what --help does
        check_options(argv, PipelineOptions(argv))
    except OptionError as e:  # before any work: one line, as argparse would
        _refuse(status, e)
    scan = PipelineOptions(argv).view_as(ScanOptions)
    status.say(f"loading models (detector {scan.detector}, classifier {scan.classifier}, segmenter "
               f"{scan.segmenter}) ...")
    logs.configure(verbose)
    from models.slots import ModelLoadError

    try:
        report = run(argv, started=started, checked=True, status=status)
    except OptionError as e:
        _refuse(status, e)
    except ModelLoadError as e:  # before any image is read: say why, without a traceback
        status.clear()
        sys.exit(f"shelfscan: {e}")
    except Exception as e:  # another run committing this scan: the runner wraps the refusal; say it plainly
        line = lease_refusal(e)
        if line is None:
            raise
        sys.exit(f"shelfscan: {line}")
    if report is not None:
        print(report.table())
        verdict = failure_verdict(report, scan.max_failure_rate)
        if verdict:
            print(f"status  FAILED: {verdict}")
            sys.exit(1)


def lease_refusal(error: BaseException) -> str | None:
    """The one line of a LeaseBusy or LeaseLost inside whatever the runner wrapped it in, else None."""
    from transforms.scan_lease import LeaseBusy, LeaseLost

    seen = error
    while seen is not None:
        if isinstance(seen, (LeaseBusy, LeaseLost)):
            return str(seen).splitlines()[0]
        seen = seen.__cause__ or seen.__context__
    for name in ("LeaseBusy: ", "LeaseLost: "):
        if name in str(error):
            return str(error).split(name, 1)[1].splitlines()[0]
    return None


def _refuse(status: Status, error: Exception) -> None:
    status.clear()
    print(f"shelfscan: {error}", file=sys.stderr)
    sys.exit(2)


def __getattr__(name: str) -> Any:
    """`from pipeline.run import run` (and scan_config, ...) as before: they live in pipeline.scan, which
    is imported only when asked for, so `python -m pipeline.run` can speak before Beam loads."""
    from pipeline import scan

    try:
        return getattr(scan, name)
    except AttributeError:
        raise AttributeError(f"module 'pipeline.run' has no attribute {name!r}") from None


if __name__ == "__main__":
    main()
