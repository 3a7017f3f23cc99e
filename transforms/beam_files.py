"""Files on any Beam filesystem (local, gs://, ...) for code outside a pipeline: the model loader,
training, the labeling page, local listing. Beam is imported only when one of these is used, never by
importing this module, so the commands that need no pipeline start without it; it is the one module
outside the stages that imports Beam (tests/test_import_direction.py).

`from transforms.beam_files import FileSystems` (inside the function that needs it) gives Beam's
FileSystems.
"""
from __future__ import annotations

import logging
import os
import re
import warnings
from typing import Any

_LOG = logging.getLogger(__name__)

_GLOB_CHARS = re.compile(r"([*?\[])")


def __getattr__(name: str) -> Any:
    if name == "FileSystems":
        from apache_beam.io.filesystems import FileSystems

        return FileSystems
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def read_text(uri: str) -> str:
    """A whole UTF-8 text file (a crops.jsonl, a list of labels) from any Beam filesystem."""
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(uri, compression_type="uncompressed") as f:
        return f.read().decode("utf-8")


def list_files(directory: str) -> list[Any]:
    """Every file under `directory` (recursively) as Beam's FileMetadata, the directory taken literally,
    never as a glob."""
    from apache_beam.io.filesystem import BeamIOError
    from apache_beam.io.filesystems import FileSystems

    directory = directory.rstrip("/\\")
    escaped = _GLOB_CHARS.sub(r"[\1]", directory)  # Beam's patterns have no escape; a class quotes
    try:
        with warnings.catch_warnings():  # "[[]" reads to re as a possible nested set; it is not one
            warnings.simplefilter("ignore", FutureWarning)
            found = FileSystems.match([FileSystems.join(escaped, "**")])[0].metadata_list
    except BeamIOError as e:
        if "://" in directory or os.path.exists(directory):
            raise
        _LOG.debug("nothing under %s: %s", directory, e)
        return []
    inside = (directory + "/", directory + os.sep)
    return [m for m in found if m.path.startswith(inside)]  # exact prefix, whatever the pattern did


def translate_pattern(pattern: str) -> str:
    """Beam's pattern language (`*`, `**`, `?`, `[...]`) as a regular expression, as Beam's match reads it."""
    from apache_beam.io.filesystem import FileSystem

    return FileSystem.translate_pattern(pattern)
