"""evidence.atomic: a derived file is replaced whole or not at all, keeping its mode."""

import os
import stat

import pytest

from evidence import atomic


def test_write_replaces_and_keeps_mode(tmp_path):
    target = tmp_path / "effects.csv"
    target.write_text("old\n")
    os.chmod(target, 0o644)
    atomic.write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["effects.csv"]


def test_new_file_gets_umask_mode_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        atomic.write_bytes(tmp_path / "records.jsonl", b"{}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "records.jsonl").stat().st_mode) == 0o644


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "figure.pdf"
    target.write_bytes(b"complete")

    with pytest.raises(KeyboardInterrupt), atomic.replacing(target, suffix=".pdf") as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt

    assert target.read_bytes() == b"complete"
    assert [p.name for p in tmp_path.iterdir()] == ["figure.pdf"]


def test_replacing_keeps_the_writer_suffix(tmp_path):
    with atomic.replacing(tmp_path / "a.svg", suffix=".svg") as tmp:
        assert tmp.name.endswith(".svg.tmp")
        tmp.write_text("<svg/>")
    assert (tmp_path / "a.svg").read_text() == "<svg/>"
