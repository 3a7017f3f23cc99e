"""Benchmark: how long each command takes to print its --help, and whether it loads Beam to do so.

    python -m pipeline.bench_startup [--repeat 3] [--command models.build ...]

Each command runs as `python -m COMMAND --help` in a fresh process, `--repeat` times; the fastest run
(the least disturbed by other work) and the median are printed. A separate run of each tells whether
apache_beam was imported on the way. Prints one JSON object, then a table.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CODE = Path(__file__).resolve().parent.parent
COMMANDS = ("pipeline.run", "pipeline.report", "pipeline.evaluate", "pipeline.bench", "models.train_classifier",
            "models.build", "models.synth", "models.evaluation", "models.label")
# --help as `python -m` runs it, then one line saying whether apache_beam is loaded by then
_PROBE = ("import atexit, runpy, sys; atexit.register(lambda: print('apache_beam' in sys.modules, file=sys.stderr)); "
          "sys.argv = [{command!r}, '--help']; runpy.run_module({command!r}, run_name='__main__', alter_sys=True)")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(CODE), os.environ.get("PYTHONPATH")]))}


def help_seconds(command: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", command, "--help"], cwd=CODE, env=_env(), capture_output=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{command} --help failed (exit {done.returncode}): {done.stderr.decode()[-500:]}")
    return seconds


def loads_beam(command: str) -> bool:
    done = subprocess.run([sys.executable, "-c", _PROBE.format(command=command)], cwd=CODE, env=_env(),
                          capture_output=True, text=True)
    return done.stderr.strip().splitlines()[-1] == "True"


def measure(commands: list[str], repeat: int) -> dict:
    results = {}
    for command in commands:
        times = [help_seconds(command) for _ in range(repeat)]
        results[command] = {"fastest_s": round(min(times), 2), "median_s": round(statistics.median(times), 2),
                            "loads_beam": loads_beam(command)}
    return {"repeat": repeat, "commands": results, "load_avg_1m": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count()}


def table(result: dict) -> str:
    lines = [f"{'command':<26} {'fastest s':>9} {'median s':>9}  loads Beam"]
    for command, r in result["commands"].items():
        beam = "yes" if r["loads_beam"] else "no"
        lines.append(f"{command:<26} {r['fastest_s']:>9.2f} {r['median_s']:>9.2f}  {beam}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per command")
    parser.add_argument("--command", nargs="+", default=list(COMMANDS), help="the commands to time")
    args = parser.parse_args(argv)
    result = measure(args.command, args.repeat)
    print(json.dumps(result))
    print(table(result))


if __name__ == "__main__":
    main()
