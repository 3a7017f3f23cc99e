"""Gallery thumbnails: the scanned image, small, with its boxes drawn, as a JPEG data URI."""
from __future__ import annotations

import base64
import io

from transforms.image_file import CloudError, DecodeError, load_image
from transforms.records import DecodedImage

TARGET, OTHER = (255, 120, 0), (40, 110, 230)
MAX_SIDE = 360  # thumbnail's longer side
JPEG_QUALITY = 65


def draw(image: DecodedImage, detections: list[dict]):
    """A thumbnail with every box: targets orange, tagged M (mask area) or E (expected area), other
    bottles blue. Boxes are in the original upright image's pixels, which `image` may hold fewer of."""
    from PIL import Image, ImageDraw

    scale = min(1.0, MAX_SIDE / max(image.width, image.height))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    thumb = Image.fromarray(image.pixels).resize(size)
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
    try:  # the scan's own guarded reader: the photo may have been moved, swapped or damaged since
        image = load_image(row["image_uri"], max_side=MAX_SIDE)
    except (OSError, ValueError, CloudError) as e:  # DecodeError is a ValueError
        return None, str(e) if isinstance(e, DecodeError) else f"{type(e).__name__}: {e}"
    return data_uri(draw(image, row["detections"] or [])), None
