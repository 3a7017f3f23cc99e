"""Bottle designs for the synthetic scenes: silhouettes, brands with their labels, and the renderer.

One brand is the target ("micellar_rose"); three decoys are built to be confused with it (same
product and shape with another label, same colours with another layout, same layout in another colour).
"""
from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image, ImageDraw

TARGET_BRAND = "micellar_rose"

# Silhouettes: (top fraction, half width as a share of the body's) down the bottle, the body
# starting at `body_top`; `aspect` is body width / height.
SHAPES = {
    "slim": dict(aspect=0.33, body_top=0.30, cap=0.10,
                 profile=[(0.0, 0.30), (0.10, 0.30), (0.10, 0.34), (0.18, 0.36), (0.30, 1.0), (1.0, 1.0)]),
    "wide": dict(aspect=0.50, body_top=0.22, cap=0.12,
                 profile=[(0.0, 0.36), (0.12, 0.36), (0.12, 0.45), (0.16, 0.85), (0.22, 1.0), (1.0, 0.96)]),
    "pump": dict(aspect=0.42, body_top=0.26, cap=0.20,
                 profile=[(0.0, 0.55), (0.05, 0.55), (0.05, 0.12), (0.18, 0.12), (0.18, 0.36), (0.24, 0.36),
                          (0.26, 1.0), (1.0, 1.0)]),
    "wine": dict(aspect=0.27, body_top=0.45, cap=0.12,
                 profile=[(0.0, 0.24), (0.12, 0.24), (0.12, 0.22), (0.32, 0.24), (0.45, 1.0), (1.0, 1.0)]),
    "jar": dict(aspect=0.85, body_top=0.20, cap=0.20,
                profile=[(0.0, 0.92), (0.20, 0.92), (0.20, 1.0), (1.0, 1.0)]),
    "square": dict(aspect=0.45, body_top=0.20, cap=0.12,
                   profile=[(0.0, 0.30), (0.12, 0.30), (0.12, 0.40), (0.20, 1.0), (1.0, 1.0)]),
}


@dataclasses.dataclass(frozen=True)
class Brand:
    name: str
    shape: str
    body: tuple[int, int, int]
    cap: tuple[int, int, int]
    layout: str  # band | band_square | bottom | full | diagonal | minimal
    label: tuple[int, int, int]
    accent: tuple[int, int, int]
    logo: tuple[int, int, int]
    weight: float  # how often it appears

    @property
    def is_target(self) -> bool:
        return self.name == TARGET_BRAND


WHITE, INK = (248, 248, 246), (40, 36, 44)
BRANDS = (
    Brand(TARGET_BRAND, "slim", (236, 150, 182), WHITE, "band", WHITE, (196, 30, 110), (40, 90, 170), 0.26),
    # Decoys: same product, another label; same colours, another layout; same layout, another colour.
    Brand("micellar_pure", "slim", (240, 165, 196), WHITE, "band_square", WHITE, (40, 150, 90), (196, 30, 110), 0.09),
    Brand("rose_tonic", "slim", (236, 150, 182), (196, 30, 110), "bottom", WHITE, (196, 30, 110), (40, 90, 170), 0.09),
    Brand("micellar_azure", "slim", (130, 175, 228), WHITE, "band", WHITE, (30, 60, 160), (196, 30, 110), 0.09),
    Brand("shampoo_leaf", "wide", (70, 150, 82), (238, 238, 232), "full",
          (245, 235, 200), (30, 90, 40), (220, 170, 40), 0.09),
    Brand("cola_dark", "wine", (62, 32, 24), (200, 30, 30), "band", (205, 30, 35), WHITE, WHITE, 0.08),
    Brand("aqua_spring", "slim", (196, 222, 236), (30, 80, 200), "minimal",
          (196, 222, 236), (30, 80, 200), (30, 80, 200), 0.08),
    Brand("soap_sun", "pump", (246, 204, 70), (245, 245, 245), "diagonal", WHITE, (230, 110, 30), (230, 110, 30), 0.08),
    Brand("cream_gold", "jar", (250, 247, 238), (196, 158, 64), "band", (196, 158, 64), (120, 90, 30), WHITE, 0.07),
    Brand("tonic_violet", "square", (140, 92, 172), (60, 40, 80), "band_square",
          (235, 225, 245), (90, 50, 130), (240, 200, 60), 0.07),
)


# ---------------------------------------------------------------- rendering

