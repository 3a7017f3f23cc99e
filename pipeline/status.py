"""What a local scan says before its progress bar: a line within a second of the start, while Beam, the
checks and the models load (imports here are the standard library's only, so it can speak first)."""
from __future__ import annotations

import sys
from typing import TextIO


class Status:
    """One line on stderr naming the step under way. On a terminal it is rewritten in place and cleared
    before anything else is printed, so a one-line error stays one line; in a log, each lasting step is
    a line of its own and passing ones (`transient`) are not written at all."""

    def __init__(self, stream: TextIO | None = None):
        self._stream = stream or sys.stderr
        self._tty = hasattr(self._stream, "isatty") and self._stream.isatty()
        self._shown = False

    def say(self, text: str, transient: bool = False) -> None:
        if self._tty:
            self._stream.write(f"\r\033[Kshelfscan: {text}")
            self._shown = True
        elif not transient:
            self._stream.write(f"shelfscan: {text}\n")
        self._stream.flush()

    def clear(self) -> None:
        if self._shown:
            self._stream.write("\r\033[K")
            self._stream.flush()
            self._shown = False
