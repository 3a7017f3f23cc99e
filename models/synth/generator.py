"""Synthetic retail-shelf photos with exact ground truth: boxes, visible areas, instance masks.

`python -m models.synth` writes them (models/synth/cli.py). The bottles (a target brand, its decoys,
ordinary shelf neighbours) are in models/synth/bottles.py; how crops are labeled (by target or by brand)
in models/synth/products.py. Scene i of seed S is drawn from its own generator, seeded (S, i), so the
same seed gives byte-identical files.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from models.synth.bottles import BRANDS, Brand, render_bottle
from models.synth.products import BY_TARGET, Labeling

MIN_VISIBLE_SHARE = 0.35  # a bottle hidden more than this by others is not placed
CROP_MIN_VISIBLE_SHARE = 0.5
CROP_MARGIN = 0.05

# ---------------------------------------------------------------- backgrounds

def shelf_background(width: int, height: int, rng: np.random.Generator) -> tuple[Image.Image, list[int]]:
    """Wall or texture, plus 1-3 shelf boards; returns the image and the shelf-top y of each row."""
    small_w, small_h = max(8, width // 4), max(8, height // 4)
    ys, xs = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    kind = rng.integers(0, 4)
    base = rng.uniform(60, 235, 3)
    if kind == 0:  # painted wall with a soft gradient
        field = 1 + 0.25 * (ys / small_h - 0.5) * rng.uniform(-1, 1)
        img = base[None, None] * field[..., None]
    elif kind == 1:  # wood grain
        grain = np.sin(ys * rng.uniform(0.3, 0.9) + 4 * np.sin(xs * rng.uniform(0.01, 0.05))) * 0.12
        img = np.array([150, 105, 65]) * rng.uniform(0.6, 1.2) * (1 + grain)[..., None]
    elif kind == 2:  # brushed metal
        streaks = rng.normal(0, 1, (1, small_w)).repeat(small_h, 0) * 0.06
        img = np.full(3, rng.uniform(140, 210)) * (1 + streaks)[..., None] + rng.normal(0, 3, (small_h, small_w, 1))
    else:  # blotchy texture
        noise = rng.normal(0, 1, (small_h // 8 + 2, small_w // 8 + 2))
        blotch = np.asarray(Image.fromarray(noise.astype(np.float32)).resize((small_w, small_h), Image.BICUBIC))
        img = base[None, None] * (1 + 0.12 * blotch)[..., None]
    image = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).resize((width, height), Image.BILINEAR)

    draw = ImageDraw.Draw(image)
    rows = int(rng.integers(1, 4))
    board = tuple(int(v) for v in rng.uniform(40, 230, 3))
    thickness = max(3, int(height * rng.uniform(0.02, 0.045)))
    tops = []
    for r in range(rows):
        top = int(height * (r + 1) / rows * rng.uniform(0.9, 0.97))
        top = min(top, height - thickness)
        draw.rectangle([0, top, width, top + thickness], fill=board)
        tag_h = max(2, thickness // 2)
        for x in range(int(rng.uniform(0, 60)), width, max(30, int(width * rng.uniform(0.1, 0.2)))):
            draw.rectangle([x, top + 1, x + max(6, width // 25), top + tag_h], fill=(250, 250, 240))
        tops.append(top)
    return image, tops


# ---------------------------------------------------------------- scenes

def _image_size(rng: np.random.Generator, max_side: int) -> tuple[int, int]:
    long_side = int(rng.choice([rng.uniform(320, 1200), rng.uniform(1200, 2400), rng.uniform(2400, 4000)],
                               p=[0.72, 0.22, 0.06]))
    long_side = min(long_side, max_side)
    ratio = rng.choice([0.75, 0.5625, 0.8, 1.0])
    short = max(240, int(long_side * ratio))
    return (long_side, short) if rng.random() < 0.6 else (short, long_side)


def _pick_brand(rng: np.random.Generator) -> Brand:
    weights = np.array([b.weight for b in BRANDS])
    return BRANDS[int(rng.choice(len(BRANDS), p=weights / weights.sum()))]


def scene(seed: int, index: int, max_side: int = 4000,
          size: tuple[int, int] | None = None) -> tuple[Image.Image, np.ndarray, list[dict]]:
    """Render scene `index` of `seed`: (RGB image, instance map, truth bottles); `size` (width, height)
    fixes the image size, else it is drawn at most `max_side` on its long side."""
    rng = np.random.default_rng([seed, index])
    width, height = _image_size(rng, max_side)  # drawn even when fixed: the rest of the scene draws alike
    if size is not None:
        width, height = size
    image, shelf_tops = shelf_background(width, height, rng)
    instances = np.zeros((height, width), np.uint8)
    wanted = 0 if rng.random() < 0.08 else int(rng.integers(1, 21))
    per_row = max(1, int(np.ceil(wanted / len(shelf_tops))))
    bottles: list[dict] = []
    full_areas: list[int] = []
    visible: list[int] = []
    for row, top in enumerate(shelf_tops):
        row_top = shelf_tops[row - 1] if row else 0
        space = top - row_top
        for _ in range(per_row):
            if len(bottles) >= wanted:
                break
            brand = _pick_brand(rng)
            bottle_h = int(space * rng.uniform(0.45, 0.9))
            if bottle_h < 24:
                continue
            sprite = render_bottle(brand, bottle_h, rng)
            alpha = np.asarray(sprite.getchannel("A")) > 127
            for _attempt in range(6):
                x = int(rng.integers(-sprite.width // 6, max(1, width - sprite.width * 5 // 6)))
                y = top - sprite.height + int(rng.integers(0, max(1, sprite.height // 12)))
                placed = _place(instances, alpha, x, y, len(bottles) + 1, visible, full_areas)
                if placed is not None:
                    break
            else:
                continue
            image.paste(sprite, (x, y), sprite)
            bottles.append({"brand": brand.name, "is_target": brand.is_target})
            full_areas.append(placed)
    image, instances = photo_effects(image, instances, rng)
    return image, instances, _truth(instances, bottles, full_areas)


def _place(instances: np.ndarray, alpha: np.ndarray, x: int, y: int, k: int,
           visible: list[int], full_areas: list[int]) -> int | None:
    """Draw bottle k's pixels into the instance map unless that hides an earlier bottle too much.

    Returns the bottle's silhouette area (or None when the spot is rejected).
    """
    height, width = instances.shape
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + alpha.shape[1], width), min(y + alpha.shape[0], height)
    if x1 <= x0 or y1 <= y0:
        return None
    inside = alpha[y0 - y:y1 - y, x0 - x:x1 - x]
    full = int(alpha.sum())
    if inside.sum() < 0.8 * full:
        return None
    region = instances[y0:y1, x0:x1]
    lost = np.bincount(region[inside], minlength=k)
    for j in range(1, k):
        if visible[j - 1] - lost[j] < MIN_VISIBLE_SHARE * full_areas[j - 1]:
            return None
    for j in range(1, k):
        visible[j - 1] -= int(lost[j])
    region[inside] = k
    visible.append(int(inside.sum()))
    return full


def photo_effects(image: Image.Image, instances: np.ndarray, rng: np.random.Generator):
    """Perspective, lighting, colour cast, blur and noise: what a phone camera does to a shelf."""
    width, height = image.size
    if rng.random() < 0.5:
        d = rng.uniform(-0.03, 0.03, 8) * np.array([width, height] * 4)
        src = np.array([0, 0, width, 0, width, height, 0, height], np.float64) + d
        coeffs = _perspective_coeffs(src.reshape(4, 2), np.array([[0, 0], [width, 0], [width, height], [0, height]]))
        image = image.transform(image.size, Image.PERSPECTIVE, coeffs, Image.BILINEAR, fillcolor=(90, 90, 90))
        mask = Image.fromarray(instances).transform(image.size, Image.PERSPECTIVE, coeffs, Image.NEAREST)
        instances = np.asarray(mask).copy()
    pixels = np.asarray(image, dtype=np.float32)
    ys = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
    xs = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    angle = rng.uniform(0, 2 * np.pi)
    light = (1 + rng.uniform(0, 0.2) * (np.cos(angle) * xs + np.sin(angle) * ys)) * rng.uniform(0.8, 1.15)
    cast = rng.uniform(0.92, 1.08, 3).astype(np.float32)
    pixels *= light[..., None]
    pixels *= cast
    sigma = rng.uniform(0, 7)
    if sigma > 0.5:
        pixels += rng.standard_normal(pixels.shape, dtype=np.float32) * np.float32(sigma)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    blur = rng.uniform(0, 1.2) * max(width, height) / 1000
    if blur > 0.3:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    return image, instances


def _perspective_coeffs(src: np.ndarray, dst: np.ndarray) -> tuple[float, ...]:
    """PIL's 8 coefficients mapping output (dst) points to input (src) points."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    return tuple(np.linalg.solve(np.array(rows, np.float64), np.array(rhs, np.float64)))


