"""One training round of the crop classifier on a given split: examples, embeddings, head, threshold.

The order is the point: split first, then augment only the training side, embed everything through
the content-keyed cache, fit the head, and pick the threshold on un-augmented validation crops.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import Any, Sequence

import numpy as np

from models.train_classifier import augment as aug
from models.train_classifier.classifiers import FrozenClassifier
from models.train_classifier.data import CropDataError, LabeledCrop
from models.train_classifier.embed_cache import EmbeddingCache, EmbedItem, embed_items
from models.train_classifier.heads import LogRegHead, choose_threshold, class_weights, make_head
from models.train_classifier.split import TEST, TRAIN, VAL

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
    threshold: float
    threshold_rule: str
    val_labels: np.ndarray
    val_scores: np.ndarray
    test_index: np.ndarray  # indices into the test crops
    test_scores: np.ndarray
    train_examples: list[Example]
    info: dict


class Inputs:
    """Makes model inputs and embed items for examples over a list of crops."""

    def __init__(self, crops: Sequence[LabeledCrop], cfg: RoundConfig):
        self.crops, self.cfg = crops, cfg
        self.aug_key = cfg.params.key(cfg.seed)

    def make(self, ex: Example) -> np.ndarray:
        c = self.crops[ex.crop]
        x = aug.model_input(c.pixels, c.sha256, ex.copy, self.cfg.params, self.cfg.seed, self.cfg.input_size)
        if ex.mix_with is not None:
            x = aug.mix_images(x, self.make(ex.mix_with), ex.lam)
        return x

    def item(self, ex: Example) -> EmbedItem:
        c = self.crops[ex.crop]
        if ex.mix_with is None:
            return EmbedItem(c.sha256, ex.copy, self.aug_key if ex.copy else "")
        a, b = self.item(dataclasses.replace(ex, mix_with=None)), self.item(ex.mix_with)
        text = f"mixup|{a.sha256}|{a.copy}|{b.sha256}|{b.copy}|{ex.lam:.6f}|{self.aug_key}"
        return EmbedItem(hashlib.sha256(text.encode()).hexdigest(), 0, "")

    def label(self, ex: Example) -> float:
        y = float(self.crops[ex.crop].label)
        return y if ex.mix_with is None else ex.lam * y + (1 - ex.lam) * self.label(ex.mix_with)


def embed(inputs: Inputs, examples: Sequence[Example], embedder, cache: EmbeddingCache) -> np.ndarray:
    items = [inputs.item(e) for e in examples]
    by_item = dict(zip(items, examples))
    done = [0]

    def progress(n, total):
        if n - done[0] >= 500 or n == total:
            done[0] = n
            _LOG.info("embedded %d of %d new inputs", n, total)

    return embed_items(items, lambda it: inputs.make(by_item[it]), embedder.embed, cache, progress=progress)


def train_examples(train_crops: np.ndarray, cfg: RoundConfig) -> list[Example]:
    """The labeled crops of the training split and their augmented copies 1..K (train only)."""
    return [Example(int(i), k) for i in train_crops for k in range(cfg.augment + 1)]


def _mixup(examples: list[Example], cfg: RoundConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng([cfg.seed, 7])
    count = int(round(cfg.mixup_copies * len(examples)))
    return aug.mixup_pairs(len(examples), count, cfg.mixup, rng)


def train_round(crops: Sequence[LabeledCrop], sides: np.ndarray, test_crops: Sequence[LabeledCrop],
                test_index: np.ndarray, cfg: RoundConfig, embedder, cache: EmbeddingCache) -> RoundResult:
    """Fit on sides == TRAIN, choose the threshold on VAL, score `test_crops[test_index]`."""
    inputs, test_inputs = Inputs(crops, cfg), Inputs(test_crops, cfg)
    train = train_examples(np.nonzero(sides == TRAIN)[0], cfg)
    val = [Example(int(i)) for i in np.nonzero(sides == VAL)[0]]
    test = [Example(int(i)) for i in test_index]
    y_val = np.array([inputs.label(e) for e in val])
    if len(set(y_val)) < 2:
        raise CropDataError(f"the validation split has {len(val)} crops of one class only; add labeled crops "
                         "(or source images) or raise --val_fraction")
    x_train = embed(inputs, train, embedder, cache)
    y_train = np.array([inputs.label(e) for e in train])
    info: dict = {"train_crops": int((sides == TRAIN).sum()), "train_examples": len(train)}
    if cfg.mixup > 0 and cfg.mixup_mode == "embeddings":
        i, j, lam = _mixup(train, cfg)
        x_train = np.concatenate([x_train, lam[:, None] * x_train[i] + (1 - lam[:, None]) * x_train[j]])
        y_train = np.concatenate([y_train, lam * y_train[i] + (1 - lam) * y_train[j]])
        info["mixup_examples"] = len(lam)
    elif cfg.mixup > 0:
        i, j, lam = _mixup(train, cfg)
        mixed = [dataclasses.replace(train[a], mix_with=train[b], lam=float(w)) for a, b, w in zip(i, j, lam)]
        x_train = np.concatenate([x_train, embed(inputs, mixed, embedder, cache)])
        y_train = np.concatenate([y_train, [inputs.label(e) for e in mixed]])
        info["mixup_examples"] = len(mixed)
    x_val = embed(inputs, val, embedder, cache)
    head = make_head(cfg.head).fit(x_train, y_train, x_val, y_val, seed=cfg.seed)
    info["head"] = head.info
    classifier = FrozenClassifier(embedder, head) if hasattr(embedder, "extractor") else None
    p_val = head.predict_proba(x_val)
    if cfg.fine_tune:
        classifier = _fine_tune(inputs, train, head, x_train[:len(train)], y_train[:len(train)], val, y_val, cfg)
        info["fine_tune"] = classifier.info
        p_val = classifier.score(np.stack([inputs.make(e) for e in val]))
        p_test = classifier.score(np.stack([test_inputs.make(e) for e in test]))
    else:
        p_test = head.predict_proba(embed(test_inputs, test, embedder, cache))
    threshold, rule = choose_threshold(y_val, p_val, cfg.min_precision)
    return RoundResult(classifier, threshold, rule, y_val, p_val, np.asarray(test_index), p_test, train, info)


def _fine_tune(inputs: Inputs, train: list[Example], head, x_train, y_train, val, y_val, cfg: RoundConfig):
    from models.train_classifier.fine_tune import fine_tune

    start = head if isinstance(head, LogRegHead) else LogRegHead().fit(x_train, y_train, x_train, y_train)
    return fine_tune(lambda k: inputs.make(train[k]), y_train, class_weights(y_train),
                     np.stack([inputs.make(e) for e in val]), y_val, cfg.fine_tune,
                     start.weights.coef, start.weights.intercept, epochs=cfg.epochs, lr=cfg.lr,
                     mixup_alpha=cfg.mixup, seed=cfg.seed, input_size=cfg.input_size)


def split_summary(crops: Sequence[LabeledCrop], sides: np.ndarray) -> dict:
    out = {}
    for side in (TRAIN, VAL, TEST):
        idx = np.nonzero(sides == side)[0]
        out[side] = {"crops": len(idx), "target": int(sum(crops[i].label for i in idx)),
                     "groups": len({crops[i].group for i in idx})}
    return out
