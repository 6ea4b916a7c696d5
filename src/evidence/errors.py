"""Errors the command line reports as one clear message (no traceback unless --debug)."""

from __future__ import annotations


class EvidenceError(Exception):
    """A user-facing failure: bad input, missing cache entry, network give-up."""


class DataError(EvidenceError, ValueError):
    """Bad curated data, located by file, row and field so a reviewer can fix it."""

    def __init__(self, message: str, *, file=None, row=None, field=None):
        self.file, self.row, self.field = file, row, field
        where = []
        if file is not None:
            where.append(str(file))
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.message = message
