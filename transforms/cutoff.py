"""Incremental scans' time cut-off: --modified_after as epoch seconds, and whether a file is newer."""
from __future__ import annotations

import datetime
import re
from typing import Any

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_modified_after(text: str, now: datetime.datetime) -> float:
    """Epoch seconds for an ISO 8601 time ("2026-11-01T00:00:00Z") or an age before `now` ("26h", "7d").

    A scheduled job passes the same age every night, so it scans what arrived since the last run,
    with a margin for late uploads.
    """
    age = _AGE.match(text)
    if age:
        return now.timestamp() - float(age.group(1)) * _SECONDS[age.group(2)]
    try:
        when = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--modified_after {text!r}: expected ISO 8601 (2026-11-01T00:00:00Z) "
                         "or an age such as 26h or 7d") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()


def modified_after(metadata: Any, cutoff: float) -> bool:
    """True if the file changed after `cutoff`; files whose filesystem reports no time are kept.

    metadata: anything with last_updated_in_seconds (a FileEntry, Beam's FileMetadata)."""
    updated = getattr(metadata, "last_updated_in_seconds", None)
    return not updated or updated > cutoff
