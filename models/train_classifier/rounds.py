"""One training round of the crop classifier on a given split: examples, embeddings, head, threshold.

The order is the point: split first, then augment only the training side, embed everything through
the content-keyed cache, fit a head per product, and pick each product's threshold on un-augmented
validation crops (and the shelf copies of held-out reference photos).
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import Any, Sequence

import numpy as np

from models.train_classifier import augment as aug
from models.train_classifier.classifiers import FrozenClassifier
from models.train_classifier.data import OTHER, CropDataError, LabeledCrop
from models.train_classifier.embed_cache import EmbeddingCache, EmbedItem, embed_items
from models.train_classifier.heads import LogRegHead, ProductHeads, choose_threshold, class_weights
from models.train_classifier.products import one_hot
from models.train_classifier.references import HELD_OUT_COPIES, ReferenceCopies
from models.train_classifier.split import TEST, TRAIN, VAL
from transforms.letterbox import letterbox

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RoundConfig:
    """Training knobs (see `python -m models.train_classifier --help`)."""

    augment: int = 0
    params: aug.AugmentParams = aug.AugmentParams()
    mixup: float = 0.0  # Beta(alpha, alpha); 0 = off
    mixup_mode: str = "embeddings"  # or "images"
    mixup_copies: float = 1.0  # mixed examples per training example (augmented ones included)
    head: str = "logreg"
    fine_tune: int = 0  # backbone blocks to retrain; 0 = frozen backbone
    epochs: int = 3
    lr: float = 1e-4
    min_precision: float | None = None
    seed: int = 0
    input_size: int = 224
    reference_copies: int = 0  # shelf copies per training reference photo


@dataclasses.dataclass(frozen=True)
class Example:
    """One model input: copy `copy` (0 = as labeled) of crop `crop`, or a mixup of two examples."""

    crop: int
    copy: int = 0
    mix_with: "Example | None" = None
    lam: float = 1.0


@dataclasses.dataclass
class RoundResult:
    classifier: Any
    products: tuple[str, ...]
    thresholds: tuple[float, ...]  # one per product, chosen on validation
    rules: tuple[str, ...]  # how each was chosen
    val_examples: list[Example]
    val_labels: np.ndarray  # [N, P] one-hot rows (all zero: other)
    val_scores: np.ndarray  # [N, P]
    test_examples: list[Example]  # over the test crops
    test_scores: np.ndarray  # [N, P]
    train_examples: list[Example]
    info: dict
    references: ReferenceCopies | None = None  # how reference photos became inputs, to remake them

    @property
    def threshold(self) -> float:
        """The one threshold of a single product; with several, the lowest (what old readers see)."""
        return min(self.thresholds)

    @property
    def threshold_rule(self) -> str:
        if len(self.products) == 1:
            return self.rules[0]
        return "; ".join(f"{p}: {rule}" for p, rule in zip(self.products, self.rules))


def copies(crop: LabeledCrop, side: str, cfg: RoundConfig) -> range:
    """The copies of a crop a split side uses: labeled crops are augmented for training only;
    a held-out reference photo is scored by its shelf copies, as a scan would see the product."""
    if crop.source == "reference":
        return range(cfg.reference_copies + 1) if side == TRAIN else range(1, HELD_OUT_COPIES + 1)
    return range(cfg.augment + 1) if side == TRAIN else range(1)


def examples_on(crops: Sequence[LabeledCrop], sides: np.ndarray, side: str, cfg: RoundConfig) -> list[Example]:
    return [Example(int(i), k) for i in np.nonzero(sides == side)[0] for k in copies(crops[i], side, cfg)]


class Inputs:
    """Makes model inputs, embed items and label rows for examples over a list of crops."""

    def __init__(self, crops: Sequence[LabeledCrop], cfg: RoundConfig, products: Sequence[str],
                 references: ReferenceCopies | None = None):
        self.crops, self.cfg, self.products, self.references = crops, cfg, tuple(products), references
        self.aug_key = cfg.params.key(cfg.seed)

    def make(self, ex: Example) -> np.ndarray:
        c = self.crops[ex.crop]
        if c.source == "reference":
            x = letterbox(self.references.pixels(c, ex.copy), self.cfg.input_size)[0]
        else:
            x = aug.model_input(c.pixels, c.sha256, ex.copy, self.cfg.params, self.cfg.seed, self.cfg.input_size)
        if ex.mix_with is not None:
            x = aug.mix_images(x, self.make(ex.mix_with), ex.lam)
        return x

    def item(self, ex: Example) -> EmbedItem:
        c = self.crops[ex.crop]
        if ex.mix_with is None and c.source == "reference":
            return EmbedItem(self.references.cache_id(c, ex.copy), 0, "")
        if ex.mix_with is None:
            return EmbedItem(c.sha256, ex.copy, self.aug_key if ex.copy else "")
        a, b = self.item(dataclasses.replace(ex, mix_with=None)), self.item(ex.mix_with)
        text = f"mixup|{a.sha256}|{a.copy}|{b.sha256}|{b.copy}|{ex.lam:.6f}|{self.aug_key}"
        return EmbedItem(hashlib.sha256(text.encode()).hexdigest(), 0, "")

    def label(self, ex: Example) -> np.ndarray:
        """[P]: the one-hot row of the crop's product (zeros for other); mixed rows mix."""
        y = one_hot(self.crops[ex.crop].product, self.products)
        return y if ex.mix_with is None else ex.lam * y + (1 - ex.lam) * self.label(ex.mix_with)

    def labels(self, examples: Sequence[Example]) -> np.ndarray:
        return np.array([self.label(e) for e in examples]).reshape(len(examples), len(self.products))


