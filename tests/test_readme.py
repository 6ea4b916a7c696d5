"""The README's verdict table says what the committed ledger says."""

from __future__ import annotations

import re

import pandas as pd

from evidence import paths


def test_readme_verdicts_match_the_ledger():
    ledger = pd.read_csv(paths.VERDICTS)
    readme = (paths.ROOT / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (C\d\d) \| [^|]+ \| ([^|]+?) \| [^|]+ \|$", readme, re.M))
    assert rows == dict(zip(ledger["claim_id"], ledger["verdict"], strict=True)), (
        "README verdict table is stale: regenerate it from data/derived/claims_verdicts.csv")


def test_readme_names_the_two_commands():
    readme = (paths.ROOT / "README.md").read_text(encoding="utf-8")
    assert "make reproduce" in readme and "make test" in readme
    assert "make test" in (paths.ROOT / ".ci" / "run").read_text()
