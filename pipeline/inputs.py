"""Check the scan's inputs before any model loads, so a mistake costs about as long as --help.

An unknown scheme, gs:// without Google credentials, an --input_list that cannot be read, and inputs
that together match no file each stop the scan with one line. Only "matches anything?" is asked:
listing stops at a pattern's first file, so a large archive costs one listing page, and the Read stage
lists again during the scan. The scan stops only when every input matches nothing: when some match, an
empty pattern or a missing listed name becomes a not_found failure row, as a scan of several stores
should not stop because one of them sent nothing.
"""
from __future__ import annotations

import os
from typing import Sequence

from apache_beam.io.filesystem import BeamIOError, FileSystem
from apache_beam.io.filesystems import FileSystems

from pipeline.options import SAMPLES
from transforms.listing import has_wildcard, local_pattern, split_pattern, walk_pattern
from transforms.read import LIST_ERRORS, literal_entry, match_entries, read_input_list
from transforms.rows import input_root

# Listed names looked up before the check stops asking: past that many missing ones, the scan tells
# (a failure row each) rather than the check making a million lookups.
LISTED_LOOKUPS = 1000
CREDENTIALS_HINT = "run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"


class InputError(ValueError):
    """Inputs the scan refuses up front; the message is one line: what was looked for, what to try."""


def scan_patterns(inputs: Sequence[str] | None, input_list: str | None) -> tuple[str, ...]:
    """The patterns a scan lists: --input, or the bundled samples when neither input option is given."""
    return tuple(inputs or ([] if input_list else [str(SAMPLES / "images" / "*.jpg")]))


def input_roots(patterns: Sequence[str]) -> tuple[str, ...]:
    """The folder each pattern starts from, for the rows' `folder` column: a folder given as it is (the
    scan lists everything under it) is its own root; otherwise the folder before the first wildcard."""
    roots = []
    for pattern in patterns:
        if "://" in pattern:
            folder = not has_wildcard(pattern) and not FileSystems.exists(pattern)  # as listing takes it
        else:
            folder = local_pattern(pattern) != pattern
        roots.append(pattern.rstrip("/" + os.sep) if folder else input_root(pattern))
    return tuple(roots)


def known_schemes() -> list[str]:
    """The schemes Beam can list here (a filesystem registers only when its dependencies are installed)."""
    return sorted({fs.scheme() for fs in FileSystem.get_all_subclasses() if fs.scheme()})


def check_scheme(uri: str, what: str) -> str | None:
    """The URI's scheme (None for a local path); InputError when no Beam filesystem knows it."""
    scheme = FileSystems.get_scheme(uri)
    if scheme is not None and scheme not in known_schemes():
        known = ", ".join(f"{s}://" for s in known_schemes())
        raise InputError(f"{what} {uri}: unknown scheme {scheme}://; known here: {known} and local paths")
    return scheme


def check_credentials(uri: str) -> None:
    """Without credentials Beam retries for about 25 s, then lists anonymously and fails per file."""
    try:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError
    except ImportError:  # apache-beam without [gcp]: Beam's own error names the extra to install
        return
    try:
        google.auth.default()
    except DefaultCredentialsError as e:
        named = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        cause = f"GOOGLE_APPLICATION_CREDENTIALS: {_one_line(e)}" if named else CREDENTIALS_HINT
        raise InputError(f"cannot list {uri}: no Google credentials ({cause})") from None


def _one_line(error: BaseException, limit: int = 300) -> str:
    """The innermost cause of a (nested) Beam error, on one line."""
    while isinstance(error, BeamIOError) and error.exception_details:
        error = next(iter(error.exception_details.values()))
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _local_hint(pattern: str) -> str:
    """Why a local pattern matched no file, with what to try; judged from a listing or two, never a new walk."""
    listed = local_pattern(pattern)
    if not has_wildcard(listed):
        return f"no file or folder is named {pattern}; check the path"
    if listed != pattern:
        return f"no files under the folder {pattern}: it holds none, at any depth"
    root, parts = split_pattern(listed)
    if not os.path.isdir(root or os.curdir):
        return f"no files match {pattern}: the folder {root} does not exist; check the path"
    if not any("**" in part for part in parts):  # else that listing was a walk: not again for a hint
        folders = sum(1 for path in walk_pattern(listed) if os.path.isdir(path))
        if folders:
            better = pattern[:-1] + "**" if parts[-1] == "*" else pattern.rstrip(os.sep) + os.sep + "**"
            return f"no files match {pattern}: it matches {_count(folders, 'folder')}; did you mean '{better}'?"
    if len(parts) == 1:
        below = sum(1 for path in walk_pattern(os.path.join(root, "*")) if os.path.isdir(path))
        if below:
            better = os.path.join(root, "**", parts[0])
            return (f"no files match {pattern}: {root or os.curdir} has {_count(below, 'subfolder')} that '*' "
                    f"does not look into; to look there too: '{better}'")
    return f"no files match {pattern}; check the path and the pattern ('*' stays in one folder, '**' looks below)"


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" + ("" if n == 1 else "s")


def why_empty(pattern: str) -> str | None:
    """None when the pattern matches a file; else why not, in one clause."""
    try:
        if match_entries(pattern, limit=1):
            return None
    except LIST_ERRORS as e:
        return f"cannot list {pattern} ({_one_line(e)}); check it exists and your list access"
    if "://" in pattern:
        return (f"no files match {pattern}; check the bucket and the path ('*' stays in one folder, '**' "
                "looks below)")
    return _local_hint(pattern)


def _exists(uri: str) -> bool:
    try:
        return bool(literal_entry(uri))
    except LIST_ERRORS:  # the scan says why, as a failure row
        return False


def _listed(input_list: str) -> list[str]:
    try:
        return read_input_list(input_list)
    except OSError as e:
        raise InputError(str(e)) from None


def _check_schemes(uris: Sequence[str], what: str) -> None:
    """Refuse an unknown scheme among the URIs; gs:// needs credentials. One check per scheme."""
    first = {}
    for uri in uris:
        first.setdefault(FileSystems.get_scheme(uri), uri)
    for uri in first.values():
        check_scheme(uri, what)
    if "gs" in first:
        check_credentials(first["gs"])


def check_inputs(patterns: Sequence[str], input_list: str | None, listing: bool = True) -> None:
    """Raise InputError when the scan cannot start from these inputs (see the module's docstring).

    listing: False checks the schemes alone, for a job that lists its inputs elsewhere: a Dataflow job
    or template lists them on its workers, with their credentials, maybe months later.
    """
    if not listing:
        for uri in [*patterns, *([input_list] if input_list else [])]:
            check_scheme(uri, "--input_list" if uri == input_list else "--input")
        return
    _check_schemes(patterns, "--input")
    _check_schemes([input_list] if input_list else [], "--input_list")
    listed = _listed(input_list) if input_list else []
    _check_schemes(listed, f"--input_list {input_list} names")
    reasons = []
    for pattern in patterns:
        reason = why_empty(pattern)
        if reason is None:
            return
        reasons.append(reason)
    if any(_exists(uri) for uri in listed[:LISTED_LOOKUPS]) or len(listed) > LISTED_LOOKUPS:
        return
    if input_list:
        reasons.append(f"none of the {len(listed)} names in --input_list {input_list} exists (the first: "
                       f"{listed[0]})" if listed else f"--input_list {input_list} names no files")
    raise InputError(" | ".join(reasons))  # each reason is a sentence of its own
