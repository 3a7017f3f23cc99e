"""Photos embedded in the report: the scanned image, scaled down, as a JPEG data URI.

Boxes and outlines are not burned in: the page draws them over the photo (SVG), so a photo that is not
embedded can still be shown, with its boxes, from its own link when the browser can reach it.
"""
from __future__ import annotations

import base64
import io

from transforms.image_file import CloudError, DecodeError, load_image

LARGE_SIDE = 1600  # the first photos, to look at closely
SMALL_SIDE = 640  # the rest, once the large ones are spent
JPEG_QUALITY = 70


def data_uri(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def photo(uri: str, max_side: int) -> tuple[str | None, str | None]:
    """(data URI, None), or (None, why) when the image cannot be read any more."""
    from PIL import Image

    try:  # the scan's own guarded reader: the photo may have been moved, swapped or damaged since
        image = load_image(uri, max_side=max_side)
    except (OSError, ValueError, CloudError) as e:  # DecodeError is a ValueError
        return None, str(e) if isinstance(e, DecodeError) else f"{type(e).__name__}: {e}"
    picture = Image.fromarray(image.pixels)
    scale = min(1.0, max_side / max(picture.size))  # load_image may decode more pixels than asked for
    if scale < 1.0:
        picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))))
    return data_uri(picture), None
