"""The README's run command: no flags, the bundled samples and default models, into ./out."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.evaluate import read_summaries, score
from pipeline.options import SAMPLES

pytestmark = pytest.mark.slow


def test_no_flags_scans_the_samples_into_out(tmp_path):
    repo = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "pipeline.run"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    for word in ("images", "bottles", "targets", "failures", "wall time", "img/s", "output"):
        assert word in done.stdout
    (folder,) = (tmp_path / "out" / "summaries").iterdir()
    rows = read_summaries(str(folder))
    truth = [json.loads(line) for line in (SAMPLES / "truth.jsonl").read_text().splitlines()]
    assert len(rows) == len(truth)
    result = score(truth, rows)
    assert result["images"] == len(truth)
    # the default detector is COCO's, which finds about 0.69 of these synthetic bottles (docs/BENCHMARKS.md, "The
    # default models"); the synthetic detector finds about 0.9, but knows no real photo
    assert result["detection_precision"] > 0.85 and result["detection_recall"] > 0.6
    assert result["target_recall"] > 0.5
    assert "detector coco-fast, classifier demo, segmenter synthetic" in done.stdout
    assert "the demo classifier knows only the synthetic demo brand" in done.stdout
    assert _masked(done.stdout) == _masked(readme_output()), "the README's quick-start output is not what it prints"


VARYING = ("scan_id", "wall time", "throughput", "output", "report")  # the time it ran, how fast: all else must match


def readme_output() -> str:
    """The closing table the README shows under its run command."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    return re.search(r"<!-- run-output -->\n```\n(.*?)```", text, re.S).group(1)


def _masked(table: str) -> list[str]:
    """The table's rows with the numbers of the rows that vary from run to run replaced by #."""
    rows = []
    for line in table.strip().splitlines():
        key = line[:12].strip()
        rows.append(re.sub(r"[0-9TZ.:-]+", "#", line) if key in VARYING else line.rstrip())
    return rows