def _truth(instances: np.ndarray, bottles: list[dict], full_areas: list[int]) -> list[dict]:
    """Boxes and visible areas from the final instance map; renumbers when one fell out of frame."""
    counts = np.bincount(instances.ravel(), minlength=len(bottles) + 1)
    keep = [k for k in range(1, len(bottles) + 1) if counts[k] > 0]
    if len(keep) < len(bottles):
        lookup = np.zeros(256, np.uint8)
        lookup[keep] = np.arange(1, len(keep) + 1)
        instances[...] = lookup[instances]
    truth = []
    ys_any = [np.flatnonzero(np.any(instances == k, axis=1)) for k in range(1, len(keep) + 1)] if keep else []
    for new_k, old_k in enumerate(keep, start=1):
        rows = ys_any[new_k - 1]
        band = instances[rows[0]:rows[-1] + 1] == new_k
        cols = np.flatnonzero(np.any(band, axis=0))
        truth.append({"box": [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1],
                      "brand": bottles[old_k - 1]["brand"], "is_target": bottles[old_k - 1]["is_target"],
                      "area_px": int(counts[old_k]),
                      "visible_share": round(min(1.0, counts[old_k] / full_areas[old_k - 1]), 4)})
    return truth


# ---------------------------------------------------------------- files

def _dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(", ", ": "))


