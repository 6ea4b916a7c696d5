"""Reading the curated YAML files (analyses, claims): one loader, one set of errors."""

from __future__ import annotations

from pathlib import Path

import yaml

from evidence.errors import DataError


def read_yaml_list(path: Path, what: str) -> list:
    """The list a curated YAML file holds; a missing file or another shape names the file."""
    try:
        entries = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(f"{what} file not found", file=path) from exc
    if not isinstance(entries, list):
        raise DataError(f"expected a list of {what}", file=path)
    return entries
