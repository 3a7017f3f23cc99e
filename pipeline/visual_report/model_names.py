"""Which models made a scan, by name: rows carry only versions (content hashes or handles)."""
from __future__ import annotations

import functools

SLOTS = ("detector", "classifier", "segmenter")
DEMO = "demo"  # the built-in classifier that knows only the synthetic brand


@functools.lru_cache(maxsize=64)
def name(slot: str, version: str) -> str | None:
    """The built-in name of the model with this version, or None for the user's own model."""
    from models.slots import builtin_named  # hashes the built-ins' files: only when a report asks

    return builtin_named(slot, version)


def label(slot: str, version: str) -> str:
    """'demo (sha256:...)' for a built-in, 'your model sha256:...' otherwise."""
    named = name(slot, version)
    return f"{named} ({version})" if named else f"your own ({version})"


def versions_by_slot(versions: set[tuple[str, str, str]]) -> list[dict[str, str]]:
    """One {slot: version} per distinct model combination the rows carry."""
    return [dict(zip(SLOTS, v)) for v in sorted(versions)]


def demo_classifier(versions: set[tuple[str, str, str]]) -> bool:
    """Whether any row was classified by the demo classifier."""
    return any(name("classifier", classifier) == DEMO for _, classifier, _ in versions)
