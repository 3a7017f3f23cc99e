"""A commit in a process of its own, for tests/transforms/test_commit_log.py to kill or race.

    python -m tests.transforms.commit_child OUTPUT SCAN_ID RUN STAGED_JSON [--kill STEP] [--pause STEP DIR]
                                           [--barrier DIR N] [--wait S] [--ttl S]

--kill STEP: os._exit once that step of commit_log.COMMIT_STEPS is done, as a killed worker would.
--pause STEP DIR: at that step, write DIR/paused-RUN and wait for DIR/go.
--barrier DIR N: write DIR/ready-RUN, wait until N such files exist, then commit (released together).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from transforms.commit_log import commit


def _wait_for(condition) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the test never released this commit")
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("output"), parser.add_argument("scan_id"), parser.add_argument("run")
    parser.add_argument("staged")
    parser.add_argument("--kill")
    parser.add_argument("--pause", nargs=2)
    parser.add_argument("--barrier", nargs=2)
    parser.add_argument("--wait", type=float, default=60.0)
    parser.add_argument("--ttl", type=float, default=600.0)
    args = parser.parse_args()

    def on_step(name: str) -> None:
        if name == args.kill:
            os._exit(0)  # no cleanup, no finally: as kill -9 (exit 0, so only the files tell)
        if args.pause and name == args.pause[0]:
            folder = Path(args.pause[1])
            (folder / f"paused-{args.run}").touch()
            _wait_for((folder / "go").exists)

    if args.barrier:
        folder, count = Path(args.barrier[0]), int(args.barrier[1])
        (folder / f"ready-{args.run}").touch()
        _wait_for(lambda: len(list(folder.glob("ready-*"))) >= count)
    commit(args.output, args.scan_id, args.run, json.loads(args.staged), wait_s=args.wait, ttl_s=args.ttl,
           on_step=on_step)


if __name__ == "__main__":
    main()
