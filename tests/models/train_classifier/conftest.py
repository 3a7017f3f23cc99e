"""Training data for the classifier tests: synthetic crops labeled by product, pack shots of products,
and a cheap stand-in embedder."""
import json

import numpy as np
import pytest

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
    """4 pack shots of each of PRODUCTS (models.synth --references), half on a plain backdrop."""
    from models.synth.references import write_references

    return write_references(tmp_path_factory.mktemp("references"), 4, PRODUCTS, seed=5)


@pytest.fixture(scope="session")
def unlabeled(synth_crops, tmp_path_factory):
    """The synthetic crops as a scan writes them for labeling: every label empty."""
    return relabel(synth_crops / "crops.jsonl", tmp_path_factory.mktemp("unlabeled") / "crops.jsonl", unlabeled=True)
