"""Request rate limits: NCBI allows 3 requests/s per address, 10/s with an API key.

``RateLimiter`` spaces the requests of one process (its threads);
``FileRateLimiter`` those of every process of the user that shares its state
file, which the live fetch keeps beside its cache folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

RATE_NO_KEY, RATE_WITH_KEY = 3.0, 10.0  # NCBI's limits, requests per second
RATE_FILE = ".eutils-rate"  # beside the cache: the state every process of the user shares


class RateLimiter:
    """Spaces request starts at least 1/rate apart, across the threads that share it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.clock, self.sleep = clock, sleep
        self._lock = threading.Lock()
        self._next = float("-inf")

    def wait(self, per_second: float) -> None:
        with self._lock:
            now = self.clock()
            slot = max(now, self._next)
            self._next = slot + 1.0 / per_second
        if slot > now:
            self.sleep(slot - now)

    @contextlib.contextmanager
    def hold(self, per_second: float) -> Iterator[Callable[[], None]]:
        """``wait``, then the request is sent; same interface as FileRateLimiter.hold."""
        self.wait(per_second)
        yield lambda: None


LIMITER = RateLimiter()  # the process-wide limiter when no cache folder is shared


class FileRateLimiter:
    """Spaces requests 1/rate apart across every process sharing the state file.

    NCBI counts requests per address or key, not per process. The file holds
    the last send times of each rate (JSON). ``hold`` takes an exclusive
    ``flock`` on it, sleeps until 1/rate after the last send, and keeps the
    lock until the request has been written to the socket; the send time is
    then recorded and the lock released, so a request delayed before sending
    (connecting, a busy machine) pushes the next one back instead of arriving
    just before it. Times outside a sane window (a clock step, a damaged
    file) are ignored.
    """

    WINDOW = 60.0  # seconds: recorded times further ahead or behind are not believed

    def __init__(self, path: str | os.PathLike, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        self.path, self.clock, self.sleep = Path(path), clock, sleep

    def _recent(self, state: dict, bucket: str, now: float) -> list[float]:
        times = state.get(bucket)
        return [t for t in times if isinstance(t, int | float)
                and now - self.WINDOW <= t <= now + self.WINDOW] if isinstance(times, list) else []

    def wait(self, per_second: float) -> None:
        """Wait for a slot and count it as used now (for callers that send at once)."""
        with self.hold(per_second):
            pass

    @contextlib.contextmanager
    def hold(self, per_second: float) -> Iterator[Callable[[], None]]:
        """Wait for a slot; yields ``sent()``, to call once the request is written."""
        bucket, step = f"{per_second:g}/s", 1.0 / per_second
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        done = False

        def sent() -> None:
            nonlocal done
            if done:
                return
            done = True
            try:
                now = self.clock()
                state = _read_state(fd)
                state[bucket] = sorted(self._recent(state, bucket, now) + [now])[-10:]
                data = json.dumps(state, sort_keys=True).encode()
                os.ftruncate(fd, 0)
                os.pwrite(fd, data, 0)
            finally:
                os.close(fd)  # releases the lock

        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        try:
            now = self.clock()
            slot = max([now] + [t + step for t in self._recent(_read_state(fd), bucket, now)])
            if slot > now:
                self.sleep(slot - now)
            yield sent
        finally:
            sent()


def _read_state(fd: int) -> dict:
    try:
        state = json.loads(os.pread(fd, 65536, 0) or b"{}")
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}
