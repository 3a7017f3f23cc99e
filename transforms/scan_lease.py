"""One writer at a time per scan: the lease a commit (or a recovery) holds on OUTPUT/_commits/scan_id=ID/.

Locally it is an exclusive `flock` on a lock file: the kernel drops it when the holder dies, so a
crashed commit never blocks the next. On gs:// it is an object created only if absent
(`if_generation_match=0`) that says who holds it until when; the holder renews it between steps, a
waiter may delete it (again by generation, so only one waiter wins) once it has expired.
"""
from __future__ import annotations

import json
import os
import socket
import time
import uuid

from transforms.object_store import Exists, GcsStore, LocalStore

LEASE_TTL_S = 600.0  # a gs:// lease not renewed for this long is taken to be a dead holder's
LEASE_WAIT_S = 900.0  # how long a second run waits for the first one's commit before giving up
_POLL_S = 0.2


class LeaseBusy(RuntimeError):
    """Another run holds the scan's lease (and did not let go within the wait)."""


class LeaseLost(RuntimeError):
    """The holder's gs:// lease expired and another run took it: this run must stop writing."""


class LocalLease:
    """An exclusive flock on `path`, taken within `wait_s` seconds."""

    def __init__(self, path: str, wait_s: float = LEASE_WAIT_S):
        self.path, self._wait_s, self._fd = path, wait_s, None

    def acquire(self) -> bool:
        """Take the lease, waiting up to wait_s; False if it stayed busy."""
        import fcntl

        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self._wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(_POLL_S)

    def renew(self) -> None:
        """Nothing to do: the kernel holds a flock for as long as the holder lives."""

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays (deleting it would race)
            self._fd = None

    def holder(self) -> str:
        return "another process on this machine"


class GcsLease:
    """An object at `path`, created if absent, holding {holder, expires}; renewed by generation."""

    def __init__(self, store: GcsStore, path: str, wait_s: float = LEASE_WAIT_S, ttl_s: float = LEASE_TTL_S):
        self.path, self._store, self._wait_s, self._ttl_s = path, store, wait_s, ttl_s
        self._me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._generation: int | None = None
        self._renewed = 0.0
        self._seen = ""

    def _body(self) -> bytes:
        return json.dumps({"holder": self._me, "expires": time.time() + self._ttl_s}).encode()

    def acquire(self) -> bool:
        deadline = time.monotonic() + self._wait_s
        while True:
            try:
                self._generation = self._store.create_new(self.path, self._body())
                self._renewed = time.monotonic()
                return True
            except Exists:
                current = self._store.generation(self.path)
                if current is not None:
                    generation, data = current
                    lease = json.loads(data or b"{}")
                    self._seen = f"{lease.get('holder')} until {time.ctime(lease.get('expires', 0))}"
                    if lease.get("expires", 0) < time.time():  # a dead holder's; only one waiter deletes it
                        self._store.delete_if(self.path, generation)
                        continue
                if time.monotonic() >= deadline:
                    return False
                time.sleep(_POLL_S)

    def renew(self) -> None:
        """Push the expiry out (at most every third of the TTL); LeaseLost if another run took it."""
        if time.monotonic() - self._renewed < self._ttl_s / 3:
            return
        generation = self._store.replace_if(self.path, self._body(), self._generation)
        if generation is None:
            raise LeaseLost(f"lease {self.path} expired and was taken by another run; this commit stopped "
                            "before touching the scan again; re-run the scan")
        self._generation, self._renewed = generation, time.monotonic()

    def release(self) -> None:
        if self._generation is not None:
            self._store.delete_if(self.path, self._generation)
            self._generation = None

    def holder(self) -> str:
        return self._seen or "another run"


def lease_for(store: LocalStore | GcsStore, path: str, wait_s: float = LEASE_WAIT_S,
              ttl_s: float = LEASE_TTL_S) -> LocalLease | GcsLease:
    return GcsLease(store, path, wait_s, ttl_s) if isinstance(store, GcsStore) else LocalLease(path, wait_s)