def embed(inputs: Inputs, examples: Sequence[Example], embedder, cache: EmbeddingCache) -> np.ndarray:
    items = [inputs.item(e) for e in examples]
    by_item = dict(zip(items, examples))
    done = [0]

    def progress(n, total):
        if n - done[0] >= 500 or n == total:
            done[0] = n
            _LOG.info("embedded %d of %d new inputs", n, total)

    return embed_items(items, lambda it: inputs.make(by_item[it]), embedder.embed, cache, progress=progress)


def _mixup(examples: list[Example], cfg: RoundConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng([cfg.seed, 7])
    count = int(round(cfg.mixup_copies * len(examples)))
    return aug.mixup_pairs(len(examples), count, cfg.mixup, rng)


def check_validation(y_val: np.ndarray, products: Sequence[str]) -> None:
    """CropDataError unless validation holds crops of every product and of other."""
    if len(products) == 1 and len(set(y_val[:, 0])) < 2:
        raise CropDataError(f"the validation split has {len(y_val)} crops of one class only; add labeled crops "
                            "(or source images) or raise --val_fraction")
    counts = {**dict(zip(products, (y_val >= 0.5).sum(axis=0))), OTHER: int((y_val < 0.5).all(axis=1).sum())}
    missing = [name for name, n in counts.items() if n == 0]
    if missing:
        raise CropDataError(f"the validation split has no crops of {', '.join(repr(m) for m in missing)}; label "
                            "more of them (from more source images) or raise --val_fraction")


def train_round(crops: Sequence[LabeledCrop], sides: np.ndarray, test_crops: Sequence[LabeledCrop],
                test_sides: np.ndarray, products: Sequence[str], cfg: RoundConfig, embedder,
                cache: EmbeddingCache, references: ReferenceCopies | None = None) -> RoundResult:
    """Fit on sides == TRAIN, choose each product's threshold on VAL, score `test_crops` on TEST."""
    inputs = Inputs(crops, cfg, products, references)
    test_inputs = inputs if test_crops is crops else Inputs(test_crops, cfg, products, references)
    train = examples_on(crops, sides, TRAIN, cfg)
    val = examples_on(crops, sides, VAL, cfg)
    test = examples_on(test_crops, test_sides, TEST, cfg)
    y_val = inputs.labels(val)
    check_validation(y_val, products)
    x_train = embed(inputs, train, embedder, cache)
    y_train = inputs.labels(train)
    info: dict = {"train_crops": int((sides == TRAIN).sum()), "train_examples": len(train)}
    if cfg.mixup > 0 and cfg.mixup_mode == "embeddings":
        i, j, lam = _mixup(train, cfg)
        x_train = np.concatenate([x_train, lam[:, None] * x_train[i] + (1 - lam[:, None]) * x_train[j]])
        y_train = np.concatenate([y_train, lam[:, None] * y_train[i] + (1 - lam[:, None]) * y_train[j]])
        info["mixup_examples"] = len(lam)
    elif cfg.mixup > 0:
        i, j, lam = _mixup(train, cfg)
        mixed = [dataclasses.replace(train[a], mix_with=train[b], lam=float(w)) for a, b, w in zip(i, j, lam)]
        x_train = np.concatenate([x_train, embed(inputs, mixed, embedder, cache)])
        y_train = np.concatenate([y_train, inputs.labels(mixed)])
        info["mixup_examples"] = len(mixed)
    x_val = embed(inputs, val, embedder, cache)
    heads = ProductHeads(cfg.head, tuple(products)).fit(x_train, y_train, x_val, y_val, seed=cfg.seed)
    info["head"] = heads.info
    classifier = FrozenClassifier(embedder, heads) if hasattr(embedder, "extractor") else None
    p_val = heads.predict_proba(x_val)
    if cfg.fine_tune:
        classifier = _fine_tune(inputs, train, heads.heads[0], x_train[:len(train)], y_train[:len(train), 0], val,
                                y_val[:, 0], cfg)
        info["fine_tune"] = classifier.info
        p_val = classifier.score(np.stack([inputs.make(e) for e in val]))[:, None]
        p_test = classifier.score(np.stack([test_inputs.make(e) for e in test]))[:, None]
    else:
        p_test = heads.predict_proba(embed(test_inputs, test, embedder, cache))
    from_photos = [all(crops[e.crop].source == "reference" for e in val if crops[e.crop].product == p)
                   for p in products]
    chosen = [choose_threshold(y_val[:, k], p_val[:, k], cfg.min_precision, low=from_photos[k])
              for k in range(len(products))]
    return RoundResult(classifier, tuple(products), tuple(t for t, _ in chosen), tuple(r for _, r in chosen),
                       val, y_val, p_val, test, p_test, train, info, references)


def _fine_tune(inputs: Inputs, train: list[Example], head, x_train, y_train, val, y_val, cfg: RoundConfig):
    from models.train_classifier.fine_tune import fine_tune

    start = head if isinstance(head, LogRegHead) else LogRegHead().fit(x_train, y_train, x_train, y_train)
    return fine_tune(lambda k: inputs.make(train[k]), y_train, class_weights(y_train),
                     np.stack([inputs.make(e) for e in val]), y_val, cfg.fine_tune,
                     start.weights.coef, start.weights.intercept, epochs=cfg.epochs, lr=cfg.lr,
                     mixup_alpha=cfg.mixup, seed=cfg.seed, input_size=cfg.input_size)


def split_summary(crops: Sequence[LabeledCrop], sides: np.ndarray, products: Sequence[str] = ()) -> dict:
    """Crops, product crops and source images per side; per product too when there are several."""
    out = {}
    for side in (TRAIN, VAL, TEST):
        idx = np.nonzero(sides == side)[0]
        out[side] = {"crops": len(idx), "target": int(sum(crops[i].label for i in idx)),
                     "groups": len({crops[i].group for i in idx})}
        if len(products) > 1:
            out[side]["per_product"] = {p: int(sum(crops[i].product == p for i in idx)) for p in products}
        references = int(sum(crops[i].source == "reference" for i in idx))
        if references:
            out[side]["reference_photos"] = references
    return out
