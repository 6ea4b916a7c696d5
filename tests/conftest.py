"""Shared fixtures: every test starts in the repository's case, and can build a small one."""

from __future__ import annotations

import pytest

from evidence import case

MINIMAL_TOML = """\
[case]
title = "A test case"
intervention = "{intervention}"
control = "{control}"
{extra}
"""


@pytest.fixture(autouse=True)
def _fresh_case():
    """No case chosen by a previous test's ``--root`` leaks into the next one."""
    case.use(None)
    yield
    case.use(None)


@pytest.fixture
def make_case(tmp_path, monkeypatch):
    """Write an ``evidence.toml`` (plus any ``files``: relative path -> text) and select the case."""

    def make(root=None, *, intervention="massage", control="control", extra="", files=None):
        root = root or tmp_path / "case"
        root.mkdir(parents=True, exist_ok=True)
        (root / "evidence.toml").write_text(
            MINIMAL_TOML.format(intervention=intervention, control=control, extra=extra))
        for rel, text in (files or {}).items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        monkeypatch.setenv("EVIDENCE_ROOT", str(root))
        return root

    return make
