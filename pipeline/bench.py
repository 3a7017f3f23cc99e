"""Benchmark: where a scan's time goes, and the Beam scan beside a bare chain of the same functions and models;
or this checkout's scan beside another checkout's (--against).

    python -m pipeline.bench --synth phone:16     # 16 scenes of 4032x3024 (12 MP phone photos)
    python -m pipeline.bench --synth small:60     # 60 scenes sized as the bundled samples (median 0.5 MP)
    python -m pipeline.bench --images DIR         # any folder or glob, local or gs://
    python -m pipeline.bench --against /tmp/old --synth small:20   # this checkout's scan vs /tmp/old's
    [--repeat 2] [--work DIR] [scan options, e.g. --detector_batch_size 8]

Synthetic scenes (seed --seed) are generated once and kept under --work. Each side runs in a fresh process
of its own, the same way: imports, then the launcher's model check (every model loaded once to read its
metadata, as pipeline.run does before its job), then the timed part: getting the models (RunInference in
the scan, the same SlotModelHandler in the bare chain; both reuse the launcher's where the checkout does),
reading, decoding and scanning every image, writing the summaries to Parquet. Nothing else warms either side
up. With --repeat the sides alternate which goes first, and each side's fastest run (the least disturbed by
other work) is reported. Prints one JSON object, then a table: img/s of both, seconds per image in each stage,
Beam's overhead, the pure model-call time, peak memory and bottles per image.

--against DIR runs `python -m pipeline.run` of this checkout and of DIR (another checkout, e.g. `git worktree
add /tmp/old 763de77`), each in a fresh process with only its own code on PYTHONPATH and as its cwd, on the
same photos, interleaved. It prints img/s of each (the whole command, as a user waits for it, and its Beam job
alone) and their ratio, detector views per photo, peak memory, and bottle recall and precision (IoU 0.5)
where the photos have truth (synthetic scenes, or --truth).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pipeline.bench_memory import ChildRun, run_child
from pipeline.bench_report import against_table, summarize, summarize_against, table
from pipeline.help_format import DefaultsHelpFormatter

CODE = Path(__file__).resolve().parent.parent
SYNTH = {"phone": (4032, 3024), "small": None}  # kind -> fixed size, or None: sizes as the samples


def synth_images(work: Path, spec: str, seed: int) -> tuple[str, str]:
    """Generate (once) the scenes `spec` (KIND:COUNT) names; their glob and their truth.jsonl."""
    from models.synth.generator import generate
    from models.synth.truth import read_truth

    kind, _, count = spec.partition(":")
    if kind not in SYNTH or not count.isdigit():
        raise SystemExit(f"--synth {spec!r}: expected KIND:COUNT with KIND one of {sorted(SYNTH)}, e.g. phone:16")
    folder = work / "synth" / f"{kind}-{count}-seed{seed}"
    if not (folder / "truth.jsonl").is_file() or len(read_truth(folder)) != int(count):
        print(f"generating {count} {kind} scenes (seed {seed}) in {folder} ...", file=sys.stderr, flush=True)
        generate(folder, int(count), seed, size=SYNTH[kind])
    return str(folder / "images" / "*.jpg"), str(folder / "truth.jsonl")


def image_glob(images: str) -> str:
    """A folder means every file in it; anything else is a glob (local or gs://)."""
    return os.path.join(images, "*") if "://" not in images and os.path.isdir(images) else images


def machine_busy_s() -> float | None:
    """CPU seconds every process on this machine has used since boot (Linux /proc/stat), else None."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # user .. steal; guest time is in user


def measured_child(side: str, args: list[str], code: Path) -> tuple[ChildRun, dict]:
    """Run one side's child process in `code`; it, and its peak memory, the whole command's wall time and
    the share of the machine's CPU that other processes took meanwhile (None where it cannot be read)."""
    busy_before = machine_busy_s()
    done = run_child(args, code)
    busy_after = machine_busy_s()
    if done.status != 0:
        raise SystemExit(f"the {side} side ({code}) exited {done.status}:\n{done.stderr_tail}")
    others = None
    if busy_before is not None and busy_after is not None:
        others = max(0.0, busy_after - busy_before - done.cpu_s) / (done.wall_s * (os.cpu_count() or 1))
    return done, {"peak_rss_mb": round(done.peak_rss_mb), "command_s": round(done.wall_s, 2),
                  "others_cpu_share": None if others is None else round(others, 3)}


def run_side(side: str, pattern: str, scan_args: list[str], out: Path) -> dict:
    """One side of the bare-chain comparison in a child process: its JSON line and measured_child's figures."""
    args = [sys.executable, "-m", "pipeline.bench", "--side", side, "--images", pattern, *scan_args,
            "--output", str(out), "--scan_id", f"bench-{side}"]
    done, figures = measured_child(side, args, CODE)
    return {**json.loads(done.stdout.strip().splitlines()[-1]), **figures}


def run_checkout(side: str, code: Path, pattern: str, scan_args: list[str], out: Path, truth: str | None) -> dict:
    """`python -m pipeline.run` of the checkout `code` in a child process: what its job counted, measured_child's
    figures, and its bottle recall and precision when there is `truth`."""
    from pipeline.bench_side import SCAN_PROBE, detection_scores

    shutil.rmtree(out, ignore_errors=True)  # each run writes a fresh output: its scores are its own
    out.mkdir(parents=True)
    counted = out / "counted.json"
    args = [sys.executable, "-c", SCAN_PROBE, str(counted), "--input", pattern, *scan_args,
            "--output", str(out), "--scan_id", "bench", "--no_progress"]
    _, figures = measured_child(side, args, code)
    found = json.loads(counted.read_text())
    if found["code"] is None or Path(found["code"]).resolve() != code.resolve():
        raise SystemExit(f"the {side} side ran the code in {found['code']}, not {code}; is shelfscan installed "
                         "there in a way that wins over PYTHONPATH?")
    scores = detection_scores(truth, str(out / "summaries" / "scan_id=bench")) if truth else {}
    return {"side": side, "code": str(code), "commit": commit_of(code), **found, **figures, **scores}


def commit_of(code: Path) -> str | None:
    """The checkout's commit (short, "-dirty" with changes not committed), or None where it is no git checkout."""
    done = subprocess.run(["git", "-C", str(code), "describe", "--always", "--dirty", "--abbrev=7"],
                          capture_output=True, text=True)
    return done.stdout.strip() or None if done.returncode == 0 else None


def checkout(path: str) -> Path:
    """--against's DIR, once it is known to hold a shelfscan checkout."""
    code = Path(path).expanduser().resolve()
    if not (code / "pipeline" / "run.py").is_file():
        raise SystemExit(f"--against {path}: no pipeline/run.py there; give the root of another shelfscan checkout "
                         "(e.g. git worktree add /tmp/old 763de77)")
    return code


def read_once(pattern: str) -> int:
    """Read every input once, so neither side is the first to pull the files into the page cache."""
    from transforms.read import match_entries

    entries = match_entries(pattern)
    for entry in entries:
        with open(entry.path, "rb") if "://" not in entry.path else _remote(entry.path) as f:
            while f.read(1 << 20):
                pass
    return len(entries)


def _remote(path: str):
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.open(path, compression_type="uncompressed")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.bench", description=__doc__.split("\n\n")[0],
                                     epilog="Any other option is a scan option (python -m pipeline.run --help) "
                                            "and applies to both sides.",
                                     formatter_class=DefaultsHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", help="A folder or glob of images (local or gs://).")
    source.add_argument("--synth", help="KIND:COUNT synthetic scenes: phone (4032x3024) or small (as the samples).")
    parser.add_argument("--seed", type=int, default=4242, help="Seed of the synthetic scenes (never trained on).")
    parser.add_argument("--repeat", type=int, default=None,
                        help="Runs of each side (default 1; 2 with --against, so each side goes first once); the "
                             "figures are each side's fastest run, every run's img/s is listed.")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "shelfscan-bench"),
                        help="Where synthetic scenes (kept between runs) and outputs go.")
    parser.add_argument("--against", metavar="DIR",
                        help="Another shelfscan checkout: compare its scan with this one's instead of the bare chain.")
    parser.add_argument("--truth", help="With --against: truth.jsonl or COCO instances.json of --images, for recall "
                                        "and precision (synthetic scenes bring their own).")
    parser.add_argument("--side", choices=("bare", "scan"), help=argparse.SUPPRESS)  # a child's one side
    args, scan_args = parser.parse_known_args(argv)
    if args.side:
        from pipeline.bench_side import measure_side

        print(json.dumps(measure_side(args.side, args.images, scan_args)))
        return
    other = checkout(args.against) if args.against else None
    repeat = args.repeat or (2 if other else 1)
    work = Path(args.work)
    pattern, truth = synth_images(work, args.synth, args.seed) if args.synth else (image_glob(args.images), None)
    truth = args.truth or truth
    if truth and not os.path.exists(truth):
        raise SystemExit(f"--truth {truth}: no such file")
    count = read_once(pattern)
    if not count:
        raise SystemExit(f"{pattern} matches no file")
    sides = ("this", "against") if other else ("bare", "scan")
    runs = []
    for i in range(repeat):
        for side in sides if i % 2 == 0 else sides[::-1]:
            print(f"run {i + 1}/{repeat}: {side} ...", file=sys.stderr, flush=True)
            if other:
                run = run_checkout(side, CODE if side == "this" else other, pattern, scan_args, work / side, truth)
            else:
                run = run_side(side, pattern, scan_args, work / "out")
            runs.append({**run, "repeat": i})
    machine = {"cpus": os.cpu_count(), "load_avg_1m_at_end": round(os.getloadavg()[0], 2)}
    result = summarize_against(pattern, count, runs, machine) if other else summarize(pattern, runs, machine)
    print(json.dumps(result, indent=2))
    print()
    print(against_table(result) if other else table(result))
    sys.stdout.flush()

if __name__ == "__main__":
    main()
