"""E-utilities client: rate limit, deadline, retries, checked cache, offline replay.

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
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

from evidence.errors import DataError, EvidenceError
from evidence.pubmed.cache import CorruptEntry, ResponseCache, public_params, request_key
from evidence.pubmed.parser import (
    EutilsErrorPayload,
    UnsafeXMLError,
    UnsupportedRecord,
    check_json_error,
    root_tag,
)
from evidence.pubmed.ratelimit import (
    LIMITER,
    RATE_FILE,
    RATE_NO_KEY,
    RATE_WITH_KEY,
    FileRateLimiter,
    RateLimiter,
)
from evidence.pubmed.transport import Deadline, opener, retry_after_seconds

DEFAULT_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"


def base_url() -> str:
    return os.environ.get("EVIDENCE_EUTILS_URL", DEFAULT_URL)


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


class IncompleteAnswer(EvidenceError):
    """A well-formed answer of the right kind that lacks some requested ids (never cached).

    ``body`` is the answer, ``held`` the requested ids it holds, ``missing``
    the others; the caller may keep what came and ask for the rest.
    """

    def __init__(self, message: str, body: bytes, held: list[str], missing: list[str]):
        self.body, self.held, self.missing = body, held, missing
        super().__init__(message)


@dataclass(frozen=True)
class Expected:
    """What a good answer to one request is, so only such answers are cached or replayed.

    ``root`` is the tag of its root element (``PubmedArticleSet``,
    ``pmc-articleset``); ``ids`` the ids the request asked for, found in an
    answer by ``ids_of``; ``absent_of`` lists the ids the answer itself says
    do not exist (they count as answered). Checked on every network answer
    and on every cache hit.
    """

    root: str
    ids: tuple[str, ...] = ()
    ids_of: Callable[[bytes], Iterable[str]] | None = None
    absent_of: Callable[[bytes], Iterable[str]] | None = None

    def verify(self, body: bytes, name: str = "<response>") -> None:
        tag = root_tag(body, name)
        if tag != self.root:
            raise DataError(f"expected a <{self.root}> answer, got <{tag}>"
                            f"{_title(body)}", file=name)
        if not self.ids or self.ids_of is None:
            return
        held = set(self.ids_of(body))
        asked = set(self.ids)
        strangers = sorted(held - asked)
        if strangers:
            raise DataError(f"answer holds ids not asked for: {', '.join(strangers[:10])}",
                            file=name)
        absent = set(self.absent_of(body)) if self.absent_of else set()
        missing = [i for i in self.ids if i not in held and i not in absent]
        if missing:
            raise IncompleteAnswer(
                f"{name}: answer lacks {len(missing)} of {len(self.ids)} requested ids: "
                f"{', '.join(missing[:20])}", body, [i for i in self.ids if i in held], missing)


def _title(body: bytes) -> str:
    """The title of an HTML error page, for the message (best effort)."""
    lo = body[:4096].lower()
    a, b = lo.find(b"<title>"), lo.find(b"</title>")
    if 0 <= a < b:
        return f" ({body[a + 7:b].decode('utf-8', 'replace').strip()[:80]})"
    return ""


class EutilsClient:
    """One identified E-utilities user: every request is rate-limited, bounded by a
    deadline, retried with exponential backoff and jitter, checked, and cached
    only when good.

    ``limiter`` defaults to a FileRateLimiter beside the cache folder (shared
    by every process using it), or the process-wide LIMITER without a cache.
    """

    def __init__(self, email: str | None = None, api_key: str | None = None, *,
                 tool: str = "evidence", url: str | None = None,
                 cache: ResponseCache | None = None, offline: bool = False,
                 timeout: float = 30.0, deadline: float = 120.0, max_tries: int = 6,
                 backoff_base: float = 1.0, backoff_max: float = 60.0,
                 limiter: RateLimiter | FileRateLimiter | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 rng: Callable[[], float] = random.random):
        self.email, self.api_key, self.tool = email, api_key, tool
        self.url = (url or base_url()).rstrip("/") + "/"
        self.cache, self.offline, self.timeout, self.deadline = cache, offline, timeout, deadline
        self.max_tries, self.backoff_base, self.backoff_max = max_tries, backoff_base, backoff_max
        if limiter is None:
            limiter = FileRateLimiter(cache.root / RATE_FILE) if cache is not None else LIMITER
        self.limiter, self.sleep, self.rng = limiter, sleep, rng
        self.rate = RATE_WITH_KEY if api_key else RATE_NO_KEY
        self.requests_sent = 0
        self._retry_after: float | None = None

    def describe(self, endpoint: str, params: dict) -> str:
        """The request as a URL without identity or key (for provenance and messages)."""
        return f"{self.url}{endpoint}.fcgi?{urlencode(public_params(params), doseq=True)}"

    def request(self, endpoint: str, params: dict, *, check: Callable[[bytes], object] | None = None,
                expect: Expected | None = None, post: bool | None = None,
                key_params: dict | None = None) -> bytes:
        """Body of a good answer, from the cache or the network.

        An answer is good when it is no error payload, ``check`` (raising on a
        bad body: malformed or truncated XML) accepts it and it is what
        ``expect`` describes (root element, every requested id). Only good
        answers are cached; a cached entry is checked again on every read and
        refetched if it no longer passes. An answer lacking some ids raises
        IncompleteAnswer at once (not retried, not cached). ``key_params``
        replaces ``params`` in the cache key for requests whose params hold a
        session token (WebEnv).
        """
        key_p = key_params if key_params is not None else params
        key = request_key(endpoint, key_p)
        self._retry_after = None
        if self.cache is not None:
            body = self._cached(key, endpoint, key_p, check, expect)
            if body is not None:
                return body
        if self.offline:
            raise EvidenceError(
                f"offline and not in the PubMed cache ({self.cache.root if self.cache else 'no cache'}): "
                f"{_short(self.describe(endpoint, key_p))}. Fetch it with "
                "`evidence fetch --live` and your email (--email or NCBI_EMAIL).")
        if not self.email:
            raise EvidenceError("NCBI asks every E-utilities user for an email: pass --email "
                                "or set NCBI_EMAIL")
        last = "no attempt"
        for attempt in range(self.max_tries):
            if attempt:
                self.sleep(self._backoff(attempt))
            try:
                body = self._send(endpoint, params, post)
                self._verify(body, endpoint, check, expect)
            except (TransientError, EutilsErrorPayload, DataError) as exc:
                if isinstance(exc, UnsafeXMLError | UnsupportedRecord):
                    raise
                last = str(exc)
                continue
            if self.cache is not None:
                self.cache.put(key, endpoint, key_p, body)
            return body
        raise FetchError(f"{endpoint}: gave up after {self.max_tries} tries (last: {last})")

    def store(self, endpoint: str, params: dict, body: bytes, *, expect: Expected | None = None,
              check: Callable[[bytes], object] | None = None, note: str = "") -> None:
        """Cache ``body`` as the answer to ``params`` once it passes the same checks.

        For the part of an incomplete answer that is complete for fewer ids
        (the request for exactly the ids it holds), so a rerun asks only for
        the rest.
        """
        self._verify(body, endpoint, check, expect)
        if self.cache is not None:
            self.cache.put(request_key(endpoint, params), endpoint, params, body, note=note)

    def cached_params(self, endpoint: str) -> list[dict]:
        """Public params of every cache entry for ``endpoint`` (what an earlier run obtained)."""
        if self.cache is None:
            return []
        return [meta["params"] for meta in self.cache.metas() if meta.get("endpoint") == endpoint
                and isinstance(meta.get("params"), dict)]

    def cached(self, endpoint: str, params: dict, *, check: Callable[[bytes], object] | None = None,
               expect: Expected | None = None) -> bytes | None:
        """The cached answer to a request if it is still good, else None (nothing is sent).

        A bad entry is discarded; one that lacks some ids is discarded and
        raised as IncompleteAnswer, so the caller can keep the part it holds.
        Offline, a bad entry is an error (nothing could replace it).
        """
        if self.cache is None:
            return None
        return self._cached(request_key(endpoint, params), endpoint, params, check, expect,
                            partial=True)

    def _cached(self, key, endpoint, params, check, expect, partial=False) -> bytes | None:
        try:
            body = self.cache.get(key)
            if body is not None:
                self._verify(body, endpoint, check, expect)
            return body
        except IncompleteAnswer:
            self.cache.discard(key)
            if partial:
                raise
            if self.offline:
                raise CorruptEntry(f"cached answer for {_short(self.describe(endpoint, params))} "
                                   "lacks requested ids; refetch with `evidence fetch --live`"
                                   ) from None
            return None
        except (CorruptEntry, DataError, EutilsErrorPayload, UnsafeXMLError) as exc:
            if self.offline:
                if isinstance(exc, CorruptEntry):
                    raise
                raise CorruptEntry(f"cached answer for {_short(self.describe(endpoint, params))} "
                                   f"is not good ({exc}); refetch it with `evidence fetch "
                                   "--live`") from exc
            self.cache.discard(key)  # never trusted: asked again
            return None

    @staticmethod
    def _verify(body: bytes, endpoint: str, check, expect: Expected | None) -> None:
        check_json_error(body)
        if expect is not None:
            expect.verify(body, endpoint)
        if check is not None:
            check(body)

    def _backoff(self, attempt: int) -> float:
        retry_after, self._retry_after = self._retry_after, None
        d = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        d = d / 2 + self.rng() * d / 2  # "equal jitter": never less than half the step
        if retry_after is None:
            return d
        return max(d, min(retry_after, self.backoff_max))  # the server's wish, bounded

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
        self.requests_sent += 1
        with self.limiter.hold(self.rate) as sent, Deadline(self.deadline, sent) as deadline:
            try:
                with opener(deadline).open(req, timeout=self.timeout) as resp:
                    body = resp.read()
            except urllib.error.HTTPError as exc:
                if exc.code == 429 or exc.code >= 500:
                    self._retry_after = retry_after_seconds(
                        exc.headers.get("Retry-After") if exc.headers else None)
                    raise TransientError(f"HTTP {exc.code}") from None
                raise EvidenceError(f"{endpoint}: HTTP {exc.code} {exc.reason} for "
                                    f"{_short(self.describe(endpoint, params))}") from None
            except (TimeoutError, http.client.HTTPException, ConnectionError, OSError) as exc:
                if deadline.expired:
                    raise TransientError(f"no whole answer within the {self.deadline}s "
                                         "deadline") from exc
                if isinstance(exc, TimeoutError):
                    raise TransientError(f"timeout after {self.timeout}s") from exc
                reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                raise TransientError(f"connection: {type(exc).__name__}: {reason}") from exc
            if deadline.expired:  # a close-delimited body cut by the deadline
                raise TransientError(f"no whole answer within the {self.deadline}s deadline")
        return body


def _short(s: str, n: int = 300) -> str:
    return s if len(s) <= n else s[:n] + "..."
