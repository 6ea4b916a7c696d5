"""Replace a derived file whole or not at all.

Every file the pipeline writes goes to a temporary file in the same folder,
is flushed to disk, and is renamed over the target (``os.replace`` is atomic
on one file system). A reader sees the old file or the new one, never half;
an interrupted or failed write (full disk, Ctrl-C) leaves the old file and no
temporary one. The target keeps its permission bits; a new file gets the
mode the user's umask gives an ordinary ``open()`` (``mkstemp`` alone would
make it 0600).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _target_mode(path: Path) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def replacing(path: str | os.PathLike, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    For writers that want a file name (``savefig``, ``to_csv``): write to the
    yielded path; if the block raises, the temporary file is removed and
    ``path`` is untouched. ``suffix`` keeps an extension some writers need.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _target_mode(path)
    tmp_path = None
    try:
        with _signals_held():  # Ctrl-C between creating and naming the file would leave it
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                       suffix=suffix + ".tmp")
            tmp_path = Path(tmp)
            _PENDING.add(tmp_path)
            os.close(fd)
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    except BaseException:
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)
        raise
    finally:
        _PENDING.discard(tmp_path)


# temporary files not yet renamed or removed; an interrupt that lands between two
# statements of ``with replacing(...)`` (outside its try) still has them removed at exit
_PENDING: set[Path] = set()


@atexit.register
def _remove_pending() -> None:
    for tmp in list(_PENDING):
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT (Ctrl-C) for a few statements; a pending one is raised as they end."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically, keeping its mode."""
    with replacing(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Replace ``path`` with UTF-8 ``text`` (``\\n`` line ends) atomically, keeping its mode."""
    write_bytes(path, text.encode("utf-8"))
