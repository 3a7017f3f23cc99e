"""Run a function on the next few items in worker threads while the caller works on earlier results:
decoding overlaps inference. Results come back in input order; at most `depth` wait at a time."""
from __future__ import annotations

import collections
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")

AHEAD_PER_THREAD = 2  # one being worked on, one done and waiting, per thread


def auto_threads(threads: int | None) -> int:
    """None: half this machine's CPUs, at least one (the other half runs the models). 0: no threads."""
    return max(1, (os.cpu_count() or 2) // 2) if threads is None else threads


class Lookahead(Generic[In, Out]):
    """fn over items, `threads` at a time, each result handed back with the tag it was put with.

    With 0 threads fn runs in the caller's thread, one item at a time. Exceptions fn raises come back
    out of put/drain in the caller's thread, as if it had called fn itself.
    """

    def __init__(self, fn: Callable[[In], Out], threads: int):
        self._fn = fn
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="lookahead") if threads > 0 else None
        self._depth = threads * AHEAD_PER_THREAD
        self._pending: collections.deque[tuple[Any, Future]] = collections.deque()

    def put(self, item: In, tag: Any = None) -> list[tuple[Any, Out]]:
        """Start on `item`; returns the results now due, in order: the finished ones at the front, and the
        oldest (waiting for it) while more than `depth` are in flight."""
        if self._pool is None:
            return [(tag, self._fn(item))]
        self._pending.append((tag, self._pool.submit(self._fn, item)))
        due = []
        while len(self._pending) > self._depth or (self._pending and self._pending[0][1].done()):
            done_tag, future = self._pending.popleft()
            due.append((done_tag, future.result()))
        return due

    def drain(self) -> list[tuple[Any, Out]]:
        """Every result still in flight, in order (waits for them)."""
        due = [(tag, future.result()) for tag, future in self._pending]
        self._pending.clear()
        return due

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
