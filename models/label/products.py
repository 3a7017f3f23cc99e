"""The products a crops.jsonl is labeled with: which names are allowed, and their order (the page's
number keys), kept in a sidecar so that key 2 still means the same product after a restart.

The list is the sidecar's products first (the order people have been using), then those given on the
command line, then those the rows name (as labels, then as the scan's `product`/`predicted`), then
those added on the page. A list that names no product at all is the legacy single product `target`.
"""
from __future__ import annotations

import json
from typing import Iterable

# the rule the classifier's shelfscan.json follows, so a label made here is a product a classifier can know
from transforms.products import LEGACY_TARGET, name_problem

MAX_PRODUCTS = 100  # far more than a page can key; keeps a runaway client from growing the list forever


def is_product(name: object) -> bool:
    return name_problem(name) is None


def sidecar_path(index: str) -> str:
    """Where the product list of the crops.jsonl at `index` is kept: NAME.products.json beside it."""
    return index.removesuffix(".jsonl") + ".products.json"


def parse_sidecar(text: str) -> list[str]:
    """The products in a sidecar's text; ValueError saying what is wrong with it."""
    try:
        value = json.loads(text)
    except ValueError as e:
        raise ValueError(f"not JSON ({e})") from None
    names = value.get("products") if isinstance(value, dict) else None
    if not isinstance(names, list):
        raise ValueError('expected {"products": ["name", ...]}')
    for name in names:
        if problem := name_problem(name):
            raise ValueError(problem)
    return names


def sidecar_text(products: Iterable[str]) -> str:
    return json.dumps({"products": list(products)}, indent=1) + "\n"


def named_by(records: list[dict]) -> list[str]:
    """The products crops.jsonl rows name: their labels first (what people have used), then the scan's
    predictions."""
    return [value for fields in (("label",), ("product", "predicted")) for r in records for f in fields
            if is_product(value := r.get(f))]


def product_list(*sources: Iterable[str]) -> tuple[str, ...]:
    """The sources' products in order, each once; the legacy single product when none names one."""
    names = tuple(dict.fromkeys(name for source in sources for name in source))
    return names or (LEGACY_TARGET,)