def _silhouette(shape: dict, width: int, height: int) -> list[tuple[float, float]]:
    half = width / 2.0
    right = [(half + hw * half - 0.5, y * (height - 1)) for y, hw in shape["profile"]]
    left = [(half - hw * half + 0.5, y * (height - 1)) for y, hw in reversed(shape["profile"])]
    return right + left


def _label(draw: ImageDraw.ImageDraw, brand: Brand, box: tuple[float, float, float, float],
           rng: np.random.Generator) -> None:
    """The brand's label on the body rectangle `box`; text bars vary a little from bottle to bottle."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0

    def rect(fx0, fy0, fx1, fy1, colour):
        draw.rectangle([x0 + fx0 * w, y0 + fy0 * h, x0 + fx1 * w, y0 + fy1 * h], fill=colour)

    def text(fx, fy, rows):
        for r in range(rows):
            length = rng.uniform(0.35, 0.7)
            rect(fx, fy + r * 0.07, fx + length, fy + r * 0.07 + 0.035, INK)

    def logo(fx, fy, colour, square=False):
        r = 0.16 * w
        cx, cy = x0 + fx * w, y0 + fy * h
        (draw.rectangle if square else draw.ellipse)([cx - r, cy - r, cx + r, cy + r], fill=colour)

    layout = brand.layout
    if layout in ("band", "band_square"):
        rect(0, 0.22, 1, 0.78, brand.label)
        stripe = (0.22, 0.31) if layout == "band" else (0.69, 0.78)
        rect(0, stripe[0], 1, stripe[1], brand.accent)
        logo(0.3, 0.43 if layout == "band" else 0.33, brand.logo, square=layout == "band_square")
        text(0.12, 0.55 if layout == "band" else 0.45, 3)
    elif layout == "bottom":
        rect(0, 0.52, 1, 0.94, brand.label)
        rect(0.08, 0.0, 0.2, 1.0, brand.accent)
        logo(0.62, 0.66, brand.logo)
        text(0.3, 0.8, 2)
    elif layout == "full":
        rect(0.04, 0.08, 0.96, 0.94, brand.label)
        logo(0.5, 0.35, brand.logo)
        rect(0.04, 0.58, 0.96, 0.64, brand.accent)
        text(0.15, 0.7, 3)
    elif layout == "diagonal":
        rect(0, 0.3, 1, 0.85, brand.label)
        draw.polygon([(x0, y0 + 0.75 * h), (x1, y0 + 0.4 * h), (x1, y0 + 0.52 * h), (x0, y0 + 0.85 * h)],
                     fill=brand.accent)
        text(0.12, 0.35, 2)
    else:  # minimal
        text(0.2, 0.4, 2)
        rect(0.2, 0.62, 0.8, 0.66, brand.accent)


def _jitter(colour: tuple[int, int, int], rng: np.random.Generator, amount: int = 10) -> tuple[int, ...]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)


def render_bottle(brand: Brand, height: int, rng: np.random.Generator) -> Image.Image:
    """An RGBA sprite of one bottle, shaded like a cylinder, slightly rotated and sheared."""
    shape = SHAPES[brand.shape]
    width = max(6, int(round(height * shape["aspect"] * rng.uniform(0.92, 1.08))))
    sprite = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(sprite)
    draw.polygon(_silhouette(shape, width, height), fill=_jitter(brand.body, rng) + (255,))
    colour_layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    layer = ImageDraw.Draw(colour_layer)
    layer.rectangle([0, 0, width, shape["cap"] * height], fill=_jitter(brand.cap, rng, 6) + (255,))
    _label(layer, brand, (0, shape["body_top"] * height + 0.02 * height, width, 0.97 * height), rng)
    alpha = sprite.getchannel("A")
    sprite = Image.composite(colour_layer, sprite, colour_layer.getchannel("A"))
    sprite.putalpha(alpha)

    pixels = np.asarray(sprite).astype(np.float32)
    across = np.linspace(-1, 1, width)
    light = rng.uniform(-0.4, 0.4)  # where the highlight sits
    shade = 0.72 + 0.38 * np.clip(np.cos((across - light) * 1.4), 0, 1) ** 1.5
    pixels[..., :3] *= shade[None, :, None]
    sprite = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGBA")

    shear = rng.uniform(-0.05, 0.05)
    if abs(shear) > 0.01:
        out_w = width + int(abs(shear) * height) + 1
        offset = -shear * height if shear > 0 else 0.0
        sprite = sprite.transform((out_w, height), Image.AFFINE, (1, shear, offset, 0, 1, 0), Image.BILINEAR)
    return sprite.rotate(rng.uniform(-7, 7), Image.BILINEAR, expand=True)
