"""Training data for the classifier tests: synthetic crops labeled by product, reference photos of
products, and a cheap stand-in embedder."""
import json

import numpy as np
import pytest
from PIL import Image

PRODUCTS = ("cola_dark", "micellar_rose", "shampoo_leaf")  # sorted, as the trainer orders them
SYNTH_SEED, SYNTH_SCENES = 3, 12  # 103 crops: 28 micellar_rose, 14 cola_dark, 8 shampoo_leaf, 53 other


class TinyEmbedder:
    """Colour layout of the letterboxed input: 8 x 8 cell means per channel (192-d)."""

    version = "tiny-test-embedder-1"

    def __init__(self):
        self.calls = 0

    def embed(self, batch: np.ndarray) -> np.ndarray:
        self.calls += len(batch)
        b = batch.astype(np.float32).reshape(len(batch), 8, 28, 8, 28, 3).mean(axis=(2, 4))
        return b.reshape(len(batch), -1) / 255.0


def relabel(crops_jsonl, out, products=PRODUCTS, unlabeled=False):
    """crops.jsonl labeled by brand: a product's name, else other (or every label empty)."""
    rows = [json.loads(line) for line in crops_jsonl.read_text().splitlines()]
    base = crops_jsonl.parent
    with open(out, "w") as f:
        for r in rows:
            label = "" if unlabeled else r["brand"] if r["brand"] in products else "other"
            f.write(json.dumps({**r, "uri": str(base / r["uri"]), "label": label}) + "\n")
    return out


def pack_shot(brand_name: str, seed: int, index: int) -> Image.Image:
    """One photo of a synthetic product: the bottle upright or a little tilted, on a plain colour
    (mostly light) or a blotchy texture."""
    from models.synth.bottles import BRANDS, render_bottle

    rng = np.random.default_rng([seed, index])
    brand = next(b for b in BRANDS if b.name == brand_name)
    sprite = render_bottle(brand, int(rng.uniform(200, 340)), rng).rotate(
        rng.uniform(-8, 8), expand=True, resample=Image.BICUBIC)
    width, height = int(sprite.width * rng.uniform(1.3, 2.2)), int(sprite.height * rng.uniform(1.1, 1.5))
    if rng.uniform() < 0.75:
        colour = rng.uniform(200, 255, 3) if rng.uniform() < 0.6 else rng.uniform(0, 255, 3)
        photo = Image.new("RGB", (width, height), tuple(int(v) for v in colour))
    else:
        blotches = rng.integers(0, 255, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
        photo = Image.fromarray(blotches).resize((width, height), Image.BICUBIC)
    photo.paste(sprite, ((width - sprite.width) // 2 + int(rng.integers(-10, 10)), (height - sprite.height) // 2),
                sprite)
    return photo


def write_references(root, per_product: int, products=PRODUCTS, seed: int = 0):
    """root/<product>/NN.jpg, `per_product` photos each."""
    for k, product in enumerate(products):
        (root / product).mkdir(parents=True, exist_ok=True)
        for i in range(per_product):
            pack_shot(product, seed + 100 * k, i).save(root / product / f"{i:02d}.jpg", quality=92)
    return root


@pytest.fixture(scope="session")
def synth_crops(tmp_path_factory):
    """models.synth --crops output of SYNTH_SCENES scenes (labels target/other, brand per crop)."""
    from models.synth import generator

    out = tmp_path_factory.mktemp("product_crops")
    generator.generate(out, SYNTH_SCENES, SYNTH_SEED, crops=True, max_side=800)
    return out


@pytest.fixture(scope="session")
def brand_crops(synth_crops, tmp_path_factory):
    """The synthetic crops labeled by product (PRODUCTS) or other."""
    return relabel(synth_crops / "crops.jsonl", tmp_path_factory.mktemp("brands") / "crops.jsonl")


@pytest.fixture(scope="session")
def references(tmp_path_factory):
    """4 reference photos of each of PRODUCTS."""
    return write_references(tmp_path_factory.mktemp("references"), 4)
