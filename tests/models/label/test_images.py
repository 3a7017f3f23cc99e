"""The shelf around a crop and the whole photo, cut by the server from the row's source photo and box."""
import io
import json

import numpy as np
from PIL import Image

from models.label.images import OUTLINE, context_window
from models.label.server import serve_in_background
from models.label.store import LabelStore
from tests.models.label.client import call, page_token


def test_context_window_adds_shelf_and_stays_in_the_photo():
    assert context_window((100, 100, 120, 150), 1000, 1000) == (80, 80, 140, 170)  # 0.4 x 50 each way
    assert context_window((0, 10, 30, 60), 40, 65) == (0, 0, 40, 65)


def _scan_output(tmp_path):
    """A crops.jsonl as pipeline.run --crops_output writes it, its photo in another folder."""
    photos, crops = tmp_path / "photos", tmp_path / "out" / "crops"
    photos.mkdir()
    crops.mkdir(parents=True)
    photo = np.full((100, 200, 3), 40, np.uint8)
    photo[20:80, 80:120] = 230  # the bottle
    Image.fromarray(photo).save(photos / "shelf.png")
    Image.fromarray(photo[20:80, 80:120]).save(crops / "c0.jpg")
    row = {"uri": "crops/c0.jpg", "label": "", "group": str(photos / "shelf.png"),
           "image_uri": str(photos / "shelf.png"), "box": [80, 20, 120, 80], "target_score": 0.7, "threshold": 0.6,
           "predicted": "target"}
    (tmp_path / "out" / "crops.jsonl").write_text(json.dumps(row) + "\n")
    return tmp_path / "out" / "crops.jsonl", photos


def _pictures(path, allow):
    said = []
    server, url = serve_in_background(LabelStore(str(path)), allow=allow, say=said.append)
    try:
        token = {"X-Shelfscan-Token": page_token(url)}
        crops = json.loads(call(url, "GET", "/api/crops?positions=0", headers=token)[2])
        pictures = [Image.open(io.BytesIO(call(url, "GET", f"/crop/0.jpg?view={view}")[2]))
                    for view in ("crop", "context", "context", "photo")]
    finally:
        server.shutdown()
        server.server_close()
    return crops["crops"][0]["photo"], pictures, said


def _has_outline(image):
    pixels = np.asarray(image.convert("RGB")).astype(int)
    return bool((np.abs(pixels - OUTLINE).sum(axis=-1) < 90).any())


def test_with_the_photos_allowed_a_card_shows_the_shelf_and_the_whole_photo(tmp_path):
    path, photos = _scan_output(tmp_path)
    photo, (crop, context, _, whole), said = _pictures(path, [str(photos)])
    assert photo and said == []
    assert crop.size == (40, 60) and not _has_outline(crop)
    assert context.size == (40 + 2 * 24, 100) and _has_outline(context)  # 24 px of shelf, clipped to the photo
    assert whole.size == (200, 100) and _has_outline(whole)


def test_photos_outside_the_allowed_folders_leave_the_crop_alone(tmp_path):
    path, _ = _scan_output(tmp_path)
    photo, (crop, context, _, whole), said = _pictures(path, [])
    assert not photo
    assert crop.size == context.size == (40, 60) and not _has_outline(context)
    assert whole.size == (200, 200) and not _has_outline(whole)  # the placeholder
    assert len(said) == 1 and "outside the allowed folders" in said[0] and "--allow" in said[0]
