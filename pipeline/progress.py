"""The one updating line a local scan shows on stderr: images done of matched, img/s, ETA.

"Done" is past detection (or failed): the slow part of a scan. Summary rows would be the natural
count, but they are made only once every image is grouped with its bottles, at the very end.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time

from transforms.progress import read_board

BAR_FORMAT = "scanning {n_fmt}/{total_fmt} images |{bar:20}| {rate_noinv_fmt} ETA {remaining}{postfix}"
WAITING_FORMAT = "scanning {n_fmt} images, still listing inputs{postfix} [{elapsed}]"


class ProgressLine:
    """Context manager: makes the board directory the counting DoFns write to and draws the line from it
    on a thread until the scan ends. `board` is None when disabled (nothing is drawn or created)."""

    def __init__(self, enabled: bool = True, stream=None):
        self._stream = stream or sys.stderr
        self.board = tempfile.mkdtemp(prefix="shelfscan-progress-") if enabled else None
        self._stop = threading.Event()
        self._bar = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ProgressLine:
        if self.board:
            from tqdm import tqdm

            tty = hasattr(self._stream, "isatty") and self._stream.isatty()
            self._interval = 0.5 if tty else 10.0  # a log file gets a line every 10 s, not a flood
            # smoothing=0: the rate is images over the time since the job started, as the closing table has it
            self._bar = tqdm(total=None, unit=" img", file=self._stream, bar_format=WAITING_FORMAT,
                             mininterval=0, dynamic_ncols=True, leave=True, delay=0, smoothing=0)
            self._thread = threading.Thread(target=self._loop, name="shelfscan-progress", daemon=True)
            self._thread.start()
        return self

    def job_started(self) -> None:
        """The rate counts from here: what came before (models, graph) is the closing table's wall time."""
        if self._bar is not None:
            self._bar.start_t = self._bar.last_print_t = time.time()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.update()

    def update(self) -> dict:
        """Redraw from the board; returns the counts it drew."""
        counts = read_board(self.board)
        done = counts["detected"]  # summary rows only appear at the very end (see transforms.progress)
        if "listed" in counts and self._bar.total is None:  # the total is fixed before any ETA shows
            self._bar.total = max(counts["listed"], done)
            self._bar.bar_format = BAR_FORMAT
        postfix = f"{counts['failures']} failed" if counts["failures"] else ""
        self._bar.set_postfix_str(postfix, refresh=False)
        self._bar.update(done - self._bar.n)
        self._bar.refresh()
        return dict(counts)

    def __exit__(self, *exc) -> None:
        if not self.board:
            return
        self._stop.set()
        self._thread.join()
        self.update()
        self._bar.close()
        shutil.rmtree(self.board, ignore_errors=True)


def process_age_s() -> float:
    """Seconds since this process started (Linux); 0 where /proc is not there."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return max(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 0.0)
