"""Gallery thumbnails: the scanned image, small, with its boxes drawn, as a JPEG data URI."""
from __future__ import annotations

import base64
import io

TARGET, OTHER = (255, 120, 0), (40, 110, 230)
MAX_SIDE = 360  # thumbnail's longer side
JPEG_QUALITY = 65


def read_upright(uri: str):
    """The image at `uri` (any Beam filesystem) as PIL RGB after EXIF orientation, like the scan saw it."""
    from apache_beam.io.filesystems import FileSystems
    from PIL import Image, ImageOps

    with FileSystems.open(uri, compression_type="uncompressed") as f:
        data = f.read()
    with Image.open(io.BytesIO(data)) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


def draw(image, detections: list[dict]):
    """A thumbnail with every box: targets orange, tagged M (mask area) or E (expected area), other
    bottles blue. Boxes are in the original upright image's pixels."""
    from PIL import ImageDraw

    scale = min(1.0, MAX_SIDE / max(image.size))
    thumb = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    pen = ImageDraw.Draw(thumb)
    for d in sorted(detections, key=lambda d: d["is_target"]):  # targets on top
        x0, y0, x1, y1 = (v * scale for v in d["box"])
        colour = TARGET if d["is_target"] else OTHER
        pen.rectangle([x0, y0, x1 - 1, y1 - 1], outline=colour, width=2)
        if d["is_target"]:
            tag = "E" if d.get("area_source") == "expected" else "M"
            pen.rectangle([x0, y0, x0 + 10, y0 + 11], fill=colour)
            pen.text((x0 + 2, y0), tag, fill=(255, 255, 255))
    return thumb


def data_uri(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def thumbnail(row: dict) -> tuple[str | None, str | None]:
    """(data URI, None), or (None, why) when the image cannot be read any more."""
    try:
        return data_uri(draw(read_upright(row["image_uri"]), row["detections"] or [])), None
    except (OSError, ValueError) as e:  # moved or deleted since the scan
        return None, f"{type(e).__name__}: {e}"
