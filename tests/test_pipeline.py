"""Committed derived data are what the pipeline regenerates from the curated inputs.

A reviewer who edits an extraction sheet and forgets `make reproduce` is told
here which derived file is stale, instead of reading outdated numbers.
"""

from __future__ import annotations

from evidence import paths
from evidence.effects import build_effects
from evidence.pubmed.export import write_exports
from evidence.pubmed.snapshot import load_snapshot

STALE = "is stale: run `make reproduce` (or the evidence step that writes it) and commit it"


def test_effects_csv_is_regenerated_from_the_sheets(tmp_path):
    fresh = tmp_path / "effects.csv"
    build_effects(paths.EXTRACTION, fresh)
    assert fresh.read_bytes() == paths.EFFECTS.read_bytes(), f"{paths.EFFECTS} {STALE}"


def test_reference_exports_are_regenerated_from_the_snapshot(tmp_path):
    bib, ris = write_exports(load_snapshot(paths.RECORDS), tmp_path)
    for new, name in ((bib, "references.bib"), (ris, "references.ris")):
        committed = paths.DERIVED / name
        assert new.read_bytes() == committed.read_bytes(), f"{committed} {STALE}"

