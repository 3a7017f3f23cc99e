"""--help lists our options beside Beam's, with text a user understands."""
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each starts a process


def test_help_lists_scan_and_beam_options():
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "pipeline.run", "--help"], cwd=repo, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    for option in ("--input ", "--output ", "--detector ", "--scan_id ", "--skip_scanned", "--modified_after",
                   "--runner ", "--direct_num_workers", "--dataflow_service_options", "--sdk_container_image"):
        assert option in done.stdout, option
    assert "A folder (every image under it" in done.stdout
    out = done.stdout
    headings = [out.index(h) for h in ("examples:", "\ninput: which photos:", "\nmodels:", "\nslicing:",
                                        "\noutput:", "\nruntime:", "\nBeam and runner options")]
    assert headings == sorted(headings), "ours first, in their groups, then Beam's under its own heading"
    assert out.index("--input ") < out.index("--runner ") and out.count("python -m pipeline.run --input") == 3


COMMANDS = {  # command -> an option with a default that --help must show
    "pipeline.run": ("--area_ratio_tolerance", "(default: 1.5)"),
    "pipeline.report": ("--report_path", None),
    "pipeline.evaluate": (None, None),
    "pipeline.bench": ("--seed", "(default: 4242)"),
    "pipeline.bench_decode": ("--rounds", "(default: 3)"),
    "pipeline.bench_startup": ("--repeat", "(default: 3)"),
    "pipeline.bench_views": ("--detector", "(default: coco)"),
    "pipeline.bench_classifiers": ("--batch_size", "(default: 32)"),
    "models.train_classifier": ("--val_fraction", "(default: 0.15)"),
    "models.label": ("--port", "(default: 8765)"),
    "models.synth": (None, None),
    "models.build": (None, None),
    "models.evaluation": (None, None),
}


def test_every_command_shows_its_defaults():
    repo = Path(__file__).resolve().parents[2]
    for command, (option, shown) in COMMANDS.items():
        done = subprocess.run([sys.executable, "-m", command, "--help"], cwd=repo, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
        assert "(default: " in done.stdout, f"{command} --help shows no defaults"
        if shown:
            block = done.stdout[done.stdout.index("\n  " + option) + 1:].split("\n  -")[0]
            assert shown in " ".join(block.split()), f"{command}: {block}"
    train = subprocess.run([sys.executable, "-m", "models.train_classifier", "--help"], cwd=repo,
                           capture_output=True, text=True, timeout=120).stdout
    assert "shelfscan/embeddings" in " ".join(train.split())
