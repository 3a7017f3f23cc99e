"""Benchmark: the scan's peak memory (RSS) on DirectRunner for few and many inputs, small and large.

    python -m pipeline.bench_memory [--work DIR] [--code CHECKOUT] [--cases small:100,small:2000,large:200]

Each case runs `python -m pipeline.run` over generated images in a process of its own, with the bundled
models, and reports that process's peak resident memory. Memory bounded by one image at a time stays
flat from 100 to 2,000 inputs; the large case shows what a batch of 12 MP photos costs. `--code` runs an
other checkout (e.g. an older commit, unpacked) on the same images, for a before/after comparison.
Prints one JSON line per case.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = {"small": (96, 128), "large": (3000, 4000)}  # height, width; large: a 12 MP phone photo


def make_images(folder: Path, kind: str, count: int) -> Path:
    """`count` JPEGs of `kind` in folder/KIND-COUNT (kept, so runs compare on the same files)."""
    from PIL import Image

    target = folder / f"{kind}-{count}"
    if target.is_dir() and len(list(target.glob("*.jpg"))) == count:
        return target
    target.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    height, width = SIZES[kind]
    base = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    for i in range(count):
        noise = rng.integers(0, 40, (height // 8, width // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
        pixels = (base + noise[:height, :width]).clip(0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(target / f"{i:05d}.jpg", quality=90)
    return target


@dataclasses.dataclass(frozen=True)
class ChildRun:
    """A finished child process: its stdout, the tail of its stderr, peak RSS, wall time, exit status,
    and the CPU seconds it used (user + system, its own children included)."""

    stdout: str
    stderr_tail: str
    peak_rss_mb: float
    wall_s: float
    status: int
    cpu_s: float = 0.0


def run_child(args: list[str], code: Path, env: dict[str, str] | None = None) -> ChildRun:
    """Run `args` in `code` with only it on PYTHONPATH and TF quiet; outputs go through temp files, so a
    chatty child never blocks on a full pipe while we wait for its resource usage."""
    env = {**os.environ, "PYTHONPATH": str(code), "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        child = subprocess.Popen(args, cwd=code, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.monotonic() - started
        out.seek(0), err.seek(0)
        return ChildRun(out.read().decode(errors="replace"), err.read().decode(errors="replace")[-2000:],
                        usage.ru_maxrss / 1024, wall, os.waitstatus_to_exitcode(status),  # ru_maxrss: KiB
                        usage.ru_utime + usage.ru_stime)


def peak_rss_mb(code: Path, images: Path, out: Path) -> tuple[float, float, int]:
    """Run the scan in a child process; (its peak RSS in MB, wall seconds, exit status)."""
    done = run_child([sys.executable, "-m", "pipeline.run", "--input", str(images / "*.jpg"), "--output",
                      str(out), "--scan_id", "bench", "--no_progress"], code)
    if done.status != 0:
        print(f"scan exited {done.status}: {done.stderr_tail[-500:]}", file=sys.stderr)
    return done.peak_rss_mb, done.wall_s, done.status


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "shelfscan-bench-memory"),
                        help="Where the generated images (kept between runs) and outputs go.")
    parser.add_argument("--code", default=str(Path(__file__).resolve().parent.parent),
                        help="The checkout whose pipeline.run is measured. Default: this one.")
    parser.add_argument("--cases", default="small:100,small:2000,large:200",
                        help="Comma-separated KIND:COUNT, KIND small (96x128) or large (4000x3000).")
    args = parser.parse_args(argv)
    work = Path(args.work)
    for case in args.cases.split(","):
        kind, count = case.split(":")
        images = make_images(work / "images", kind, int(count))
        with tempfile.TemporaryDirectory(dir=work) as out:
            peak, wall, status = peak_rss_mb(Path(args.code), images, Path(out))
        print(json.dumps({"case": case, "inputs": int(count), "input_mb": round(sum(
            p.stat().st_size for p in images.glob("*.jpg")) / 2**20, 1), "peak_rss_mb": round(peak),
            "wall_s": round(wall, 1), "exit": status, "code": args.code}), flush=True)


if __name__ == "__main__":
    main()
