"""Pack shots: one synthetic bottle per photo, as a user gathers a few reference photos of each product.

`python -m models.synth --references DIR --per_brand N` writes DIR/<brand>/001.jpg ... (the layout
`models.train_classifier --references` reads) and DIR/references.jsonl, one line per photo with the
bottle's box, so a trainer that crops to the product can be checked. Each shot varies what reference
photos vary: a plain backdrop or a busy shelf-like one, the bottle's angle, size and place, the light.
Shot i of a brand is drawn from its own generator, seeded (S, brand, i): same seed, same bytes, and a
brand's shots do not change with the other brands asked for.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from models.synth.bottles import BRANDS, Brand, render_bottle
from models.synth.generator import photo_effects, shelf_background

SIDES = (320, 720)  # long side of a shot, px: a web image or a downsized phone photo
PLAIN_SHARE = 0.5  # the rest get a wall, wood or metal with shelf boards behind the bottle
MAX_TILT = 30.0  # degrees, beyond the renderer's own few
STREAM = 2  # keeps these generators apart from the scenes' ([S, i]) and their JPEG qualities ([S, i, 1])


def _plain(width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """A studio backdrop: mostly near-white, sometimes a colour, with a soft vertical falloff."""
    base = rng.uniform(215, 252, 3) if rng.random() < 0.7 else rng.uniform(40, 230, 3)
    falloff = 1 - rng.uniform(0, 0.15) * np.linspace(0, 1, height)[:, None, None] ** 2
    pixels = np.broadcast_to(base * falloff, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _fit(sprite: Image.Image, width: int, height: int) -> Image.Image:
    """The sprite scaled down, if need be, to fit the shot whole with a small margin."""
    scale = min(1.0, 0.95 * width / sprite.width, 0.95 * height / sprite.height)
    if scale < 1.0:
        sprite = sprite.resize((max(1, int(sprite.width * scale)), max(1, int(sprite.height * scale))),
                               Image.BILINEAR)
    return sprite


def pack_shot(brand: Brand, seed: int, index: int) -> tuple[Image.Image, np.ndarray]:
    """Shot `index` of `brand` for `seed`: (RGB image, bool mask of the bottle's pixels)."""
    rng = np.random.default_rng([seed, STREAM, BRANDS.index(brand), index])
    long_side = int(rng.uniform(*SIDES))
    short = int(long_side * rng.choice([1.0, 0.75, 0.5625]))
    width, height = (short, long_side) if rng.random() < 0.7 else (long_side, short)
    plain = rng.random() < PLAIN_SHARE
    image = _plain(width, height, rng) if plain else shelf_background(width, height, rng)[0]
    sprite = render_bottle(brand, int(height * rng.uniform(0.35, 0.9)), rng)
    sprite = _fit(sprite.rotate(rng.uniform(-MAX_TILT, MAX_TILT), Image.BILINEAR, expand=True), width, height)
    x = int(rng.integers(0, width - sprite.width + 1))
    y = int(rng.integers(0, height - sprite.height + 1))
    image.paste(sprite, (x, y), sprite)
    instances = np.zeros((height, width), np.uint8)
    instances[y:y + sprite.height, x:x + sprite.width][np.asarray(sprite.getchannel("A")) > 127] = 1
    image, instances = photo_effects(image, instances, rng)
    return image, instances == 1


def _box(mask: np.ndarray) -> list[int]:
    ys, xs = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return [int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1]


def write_references(out_dir: str | Path, per_brand: int, brands: Sequence[str] | None = None,
                     seed: int = 0) -> Path:
    """Write `per_brand` shots of each of `brands` (default: every brand) to out_dir/<brand>/NNN.jpg."""
    out = Path(out_dir)
    chosen = [b for b in BRANDS if brands is None or b.name in brands]
    lines = []
    for brand in chosen:
        (out / brand.name).mkdir(parents=True, exist_ok=True)
        for i in range(1, per_brand + 1):
            image, mask = pack_shot(brand, seed, i)
            name = f"{brand.name}/{i:03d}.jpg"
            image.save(out / name, "JPEG", quality=int(np.random.default_rng([seed, STREAM, i]).integers(75, 96)))
            lines.append(json.dumps({"image": name, "brand": brand.name, "width": image.width,
                                     "height": image.height, "box": _box(mask)}, sort_keys=True))
    (out / "references.jsonl").write_text("".join(line + "\n" for line in lines))
    return out
