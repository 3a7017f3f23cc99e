"""The pictures the labeling page shows, made by the server itself from the files a crops.jsonl names.

A crops.jsonl is shared between people, so its names are untrusted: a row may name ../../etc/passwd, a
symlink out of the folder or an .html page. So a name is resolved first (realpath: no ../ or symlink
leaves the allowed roots), then read and decoded through the scan's guarded reader, and what the page
gets is always a JPEG this module encoded from the decoded pixels, never the file's bytes. A picture
that cannot be made becomes a placeholder naming the reason, said once on the terminal.
"""
from __future__ import annotations

import collections
import io
import os
import sys
import textwrap
import threading
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from transforms.image_file import CloudError, DecodeError, Limits, load_image, local_path
from transforms.records import DecodedImage

CROP_SIDE = 400  # long side of a served crop or context crop: sharp at 200 CSS px on a 2x screen
PHOTO_SIDE = 1600  # long side of the whole photo, enough for a laptop screen
DECODE_SIDE = 2400  # photos are decoded at most this large: context crops keep detail, memory stays small
CONTEXT_MARGIN = 0.4  # shelf shown around a box, each way, as a share of the box's long side
PHOTOS_KEPT = 4  # decoded photos kept: the crops of one page mostly come from a few photos
OUTLINE = (255, 0, 170)  # magenta: visible on shelves, bottles and white paper alike
VIEWS = ("crop", "context", "photo")


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


def _box(record: dict) -> tuple[float, float, float, float] | None:
    box = record.get("box")
    if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)):
        return None
    x0, y0, x1, y1 = map(float, box)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def has_photo(record: dict) -> bool:
    """Whether a row names its source photo and the box in it (pipeline.run --crops_output rows do)."""
    return isinstance(record.get("image_uri"), str) and _box(record) is not None


def context_window(box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """The part of a width x height photo shown around `box`: the box plus CONTEXT_MARGIN, clipped."""
    x0, y0, x1, y1 = box
    margin = CONTEXT_MARGIN * max(x1 - x0, y1 - y0)
    return (max(0, int(x0 - margin)), max(0, int(y0 - margin)),
            min(width, int(np.ceil(x1 + margin))), min(height, int(np.ceil(y1 + margin))))


def _outlined(photo: DecodedImage, window: tuple[int, int, int, int], box, side: int) -> Image.Image:
    """`window` of the photo (original pixels) scaled to `side` at most, with `box` outlined."""
    sx, sy = photo.scale_x, photo.scale_y
    wx0, wy0, wx1, wy1 = window
    cut = photo.pixels[int(wy0 * sy):max(int(wy0 * sy) + 1, int(wy1 * sy)),
                       int(wx0 * sx):max(int(wx0 * sx) + 1, int(wx1 * sx))]
    image = _fit(Image.fromarray(np.ascontiguousarray(cut)), side)
    k = image.width / max(1, cut.shape[1])  # output pixels per decoded pixel
    x0, y0, x1, y1 = box
    rect = [(x0 - wx0) * sx * k, (y0 - wy0) * sy * k, (x1 - wx0) * sx * k - 1, (y1 - wy0) * sy * k - 1]
    ImageDraw.Draw(image).rectangle(rect, outline=OUTLINE, width=max(2, round(max(image.size) / 130)))
    return image


class CropImages:
    """Makes the pictures for the rows of one crops.jsonl at `base` (its folder), reading only inside
    `allow` (the folder itself is always allowed); `say` hears one line per picture that cannot be made."""

    def __init__(self, base: str, allow: Sequence[str] = (), say: Callable[[str], None] = say_on_stderr,
                 limits: Limits | None = None):
        self.base = base
        self.roots = normalize_roots([base, *allow])
        self.say, self.limits = say, limits or Limits()
        self._photos: collections.OrderedDict[str, DecodedImage] = collections.OrderedDict()
        self._photo_lock = threading.Lock()  # one photo decoded at a time: 48 cards must not decode 48 photos at once
        self._said: set[str] = set()
        self._said_lock = threading.Lock()

    def photo_allowed(self, record: dict) -> bool:
        """Whether the row's source photo may be read (checked by name only, nothing is read)."""
        if not has_photo(record):
            return False
        try:
            resolve(record["image_uri"], self.base, self.roots)
            return True
        except NotServed:
            return False

    def picture(self, position: int, record: dict, view: str) -> bytes:
        """A JPEG for the row at display `position`: the crop alone, with shelf around it, or the whole
        photo; a placeholder with the reason when it cannot be made. A context the photo cannot give
        falls back to the crop alone."""
        if view != "crop" and has_photo(record):
            try:
                return self._from_photo(record, view)
            except (NotServed, DecodeError, OSError, CloudError) as e:
                self._say_once(f"photo:{record['image_uri']}", f"crop {position}: the photo {record['image_uri']!r} "
                               f"is not shown ({e}); {self._hint(e)}")
        if view == "photo":
            return placeholder("the whole photo is not available")
        try:
            path = resolve(record["uri"], self.base, self.roots)
            crop = load_image(path, self.limits, max_side=CROP_SIDE)
        except (NotServed, DecodeError, OSError, CloudError) as e:
            self._say_once(f"crop:{position}", f"crop {position} ({record['uri']!r}) is not shown: {e}; "
                           f"{self._hint(e)}")
            return placeholder(str(e) if isinstance(e, NotServed) else getattr(e, "error_type", "unreadable"))
        return _jpeg(_fit(Image.fromarray(crop.pixels), CROP_SIDE))

    def _from_photo(self, record: dict, view: str) -> bytes:
        photo = self._photo(resolve(record["image_uri"], self.base, self.roots))
        box = _box(record)
        if view == "photo":
            return _jpeg(_outlined(photo, (0, 0, photo.width, photo.height), box, PHOTO_SIDE))
        return _jpeg(_outlined(photo, context_window(box, photo.width, photo.height), box, CROP_SIDE))

    def _photo(self, path: str) -> DecodedImage:
        with self._photo_lock:
            if path in self._photos:
                self._photos.move_to_end(path)
                return self._photos[path]
            photo = load_image(path, self.limits, max_side=DECODE_SIDE)
            self._photos[path] = photo
            if len(self._photos) > PHOTOS_KEPT:
                self._photos.popitem(last=False)
            return photo

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
