"""Raw-response cache, content-addressed by request.

The key is the SHA-256 of the endpoint and the request parameters that
decide the answer; identity and secrets (``api_key``, ``email``, ``tool``)
are never part of the key nor of anything written. Each entry is a body
file plus a metadata file holding the body's SHA-256; both are replaced
whole (``evidence.atomic``), metadata last, so a crash leaves no half entry,
and the checksum is verified on every read. Whether a body is a good answer
(its root, its ids) is the client's check, made before ``put`` and again on
every read.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from evidence import atomic
from evidence.errors import EvidenceError

SECRET_PARAMS = frozenset({"api_key", "email", "tool"})


def request_key(endpoint: str, params: dict) -> str:
    """Stable hash of a request, without identity or secrets."""
    return hashlib.sha256(json.dumps([endpoint, public_params(params)],
                                     sort_keys=True).encode()).hexdigest()


def public_params(params: dict) -> dict:
    return {k: str(v) for k, v in sorted(params.items()) if k not in SECRET_PARAMS}


class CorruptEntry(EvidenceError):
    """A cache entry whose body does not match its recorded checksum."""


class ResponseCache:
    """Directory of verified responses; ``get`` returns None for a missing entry."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def _paths(self, key: str) -> tuple[Path, Path]:
        d = self.root / key[:2]
        return d / f"{key}.body", d / f"{key}.json"

    def __contains__(self, key: str) -> bool:
        return self._paths(key)[1].exists()

    def get(self, key: str) -> bytes | None:
        body_path, meta_path = self._paths(key)
        if not meta_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            body = body_path.read_bytes()
        except (OSError, ValueError) as exc:
            raise CorruptEntry(f"cache entry {meta_path} unreadable: {exc}") from exc
        if hashlib.sha256(body).hexdigest() != meta.get("sha256"):
            raise CorruptEntry(f"cache entry {body_path} fails its checksum")
        return body

    def put(self, key: str, endpoint: str, params: dict, body: bytes, note: str = "") -> None:
        """Store a response already checked as good (the client never calls this otherwise)."""
        body_path, meta_path = self._paths(key)
        meta = {"endpoint": endpoint, "params": public_params(params),
                "sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
        if note:
            meta["note"] = note
        atomic.write_bytes(body_path, body)
        atomic.write_text(meta_path, json.dumps(meta, sort_keys=True, indent=1) + "\n")

    def discard(self, key: str) -> None:
        for p in self._paths(key):
            p.unlink(missing_ok=True)

    def entries(self) -> list[Path]:
        return sorted(self.root.glob("*/*.json")) if self.root.exists() else []

    def metas(self) -> list[dict]:
        """The metadata of every readable entry (unreadable ones are skipped: ``get`` reports them)."""
        out = []
        for p in self.entries():
            try:
                meta = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(meta, dict):
                out.append(meta)
        return out
