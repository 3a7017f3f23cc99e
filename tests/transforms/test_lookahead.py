"""Lookahead: results in input order, never more than its depth in flight, errors back in the caller."""
import threading
import time

import pytest

from transforms.lookahead import AHEAD_PER_THREAD, Lookahead, auto_threads


class _Gauge:
    """Counts calls running at once, each call held long enough for the next to start if it may."""

    def __init__(self):
        self.now = self.most = 0
        self.threads = set()
        self._lock = threading.Lock()

    def __call__(self, item):
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.threads.add(threading.current_thread().name)
        time.sleep(0.01 * (item % 3))  # later items finish first now and then: order must still hold
        with self._lock:
            self.now -= 1
        if item == 13:
            raise KeyError("13 is unlucky")
        return item * 10


@pytest.mark.parametrize("threads", [0, 1, 3])
def test_results_come_back_in_order_with_their_tags(threads):
    gauge = _Gauge()
    ahead = Lookahead(gauge, threads)
    got = []
    for item in range(12):
        got += ahead.put(item, tag=f"t{item}")
        assert len(ahead._pending) <= threads * AHEAD_PER_THREAD
    got += ahead.drain()
    ahead.close()
    assert got == [(f"t{i}", i * 10) for i in range(12)]
    assert gauge.most <= max(1, threads)
    if threads == 0:
        assert gauge.threads == {threading.current_thread().name}  # no thread of its own
    else:
        assert threading.current_thread().name not in gauge.threads


@pytest.mark.parametrize("threads", [0, 2])
def test_an_error_comes_back_out_of_put_or_drain(threads):
    ahead = Lookahead(_Gauge(), threads)
    with pytest.raises(KeyError, match="unlucky"):
        for item in range(10, 20):
            ahead.put(item)
        ahead.drain()
    ahead.close()


def test_default_threads_leave_half_the_cpus_to_the_models(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    assert auto_threads(None) == 2 and auto_threads(0) == 0 and auto_threads(3) == 3
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert auto_threads(None) == 1
