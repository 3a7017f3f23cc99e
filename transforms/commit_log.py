"""A scan's Parquet result is what its latest commit record names: the commit protocol and its readers.

Layout under OUTPUT (docs/COMMIT.md has the protocol as a state table, and what a kill at each step
leaves):
  _staging/scan_id=ID/RUN/{_started.json, summaries/, failures/}   a run's files while it writes
  {summaries,failures}/scan_id=ID/part-RUN-*.parquet               the committed run's files
  _commits/scan_id=ID/NNNNNNNNNN.json                              commit records, created once each
  _commits/scan_id=ID/lease                                        one committer at a time

A commit, under the scan's lease: bring the folders to the latest record (finishing or undoing what a
killed commit left), move the new run's files in beside the old ones, create the next record naming
exactly the new files of both tables (the commit point), delete everything else in the folders (the
roll-forward). Shelfscan readers resolve files through the latest record, so they see one run at
every instant; plain readers of the folders (pandas, DuckDB) see one run once the roll-forward is done,
which `recover` finishes for any later shelfscan command. Nothing here imports Beam.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from typing import Callable

from transforms.object_store import Exists, LocalStore, store_for
from transforms.scan_lease import LEASE_TTL_S, LEASE_WAIT_S, LeaseBusy, lease_for

TABLES = ("summaries", "failures")
STAGING = "_staging"
COMMITS = "_commits"
STARTED = "_started.json"  # a run's staging marker: a staging folder without one belongs to no live run
STAGING_LIFETIME_S = 86400.0  # a run's staging older than this is a dead run's (as BigQuery's staging tables)
MAX_SCAN_ID = 128
# The test hook's step names, in order: commit(on_step=...) is called with each once it is done.
COMMIT_STEPS = ("leased", "recovered", "moved_one_summaries", "moved_summaries", "moved_one_failures",
                "moved_failures", "recorded", "cleaned_summaries", "cleaned_failures", "staging_cleared")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_RECORD = re.compile(r"^(\d{10})\.json$")


def check_scan_id(scan_id: str) -> str:
    """The scan_id if it is one safe path segment (letters, digits, - _ .); ValueError otherwise."""
    if not _SAFE_NAME.fullmatch(scan_id) or scan_id in (".", "..") or len(scan_id) > MAX_SCAN_ID:
        raise ValueError(
            f"--scan_id {scan_id[:140]!r} is not a safe name: use up to {MAX_SCAN_ID} letters, digits, "
            "'-', '_' or '.' (not '.' or '..'), e.g. store12-2026-11-24")
    return scan_id


def is_result_file(path: str) -> bool:
    """A finished Parquet file of a scan: not staged, not a Beam temp shard, not hidden."""
    parts = path.replace("\\", "/").split("/")
    return parts[-1].endswith(".parquet") and not any(
        part.startswith(("_", ".", "beam-temp-")) for part in parts if part)


@dataclasses.dataclass(frozen=True)
class CommitRecord:
    """One commit of a scan: run `run` is the scan's result, exactly these files (relative to OUTPUT)."""

    scan_id: str
    seq: int
    run: str
    files: dict  # table -> tuple of paths relative to OUTPUT, '/'-separated

    def to_json(self) -> bytes:
        return json.dumps({"scan_id": self.scan_id, "seq": self.seq, "run": self.run,
                           "committed_at": time.time(), "files": {t: list(self.files[t]) for t in TABLES}},
                          indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "CommitRecord":
        d = json.loads(data)
        return cls(d["scan_id"], d["seq"], d["run"], {t: tuple(d["files"][t]) for t in TABLES})


class _Scan:
    """Where one scan's folders, records, lease and staging are under OUTPUT."""

    def __init__(self, output: str, scan_id: str):
        self.store, self.output, self.scan_id = store_for(output), output.rstrip("/"), check_scan_id(scan_id)
        self.commits = self.path(COMMITS, f"scan_id={scan_id}")
        self.staging = self.path(STAGING, f"scan_id={scan_id}")

    def path(self, *relative: str) -> str:
        return self.store.join(self.output, *relative)

    def folder(self, table: str) -> str:
        return self.path(table, f"scan_id={self.scan_id}")

    def relative(self, path: str) -> str:
        return path[len(self.output):].replace(os.sep, "/").strip("/")

    def record_path(self, seq: int) -> str:
        return self.store.join(self.commits, f"{seq:010d}.json")

    def seqs(self) -> list[int]:
        names = (p.replace("\\", "/").rsplit("/", 1)[-1] for p in self.store.list(self.commits))
        return sorted(int(m.group(1)) for m in map(_RECORD.match, names) if m)

    def latest(self) -> CommitRecord | None:
        """The latest record; a reader that loses a race with the deletion of an old one lists again."""
        for _ in range(5):
            seqs = self.seqs()
            if not seqs:
                return None
            data = self.store.read(self.record_path(seqs[-1]))
            if data is not None:
                return CommitRecord.from_json(data)
        raise OSError(f"the commit log {self.commits} kept changing while it was read; try again")

    def listed(self, table: str) -> list[str]:
        return self.store.list(self.folder(table))

    def lease(self, wait_s: float, ttl_s: float = LEASE_TTL_S):
        return lease_for(self.store, self.store.join(self.commits, "lease"), wait_s, ttl_s)


def committed_files(output: str, table: str, scan_id: str) -> list[str]:
    """The files of `table` that make up the scan's result: those its latest commit record names.

    A scan written before the commit log existed has no record: then the finished files its folder holds.
    """
    scan = _Scan(output, scan_id)
    record = scan.latest()
    if record is None:
        return [p for p in scan.listed(table) if is_result_file(scan.relative(p))]
    return [scan.path(*rel.split("/")) for rel in record.files[table]]


def scan_ids(output: str, table: str) -> list[str]:
    """The scans with a folder under OUTPUT/table."""
    store, root = store_for(output), output.rstrip("/")
    found = set()
    for path in store.list(store.join(root, table)):
        parts = path[len(root):].replace(os.sep, "/").strip("/").split("/")
        if len(parts) > 2 and parts[1].startswith("scan_id=") and _SAFE_NAME.fullmatch(parts[1][8:]):
            found.add(parts[1][8:])
    return sorted(found)


def committed_in_folder(folder: str) -> list[str] | None:
    """Files of a folder OUTPUT/TABLE/scan_id=ID or OUTPUT/TABLE as the commit log says (recovering
    first), or None if the folder is no such part of an output that has a commit log."""
    parts = folder.replace("\\", "/").rstrip("/").split("/")
    if len(parts) >= 3 and parts[-1].startswith("scan_id=") and parts[-2] in TABLES:
        output, table, ids = "/".join(parts[:-2]) or ".", parts[-2], [parts[-1][8:]]
    elif len(parts) >= 2 and parts[-1] in TABLES:
        output, table = "/".join(parts[:-1]) or ".", parts[-1]
        ids = scan_ids(output, table)
    else:
        return None
    store = store_for(output)
    if not store.list(store.join(output, COMMITS)):
        return None
    for scan_id in ids:
        recover(output, scan_id)
    return sorted(f for scan_id in ids for f in committed_files(output, table, scan_id))


def _prune_local(store, folder: str, keep_root: bool = True) -> None:
    """Remove empty directories (beam-temp-*, staging runs) left below a local folder."""
    if not isinstance(store, LocalStore) or not os.path.isdir(folder):
        return
    for root, _, _ in sorted(os.walk(folder), key=lambda w: -len(w[0])):
        if root != folder or not keep_root:
            try:
                os.rmdir(root)
            except OSError:
                pass  # not empty


def _apply(scan: _Scan, record: CommitRecord, spare_run: str | None = None,
           step: Callable[[str], None] | None = None) -> int:
    """Make the scan's folders hold exactly the record's files: a roll-forward for the record's run, a
    roll-back of whatever a run killed before its record moved in. Files of `spare_run` (the commit in
    progress, retried) stay. Returns how many files went."""
    removed = 0
    for table in TABLES:
        keep = set(record.files[table])
        for path in scan.listed(table):
            rel = scan.relative(path)
            if rel not in keep and not (spare_run and rel.rsplit("/", 1)[-1].startswith(f"part-{spare_run}-")):
                scan.store.delete(path)
                removed += 1
        _prune_local(scan.store, scan.folder(table))
        if step:
            step(f"cleaned_{table}")
    return removed


def _clear_staging(scan: _Scan, done_runs: set[str]) -> None:
    """Delete the staging of committed runs and of dead ones (no marker, or older than a day); a live
    run of the same scan, still writing, keeps its own."""
    by_run: dict[str, list[str]] = {}
    for path in scan.store.list(scan.staging):
        by_run.setdefault(path[len(scan.staging):].replace(os.sep, "/").strip("/").split("/")[0], []).append(path)
    for run, paths in by_run.items():
        marker = scan.store.read(scan.store.join(scan.staging, run, STARTED))
        started = json.loads(marker).get("started", 0) if marker else None
        if run in done_runs or started is None or time.time() - started > STAGING_LIFETIME_S:
            for path in sorted(paths, key=lambda p: p.endswith(STARTED)):  # the marker last
                scan.store.delete(path)
    _prune_local(scan.store, scan.staging, keep_root=False)
    _prune_local(scan.store, scan.path(STAGING), keep_root=False)


def _create_record(scan: _Scan, record: CommitRecord) -> CommitRecord:
    try:
        scan.store.create_new(scan.record_path(record.seq), record.to_json())
    except Exists:  # only if a lease was lost: the log itself lets one of two writers through
        raise RuntimeError(f"commit record {scan.record_path(record.seq)} was written by another run at the "
                           "same time; this run's result was not committed; re-run the scan") from None
    for seq in scan.seqs():
        if seq < record.seq - 1:  # keep the one before, for a reader that listed just before this
            scan.store.delete(scan.record_path(seq))
    return record


def begin_run(output: str, scan_id: str, run: str) -> None:
    """Mark run `run` as live before it stages anything, so another run's commit leaves its staging be."""
    scan = _Scan(output, scan_id)
    try:
        scan.store.create_new(scan.store.join(scan.staging, check_scan_id(run), STARTED),
                              json.dumps({"run": run, "started": time.time()}).encode())
    except Exists:
        pass  # a retried bundle


def _in_order(scan: _Scan, record: CommitRecord) -> bool:
    """Whether the folders already hold exactly the record's files (nothing to recover)."""
    return all(sorted(map(scan.relative, scan.listed(t))) == sorted(record.files[t]) for t in TABLES)


def recover(output: str, scan_id: str, wait_s: float = 0.0) -> bool:
    """Finish what a killed commit left: the folders to the latest record, dead staging cleared.

    Takes the lease only when there is something to do; False if another run holds it (that run
    brings the folders in order itself).
    """
    scan = _Scan(output, scan_id)
    record = scan.latest()
    if record is None or _in_order(scan, record):
        return True
    lease = scan.lease(wait_s)
    if not lease.acquire():
        return False
    try:
        record = scan.latest()
        _apply(scan, record)
        _clear_staging(scan, {record.run})
    finally:
        lease.release()
    return True


def _move_in(scan: _Scan, table: str, run: str, staged: list[str], step: Callable[[str], None]) -> list[str]:
    """Move staged files into the scan's folder as part-RUN-*; a retry finds some moved already."""
    moved = []
    for i, source in enumerate(sorted(staged)):
        base = source.replace("\\", "/").rsplit("/", 1)[-1]
        target = scan.store.join(scan.folder(table), f"part-{run}-{base.removeprefix('part-')}")
        if scan.store.exists(source):
            scan.store.move(source, target)
        elif not scan.store.exists(target):
            raise OSError(f"staged file {source} vanished before it was committed (a run of the same scan "
                          "held it for more than a day?); re-run the scan")
        moved.append(scan.relative(target))
        if i == 0:
            step(f"moved_one_{table}")
    step(f"moved_{table}")
    return moved


def commit(output: str, scan_id: str, run: str, staged: dict[str, list[str]], *,
           wait_s: float = LEASE_WAIT_S, ttl_s: float = LEASE_TTL_S,
           on_step: Callable[[str], None] | None = None) -> int:
    """Make run `run`'s staged files (table -> paths) the scan's result; returns how many files went.

    wait_s: how long to wait for another run's commit; ttl_s: how long a gs:// lease outlives a
    holder that stopped renewing it.
    on_step: a test hook, called with each name of COMMIT_STEPS once that step is done (a test kills
    the process or raises there).
    """
    scan = _Scan(output, scan_id)
    check_scan_id(run)
    lease = scan.lease(wait_s, ttl_s)
    if not lease.acquire():
        raise LeaseBusy(f"scan {scan_id!r} under {output} is being committed by {lease.holder()} (lease "
                        f"{lease.path}); this run's files stay staged; re-run once that run is done")

    def step(name: str) -> None:
        lease.renew()
        if on_step:
            on_step(name)

    try:
        step("leased")
        latest = scan.latest()
        if latest is not None and latest.run == run:  # retried after its commit point: roll forward only
            removed = _apply(scan, latest, step=step)
            _clear_staging(scan, {run})
            return removed
        if latest is None:  # output written before the log existed: adopt what the folders hold
            latest = _create_record(scan, CommitRecord(scan_id, 0, "adopted", {
                t: tuple(sorted(r for r in map(scan.relative, scan.listed(t)) if is_result_file(r)))
                for t in TABLES}))
        _apply(scan, latest, spare_run=run)
        step("recovered")
        files = {t: tuple(_move_in(scan, t, run, staged.get(t, []), step)) for t in TABLES}
        record = _create_record(scan, CommitRecord(scan_id, latest.seq + 1, run, files))
        step("recorded")
        removed = _apply(scan, record, step=step)
        _clear_staging(scan, {run, latest.run})
        step("staging_cleared")
        return removed
    finally:
        lease.release()
