"""E-utilities transport: rate limit, timeouts, retries, cache, offline replay.

Why not ``Bio.Entrez``'s own transport: it passes no timeout to urlopen,
retries 429 after a fixed pause with no backoff, and its rate limit is a
module global without a lock. Its request building reads module globals
(``Entrez.email``) and is private API, so requests are built here with the
same conventions (``tool``/``email``/``api_key``, POST for long id lists).
"""

from __future__ import annotations

import http.client
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import urlencode

from evidence.errors import DataError, EvidenceError
from evidence.pubmed.cache import CorruptEntry, ResponseCache, public_params, request_key
from evidence.pubmed.parser import (
    EutilsErrorPayload,
    UnsafeXMLError,
    UnsupportedRecord,
    check_json_error,
)

DEFAULT_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
RATE_NO_KEY, RATE_WITH_KEY = 3.0, 10.0  # NCBI's limits, requests per second


def base_url() -> str:
    return os.environ.get("EVIDENCE_EUTILS_URL", DEFAULT_URL)


class RateLimiter:
    """Spaces request starts at least 1/rate apart, across every thread that shares it."""

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


LIMITER = RateLimiter()  # the one process-wide limiter


class TransientError(EvidenceError):
    """A failure worth retrying (429, 5xx, reset, timeout, truncated or error payload)."""


class FetchError(EvidenceError):
    """Gave up; ``missing`` lists the ids not obtained (cached batches are kept for a resume)."""

    def __init__(self, message: str, missing: list[str] | None = None):
        self.missing = list(missing or [])
        if self.missing:
            shown = ", ".join(self.missing[:20]) + (" ..." if len(self.missing) > 20 else "")
            message = f"{message}; {len(self.missing)} ids still missing: {shown}"
        super().__init__(message)


class EutilsClient:
    """One identified E-utilities user: every request is rate-limited, timed out,
    retried with exponential backoff and jitter, checked, and cached when good."""

    def __init__(self, email: str | None = None, api_key: str | None = None, *,
                 tool: str = "evidence", url: str | None = None,
                 cache: ResponseCache | None = None, offline: bool = False,
                 timeout: float = 30.0, max_tries: int = 6, backoff_base: float = 1.0,
                 backoff_max: float = 60.0, limiter: RateLimiter = LIMITER,
                 sleep: Callable[[float], None] = time.sleep,
                 rng: Callable[[], float] = random.random):
        self.email, self.api_key, self.tool = email, api_key, tool
        self.url = (url or base_url()).rstrip("/") + "/"
        self.cache, self.offline, self.timeout = cache, offline, timeout
        self.max_tries, self.backoff_base, self.backoff_max = max_tries, backoff_base, backoff_max
        self.limiter, self.sleep, self.rng = limiter, sleep, rng
        self.rate = RATE_WITH_KEY if api_key else RATE_NO_KEY
        self.requests_sent = 0
        self._retry_after: float | None = None

    def describe(self, endpoint: str, params: dict) -> str:
        """The request as a URL without identity or key (for provenance and messages)."""
        return f"{self.url}{endpoint}.fcgi?{urlencode(public_params(params), doseq=True)}"

    def request(self, endpoint: str, params: dict, *, check: Callable[[bytes], object] | None = None,
                post: bool | None = None, key_params: dict | None = None) -> bytes:
        """Body of a good answer, from the cache or the network.

        ``check`` raises on a bad body (malformed/truncated XML, error payload);
        ``key_params`` replaces ``params`` in the cache key for requests whose
        params hold a session token (WebEnv).
        """
        key = request_key(endpoint, key_params if key_params is not None else params)
        if self.cache is not None:
            try:
                body = self.cache.get(key)
            except CorruptEntry:
                if self.offline:
                    raise
                self.cache.discard(key)
                body = None
            if body is not None:
                return body
        if self.offline:
            raise EvidenceError(
                f"offline and not in the PubMed cache ({self.cache.root if self.cache else 'no cache'}): "
                f"{_short(self.describe(endpoint, key_params or params))}. Fetch it with "
                "`evidence fetch --live` and your email (--email or NCBI_EMAIL).")
        if not self.email:
            raise EvidenceError("NCBI asks every E-utilities user for an email: pass --email "
                                "or set NCBI_EMAIL")
        last = "no attempt"
        for attempt in range(self.max_tries):
            if attempt:
                self.sleep(self._backoff(attempt, last))
            try:
                body = self._send(endpoint, params, post)
                check_json_error(body)
                if check is not None:
                    check(body)
            except (TransientError, EutilsErrorPayload, DataError) as exc:
                if isinstance(exc, UnsafeXMLError | UnsupportedRecord):
                    raise
                last = str(exc)
                continue
            if self.cache is not None:
                self.cache.put(key, endpoint, key_params or params, body)
            return body
        raise FetchError(f"{endpoint}: gave up after {self.max_tries} tries (last: {last})")

    def _backoff(self, attempt: int, last: str) -> float:
        retry_after, self._retry_after = self._retry_after, None
        d = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        d = d / 2 + self.rng() * d / 2  # "equal jitter": never less than half the step
        return max(d, min(retry_after, self.backoff_max)) if retry_after else d

    def _send(self, endpoint: str, params: dict, post: bool | None) -> bytes:
        full = dict(params, tool=self.tool, email=self.email)
        if self.api_key:
            full["api_key"] = self.api_key
        data = urlencode(full, doseq=True)
        url = f"{self.url}{endpoint}.fcgi"
        if post is None:
            post = len(data) > 1500
        req = (urllib.request.Request(url, data=data.encode(), method="POST") if post
               else urllib.request.Request(f"{url}?{data}", method="GET"))
        self.limiter.wait(self.rate)
        self.requests_sent += 1
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 429 or exc.code >= 500:
                ra = exc.headers.get("Retry-After") if exc.headers else None
                self._retry_after = float(ra) if ra and ra.isdigit() else None
                raise TransientError(f"HTTP {exc.code}") from None
            raise EvidenceError(f"{endpoint}: HTTP {exc.code} {exc.reason} for "
                                f"{_short(self.describe(endpoint, params))}") from None
        except TimeoutError as exc:
            raise TransientError(f"timeout after {self.timeout}s") from exc
        except (http.client.IncompleteRead, http.client.HTTPException, ConnectionError) as exc:
            raise TransientError(f"connection: {type(exc).__name__}") from exc
        except urllib.error.URLError as exc:
            raise TransientError(f"connection: {exc.reason}") from exc


def _short(s: str, n: int = 300) -> str:
    return s if len(s) <= n else s[:n] + "..."
