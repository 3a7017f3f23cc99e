"""Embeddings cached on disk by what produced them, not by file name.

The key is sha256(backbone version, input size, image content hash, augmentation key, copy index),
so a changed image, backbone or augmentation recipe misses, and an unchanged one never recomputes
(not even its augmentation).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class EmbedItem:
    """One model input to embed: copy `copy` (0 = original) of the image with hash `sha256`."""

    sha256: str
    copy: int = 0
    augment_key: str = ""  # AugmentParams.key(seed) for copies > 0; "" for originals


def cache_key(item: EmbedItem, backbone: str, input_size: int) -> str:
    aug = item.augment_key if item.copy > 0 else ""
    text = f"{backbone}|{input_size}|{item.sha256}|{aug}|{item.copy}"
    return hashlib.sha256(text.encode()).hexdigest()


class EmbeddingCache:
    """A directory of .npy embeddings (`root/ab/abcdef....npy`); root None caches nothing.

    Counts hits and misses since construction.
    """

    def __init__(self, root: str | Path | None, backbone: str, input_size: int):
        self.root = Path(root) if root else None
        self.backbone, self.input_size = backbone, input_size
        self.hits = self.misses = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def get(self, item: EmbedItem) -> np.ndarray | None:
        if self.root is None:
            return None
        path = self._path(cache_key(item, self.backbone, self.input_size))
        try:
            return np.load(path)
        except (FileNotFoundError, ValueError, EOFError):  # absent, or a torn write from a killed run
            return None

    def put(self, item: EmbedItem, embedding: np.ndarray) -> None:
        if self.root is None:
            return
        path = self._path(cache_key(item, self.backbone, self.input_size))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.save(f, np.asarray(embedding, dtype=np.float32))
        os.replace(tmp, path)  # atomic: concurrent runs never read half a file

    def stats(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "dir": str(self.root) if self.root else None}


def embed_items(items: Sequence[EmbedItem], make_input: Callable[[EmbedItem], np.ndarray],
                embed_fn: Callable[[np.ndarray], np.ndarray], cache: EmbeddingCache,
                batch_size: int = 32, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """[len(items), D] embeddings: cached ones read, the rest made, embedded in batches and stored.

    make_input: item -> uint8 [S, S, 3] model input (called only on a miss).
    embed_fn: uint8 [B, S, S, 3] -> float [B, D].
    """
    out: list[np.ndarray | None] = [cache.get(item) for item in items]
    missing = [i for i, e in enumerate(out) if e is None]
    cache.hits += len(items) - len(missing)
    cache.misses += len(missing)
    for start in range(0, len(missing), batch_size):
        chunk = missing[start:start + batch_size]
        batch = np.stack([make_input(items[i]) for i in chunk])
        embeddings = np.asarray(embed_fn(batch), dtype=np.float32)
        for i, e in zip(chunk, embeddings):
            out[i] = e
            cache.put(items[i], e)
        if progress:
            progress(start + len(chunk), len(missing))
    if not items:
        return np.zeros((0, 0), np.float32)
    return np.stack(out)
