"""The ground truth of a models.synth output: truth.jsonl, one record per image (docs/CONTRACTS.md)."""
from __future__ import annotations

import json
from pathlib import Path


def read_truth(path: str | Path) -> list[dict]:
    """The records of a truth.jsonl (or of DIR/truth.jsonl when given a directory)."""
    path = Path(path)
    folder = path.parent if path.name == "truth.jsonl" else path
    path = folder / "truth.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; generate scenes with `python -m models.synth --out "
                                f"{folder} --count N --seed S --crops`")
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]
