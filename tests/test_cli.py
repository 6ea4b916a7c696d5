"""The command line: every step is reachable, failures are one clear line."""

from __future__ import annotations

import argparse
import subprocess
import sys
import types

import pytest

from evidence import cli
from evidence.errors import DataError


def test_help_lists_every_step(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("fetch", "pubmed", "extract", "meta", "grade", "figures", "report"):
        assert name in out


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_each_step_has_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([name, "--help"])
    assert exc.value.code == 0
    assert "usage: evidence " + name in capsys.readouterr().out


@pytest.fixture
def failing_step(monkeypatch):
    """A stand-in step whose run raises a located data error."""
    mod = types.ModuleType("evidence_fake_step")

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--flag", action="store_true")

    def run(args) -> int:
        raise DataError("sd must be positive", file="data/x.csv", row=3, field="sd_int")

    mod.add_arguments, mod.run = add_arguments, run
    monkeypatch.setitem(sys.modules, "evidence_fake_step", mod)
    monkeypatch.setitem(cli.COMMANDS, "fake", ("evidence_fake_step", "add_arguments", "run", "x"))


def test_failure_is_one_line_without_traceback(failing_step, capsys):
    assert cli.main(["fake"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "evidence: error: data/x.csv, row 3, field 'sd_int': sd must be positive"
    assert "Traceback" not in err


def test_debug_shows_the_traceback(failing_step):
    with pytest.raises(DataError):
        cli.main(["--debug", "fake"])


def test_console_script_runs():
    proc = subprocess.run([sys.executable, "-m", "evidence", "--version"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert proc.stdout.startswith("evidence ")
