"""The pictures the labeling page shows, made by the server itself from the files a crops.jsonl names.

A crops.jsonl is shared between people, so its names are untrusted: a row may name ../../etc/passwd, a
symlink out of the folder or an .html page. So a name is resolved first (realpath: no ../ or symlink
leaves the allowed roots), then read and decoded through the scan's guarded reader, and what the page
gets is always a JPEG this module encoded from the decoded pixels, never the file's bytes. A picture
that cannot be made becomes a placeholder naming the reason, said once on the terminal.
"""
from __future__ import annotations

import io
import os
import sys
import textwrap
import threading
from typing import Callable, Sequence

from PIL import Image, ImageDraw, ImageFont

from transforms.image_file import CloudError, DecodeError, Limits, load_image, local_path

CROP_SIDE = 400  # long side of a served crop: sharp at 200 CSS px on a 2x screen


class NotServed(Exception):
    """A name the server will not read; the message says why, in a few words."""


def say_on_stderr(line: str) -> None:
    print(f"models.label: {line}", file=sys.stderr, flush=True)


def _is_remote(uri: str) -> bool:
    return "://" in uri


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def normalize_roots(roots: Sequence[str]) -> tuple[str, ...]:
    """Allowed folders as they are compared: local ones resolved (realpath), remote prefixes ending in /."""
    return tuple(r.rstrip("/") + "/" if _is_remote(r) else os.path.realpath(local_path(r)) for r in roots)


def resolve(uri: str, base: str, roots: Sequence[str]) -> str:
    """Where to read `uri` (relative to the list's folder `base`), if it lies inside `roots` (normalized).

    Raises NotServed otherwise. Local names are resolved before the check, so ../ and symlinks are judged
    by where they lead; remote names may not contain a .. segment at all."""
    uri = local_path(uri)
    if not _is_remote(uri) and _is_remote(base) and not uri.startswith("/"):
        uri = f"{base.rstrip('/')}/{uri}"
    if _is_remote(uri):
        if ".." in uri.split("://", 1)[1].split("/"):
            raise NotServed("its name contains '..'")
        if not any(r.endswith("/") and uri.startswith(r) for r in roots):
            raise NotServed("outside the allowed folders")
        return uri
    path = os.path.realpath(os.path.join(base, uri))
    if not any(not _is_remote(r) and _inside(path, r) for r in roots):
        raise NotServed("outside the allowed folders")
    return path


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


def _fit(image: Image.Image, side: int) -> Image.Image:
    scale = side / max(image.size)
    if scale >= 1:
        return image
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS)


def placeholder(reason: str, side: int = 200) -> bytes:
    """A grey JPEG that says in words why the picture is not shown."""
    image = Image.new("RGB", (side, side), (225, 225, 225))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=15)
    text = "\n".join(textwrap.wrap(f"not shown: {reason}", 22))
    draw.multiline_text((12, 12), text, fill=(90, 90, 90), font=font, spacing=4)
    return _jpeg(image)


class CropImages:
    """Makes the pictures for the rows of one crops.jsonl at `base` (its folder), reading only inside
    `allow` (the folder itself is always allowed); `say` hears one line per picture that cannot be made."""

    def __init__(self, base: str, allow: Sequence[str] = (), say: Callable[[str], None] = say_on_stderr,
                 limits: Limits = Limits()):
        self.base = base
        self.roots = normalize_roots([base, *allow])
        self.say, self.limits = say, limits
        self._said: set[str] = set()
        self._said_lock = threading.Lock()

    def picture(self, position: int, record: dict) -> bytes:
        """A JPEG of the crop at display `position`, or a placeholder with the reason it cannot be made."""
        try:
            path = resolve(record["uri"], self.base, self.roots)
            crop = load_image(path, self.limits, max_side=CROP_SIDE)
        except (NotServed, DecodeError, OSError, CloudError) as e:
            self._say_once(f"crop:{position}", f"crop {position} ({record['uri']!r}) is not shown: {e}; "
                           f"{self._hint(e)}")
            return placeholder(str(e) if isinstance(e, NotServed) else getattr(e, "error_type", "unreadable"))
        return _jpeg(_fit(Image.fromarray(crop.pixels), CROP_SIDE))

    def _hint(self, error: Exception) -> str:
        if isinstance(error, NotServed):
            return "pass --allow FOLDER (or gs://PREFIX) to show pictures from there"
        return "the page shows a placeholder"

    def _say_once(self, key: str, line: str) -> None:
        with self._said_lock:
            if key in self._said:
                return
            self._said.add(key)
        self.say(line)
