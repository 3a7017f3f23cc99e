"""Local listing in Beam's pattern language, walking only as deep as a pattern asks.

Beam's local match walks the whole tree under a pattern's literal prefix and filters every name with
FileSystem.translate_pattern, so `/usr/*.jpg` reads all of /usr. Here each pattern part without `**` is
one directory level (listed, never descended into further), and only a part holding `**` walks the
subtree below it. `*`, `?` and `[...]` stay within one name (Beam lets `?` and `[...]` match a `/`);
a folder stands for everything under it (`DIR` and `DIR/` mean `DIR/**`). Beam is loaded only for the
pattern translation (transforms.beam_files), when listing; the launcher's up-front check and the Read
stage list alike.
"""
from __future__ import annotations

import os
import re
from typing import Iterator

from transforms.beam_files import translate_pattern

_WILDCARD = re.compile(r"[*?[]")


def has_wildcard(pattern: str) -> bool:
    return bool(_WILDCARD.search(pattern))


def folder_pattern(folder: str) -> str:
    """The pattern a folder stands for: every file under it, at any depth."""
    sep = "/" if "://" in folder else os.sep
    return folder.rstrip(sep) + sep + "**"


def local_pattern(pattern: str) -> str:
    """The pattern to list for a local --input: a folder (or a path ending in /) means everything under it."""
    if pattern.endswith(os.sep) or (not has_wildcard(pattern) and os.path.isdir(pattern)):
        return folder_pattern(pattern)
    return pattern


def split_pattern(pattern: str) -> tuple[str, list[str]]:
    """(the folder before the first wildcard part, the parts from there on)."""
    parts = pattern.split(os.sep)
    first = next(i for i, part in enumerate(parts) if has_wildcard(part))
    root = os.sep.join(parts[:first])
    return (root if root or not pattern.startswith(os.sep) else os.sep), parts[first:]


def _names(folder: str) -> list[os.DirEntry]:
    """A folder's entries; one that cannot be listed (gone, unreadable, not a folder) has none, as in os.walk."""
    try:
        with os.scandir(folder or os.curdir) as entries:
            return list(entries)
    except OSError:
        return []


def _subtree(folder: str) -> Iterator[str]:
    """Every path below folder, folders included; symbolic links to folders are not followed (os.walk)."""
    for parent, dirs, files in os.walk(folder or os.curdir):
        parent = os.path.relpath(parent) if not folder else parent
        for name in dirs + files:
            yield os.path.join(parent, name) if parent != os.curdir else name


def walk_pattern(pattern: str) -> Iterator[str]:
    """Local paths (files, folders, anything) matching a pattern with a wildcard, in listing order.

    One os.scandir per folder that a part without `**` can reach: `DIR/*.jpg` lists DIR alone, and
    `DIR/*/*.jpg` DIR and its subfolders. A folder link is followed where a part names it, as glob does.
    """
    full = re.compile(translate_pattern(pattern))
    root, parts = split_pattern(pattern)
    folders = [root]
    for depth, part in enumerate(parts):
        if "**" in part:  # from here on a match may be at any depth
            for folder in folders:
                yield from (path for path in _subtree(folder) if full.match(path))
            return
        one = re.compile(translate_pattern(part))
        last = depth == len(parts) - 1
        below = []
        for folder in folders:
            for entry in _names(folder):
                if not one.match(entry.name):
                    continue
                path = os.path.join(folder, entry.name)
                if last:
                    yield path
                elif entry.is_dir():
                    below.append(path)
        folders = below