def generate(out_dir: str | Path, count: int, seed: int, crops: bool = False, max_side: int = 4000,
             size: tuple[int, int] | None = None, labeling: Labeling = BY_TARGET) -> Path:
    """Write `count` scenes of `seed` (images/, masks/, truth.jsonl; crops too when asked), each
    `size` (width, height) when given; crops are labeled and filed as `labeling` says."""
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(exist_ok=True)
    truth_lines, crop_lines = [], []
    for i in range(1, count + 1):
        image, instances, bottles = scene(seed, i, max_side, size)
        quality = int(np.random.default_rng([seed, i, 1]).integers(60, 96))
        name = f"{i:06d}"
        image.save(out / "images" / f"{name}.jpg", "JPEG", quality=quality)
        Image.fromarray(instances).save(out / "masks" / f"{name}.png", optimize=False)
        truth_lines.append(_dumps({"image": f"images/{name}.jpg", "mask": f"masks/{name}.png",
                                   "width": image.width, "height": image.height, "bottles": bottles}))
        if crops:
            crop_lines += _write_crops(out, name, image, bottles, labeling)
    (out / "truth.jsonl").write_text("".join(line + "\n" for line in truth_lines))
    if crops:
        (out / "crops.jsonl").write_text("".join(line + "\n" for line in crop_lines))
    return out


def _write_crops(out: Path, name: str, image: Image.Image, bottles: list[dict], labeling: Labeling) -> list[str]:
    lines = []
    for k, bottle in enumerate(bottles, start=1):
        if bottle["visible_share"] < CROP_MIN_VISIBLE_SHARE:
            continue
        x0, y0, x1, y1 = bottle["box"]
        mx, my = CROP_MARGIN * (x1 - x0), CROP_MARGIN * (y1 - y0)
        box = (max(0, int(x0 - mx)), max(0, int(y0 - my)), min(image.width, int(np.ceil(x1 + mx))),
               min(image.height, int(np.ceil(y1 + my))))
        label = labeling.label(bottle["brand"])
        uri = f"crops/{label}/{name}_{k:02d}.jpg"
        (out / "crops" / label).mkdir(parents=True, exist_ok=True)
        image.crop(box).save(out / uri, "JPEG", quality=90)
        lines.append(_dumps({"uri": uri, "label": label, "group": f"images/{name}.jpg", "brand": bottle["brand"]}))
    return lines
