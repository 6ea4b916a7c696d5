"""HTTP details of the E-utilities client: a deadline for the whole request and
``Retry-After`` in both of its forms.

urllib's ``timeout`` bounds each socket operation, so an answer dribbled a
few bytes at a time would never time out. The connection classes here
register their socket with a ``_Deadline`` that shuts it down when the
request's time is up (a blocked read then returns at once), and report when
the request has been written, for the rate limiter.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import http.client
import socket
import threading
import time
import urllib.request
from collections.abc import Callable


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for: delta-seconds or an HTTP-date; None if neither."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class Deadline:
    """Shuts a request's sockets down when its deadline passes.

    urllib's ``timeout`` bounds each socket operation, so an answer dribbled
    a few bytes at a time never times out; this bounds the whole request.
    """

    def __init__(self, seconds: float, on_sent: Callable[[], None] = lambda: None):
        self.seconds, self.expired, self.on_sent = seconds, False, on_sent
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            socks = list(self._socks)
        for sock in socks:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:  # the plain socket's shutdown, also under TLS: wakes a blocked read in another thread
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def _watched(base: type[http.client.HTTPConnection]) -> type:
    class Connection(base):
        def __init__(self, *args, deadline: Deadline, **kw):
            super().__init__(*args, **kw)
            self._deadline = deadline

        def connect(self):
            super().connect()
            self._deadline.add(self.sock)

        def endheaders(self, *args, **kw):
            try:
                super().endheaders(*args, **kw)
            finally:
                self._deadline.on_sent()  # the request is written: the rate slot is used

    return Connection


_HTTPConnection = _watched(http.client.HTTPConnection)
_HTTPSConnection = _watched(http.client.HTTPSConnection)


class HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline):
        super().__init__()
        self.deadline = deadline

    def http_open(self, req):
        return self.do_open(functools.partial(_HTTPConnection, deadline=self.deadline), req)


class HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline):
        super().__init__()
        self.deadline = deadline

    def https_open(self, req):
        return self.do_open(functools.partial(_HTTPSConnection, deadline=self.deadline), req,
                            context=self._context)


def opener(deadline: Deadline) -> urllib.request.OpenerDirector:
    """A urllib opener whose connections obey ``deadline`` (proxies still honoured)."""
    return urllib.request.build_opener(HTTPHandler(deadline), HTTPSHandler(deadline))
