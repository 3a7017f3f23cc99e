"""The crops being labeled and their labels, kept in a crops.jsonl that is rewritten whole on every change.

Local files are replaced atomically (temp file + os.replace); gs:// objects are written whole, which
GCS makes visible only when the upload completes. So a killed server or a closed tab never leaves a
half-written file: at worst the label being made is lost.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import os
import tempfile
import threading
from typing import Any, Sequence

from models.label import products as names
from transforms.beam_files import read_text

OTHER_LABELS = ("other", "skip")  # skip: not usable (no bottle, two bottles); training leaves it out
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
INDEX_NAME = "crops.jsonl"


class LabelError(ValueError):
    """A request the store cannot honour; the message says why."""


def _fs():
    from transforms.beam_files import FileSystems

    return FileSystems


def _exists(uri: str) -> bool:
    return _fs().exists(uri)


def write_atomically(uri: str, text: str, mime_type: str = "application/jsonl") -> None:
    """Replace `uri` with `text` so that a reader sees the old file or the new one, never a mix."""
    if "://" not in uri:
        folder = os.path.dirname(os.path.abspath(uri))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".crops-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            if os.path.exists(uri):  # mkstemp makes 0600; keep the file readable as it was
                os.chmod(tmp, os.stat(uri).st_mode & 0o777)
            os.replace(tmp, uri)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return
    with _fs().create(uri, mime_type=mime_type) as f:  # one object, visible once complete
        f.write(text.encode("utf-8"))


def index_path(source: str) -> str:
    """The crops.jsonl for SOURCE: the file itself, or FOLDER/crops.jsonl for a folder of crops."""
    if source.endswith(".jsonl"):
        return source
    return _fs().join(source.rstrip("/"), INDEX_NAME)


def folder_records(folder: str) -> list[dict]:
    """One unlabeled record per image directly in FOLDER or one level below (uri relative to FOLDER)."""
    fs, root = _fs(), folder.rstrip("/")
    found = []
    for pattern in (fs.join(root, "*"), fs.join(root, "*", "*")):
        for m in fs.match([pattern])[0].metadata_list:
            if m.path.lower().endswith(IMAGE_SUFFIXES):
                found.append(m.path[len(root) + 1:])
    return [{"uri": uri, "label": "", "group": uri} for uri in sorted(set(found))]


def score(record: dict) -> float | None:
    """The classifier's score for a row: its predicted product's (`product_score`), else `target_score`."""
    value = record.get("product_score", record.get("target_score"))
    return None if value is None else float(value)


def certainty_order(records: list[dict]) -> list[int]:
    """Record positions, least certain first (by `uncertainty`, else the score's distance from the row's
    threshold, 0.5 without one)."""
    def key(i: int) -> tuple:
        r = records[i]
        if r.get("uncertainty") is not None:
            return (-float(r["uncertainty"]), i)
        if (value := score(r)) is not None:
            return (abs(value - float(r.get("threshold") or 0.5)), i)
        return (0.0, i)
    return sorted(range(len(records)), key=key)


@dataclasses.dataclass(frozen=True)
class Change:
    """One label made: which record (file position) and what its label was before."""

    record: int
    before: str


@dataclasses.dataclass(frozen=True)
class Filter:
    """Which crops the page shows: all by default; unlabeled only, predicted `predicted`, a score range."""

    unlabeled: bool = False
    predicted: str | None = None
    min_score: float | None = None
    max_score: float | None = None

    def keeps(self, record: dict) -> bool:
        if self.unlabeled and record["label"]:
            return False
        if self.predicted and predicted(record) != self.predicted:
            return False
        value = score(record)
        if self.min_score is not None and (value is None or value < self.min_score):
            return False
        return self.max_score is None or (value is not None and value <= self.max_score)


def predicted(record: dict) -> str | None:
    """The classifier's label for a row: its `product` (a scan with several products writes it), its
    `predicted`, else its score against its threshold (a single-target scan)."""
    for field in ("product", "predicted"):
        if record.get(field):
            return str(record[field])
    value, threshold = score(record), record.get("threshold")
    if value is None or threshold is None:
        return None
    return names.LEGACY_TARGET if value >= float(threshold) else "other"


class LabelStore:
    """Labels of the crops in one crops.jsonl and the products they name; thread-safe, saved on every change.

    source: a crops.jsonl, or a folder of crops (its crops.jsonl is used, or made from the images).
    products: products to offer besides those the file and its sidecar name (the scan's classifier's).
    """

    def __init__(self, source: str, products: Sequence[str] = ()):
        self.path = index_path(source)
        self.base = _fs().split(self.path)[0]
        self.products_path = names.sidecar_path(self.path)
        if _exists(self.path):
            self.records = _read_rows(self.path)
        elif not source.endswith(".jsonl"):
            self.records = folder_records(source)
        else:
            raise LabelError(f"{source} does not exist: pass a crops.jsonl (pipeline.run --crops_output "
                             "DIR writes DIR/crops.jsonl) or a folder of crop images")
        if not self.records:
            raise LabelError(f"no crops in {source}: expected a crops.jsonl or a folder of images")
        for problem in map(names.name_problem, products):
            if problem:
                raise LabelError(f"--products: {problem}")
        saved = self._read_products()
        self.products = names.product_list(saved, products, names.named_by(self.records))
        self._saved_products = tuple(saved)
        self.order = certainty_order(self.records)  # display position -> record position
        self._position = {record: position for position, record in enumerate(self.order)}
        self._history: list[tuple[Change, ...]] = []  # one entry per request, so a bulk label undoes at once
        self._lock = threading.Lock()

    def _read_products(self) -> list[str]:
        if not _exists(self.products_path):
            return []
        try:
            return names.parse_sidecar(read_text(self.products_path))
        except ValueError as e:
            raise LabelError(f"{self.products_path}: {e}; fix or delete it (it only keeps the products' "
                             "order; labels are in the crops.jsonl)") from None

    def record(self, position: int) -> dict:
        """The row shown at display `position` (IndexError if there is none)."""
        if not 0 <= position < len(self.order):
            raise IndexError(f"no crop at position {position}")
        return self.records[self.order[position]]

    def image_uri(self, position: int) -> str:
        """Where the image shown at display `position` lives."""
        uri = self.records[self.order[position]]["uri"]
        return uri if "://" in uri or uri.startswith("/") else _fs().join(self.base, uri)

    def counts(self) -> dict[str, Any]:
        """How far labeling is: totals, the crops per label (`labels`: each product, other, skip) and the
        products in key order. `unknown`: rows whose label is none of these nor empty (an older or hand-edited
        file); they count neither as labeled nor as left, and the page shows their label as it is."""
        labels = [r["label"] or "" for r in self.records]
        per_label = collections.Counter(labels)
        counts = {name: per_label[name] for name in (*self.products, *OTHER_LABELS)}
        done = sum(counts.values())
        unlabeled = [p for p, i in enumerate(self.order) if not labels[i]]
        return {"total": len(labels), "labeled": done, "unlabeled": len(unlabeled),
                "unknown": len(labels) - done - len(unlabeled), "labels": counts, "products": list(self.products),
                "first_unlabeled": unlabeled[0] if unlabeled else None, "can_undo": bool(self._history),
                "file": self.path}

    def select(self, keep: Filter = Filter()) -> list[int]:
        """Display positions of the crops `keep` keeps, least certain first."""
        return [p for p, i in enumerate(self.order) if keep.keeps(self.records[i])]

    def page(self, offset: int, limit: int) -> list[dict]:
        """The crops shown at display positions [offset, offset + limit)."""
        return self.crops(range(max(offset, 0), min(offset + limit, len(self.order))))

    def crops(self, positions) -> list[dict]:
        """What the page shows of the crops at display `positions` (IndexError if one does not exist)."""
        out = []
        for position in positions:
            r = self.record(position)
            out.append({"position": position, "label": r["label"] or "", "score": score(r),
                        "threshold": r.get("threshold"), "predicted": predicted(r),
                        "name": r["uri"].rsplit("/", 1)[-1], "group": r.get("group", "")})
        return out

    def label(self, position: int, label: str) -> dict:
        """Label one crop; returns the counts."""
        return self.label_many([position], label)

    def label_many(self, positions: list[int], label: str) -> dict:
        """Label the crops at display `positions` with one save, undone as one step; returns the counts."""
        if label not in (*self.products, *OTHER_LABELS):
            hint = "; add it as a product first" if names.is_product(label) else ""
            raise LabelError(f"unknown label {str(label)[:80]!r}: expected a product "
                             f"({', '.join(self.products)}), other or skip{hint}")
        if not positions:
            raise LabelError("no crops to label")
        for position in positions:
            if type(position) is not int or not 0 <= position < len(self.order):
                raise LabelError(f"no crop at position {position!r}")
        with self._lock:
            records = list(dict.fromkeys(self.order[p] for p in positions))
            self._history.append(tuple(Change(i, self.records[i]["label"] or "") for i in records))
            for i in records:
                self.records[i]["label"] = label
            self._save()
            return self.counts()

    def add_product(self, name: str) -> dict:
        """Offer `name` as the next product (saved in the sidecar at once); returns the counts."""
        shown = name if len(name) <= 80 else name[:80] + "…"  # the error quotes it; a long one still fails
        if problem := names.name_problem(shown):
            raise LabelError(problem)
        with self._lock:
            if name in self.products:
                raise LabelError(f"{name!r} is already product {self.products.index(name) + 1}")
            if len(self.products) >= names.MAX_PRODUCTS:
                raise LabelError(f"at most {names.MAX_PRODUCTS} products; label the rest other")
            self.products = (*self.products, name)
            self._save_products()
            return self.counts()

    def undo(self) -> tuple[list[int], dict]:
        """Revert the last request's labels; returns (display positions reverted, [] if none; counts)."""
        with self._lock:
            if not self._history:
                return [], self.counts()
            changes = self._history.pop()
            for change in changes:
                self.records[change.record]["label"] = change.before
            self._save()
            return sorted(self._position[c.record] for c in changes), self.counts()

    def _save(self) -> None:
        write_atomically(self.path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.records))
        self._save_products()

    def _save_products(self) -> None:
        # written once labeling starts or a product is added, so merely opening a list writes nothing
        if self.products != self._saved_products:
            write_atomically(self.products_path, names.sidecar_text(self.products), "application/json")
            self._saved_products = self.products


def _read_rows(path: str) -> list[dict]:
    rows = []
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise LabelError(f"{path}:{n}: not JSON ({e}); fix or remove the line") from None
        if not isinstance(row, dict) or not isinstance(row.get("uri"), str):
            raise LabelError(f"{path}:{n}: expected a JSON object with a 'uri'")
        row.setdefault("label", "")
        rows.append(row)
    return rows
