"""Atomic file writes: write to a temporary file in the same folder, then rename over the target.

A reader sees the old file or the complete new one, never half of one; on any failure (disk full, permission
denied) the temporary file is removed and the error propagates with the target's path in it.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_with(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file to ``path``; on any error remove it and re-raise."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        tmp.replace(p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Atomically write ``data`` to ``path`` (folders created)."""
    return write_with(path, lambda t: t.write_bytes(data))


def write_text(path: str | Path, text: str) -> Path:
    """Atomically write UTF-8 ``text`` to ``path`` (folders created)."""
    return write_with(path, lambda t: t.write_text(text, encoding="utf-8"))


def copy_file(src: str | Path, dst: str | Path) -> Path:
    """Atomically copy ``src`` to ``dst`` (folders created)."""
    return write_with(dst, lambda t: shutil.copyfile(src, t))


def torch_save(obj: Any, path: str | Path) -> Path:
    """Atomically ``torch.save`` ``obj`` to ``path`` (folders created)."""
    import torch

    return write_with(path, lambda t: torch.save(obj, t))


def check_writable(folder: str | Path, need_bytes: int = 0) -> Path:
    """Check that ``folder`` (created if missing) takes a new file and has ``need_bytes`` free, by writing and
    removing a probe file (permission bits alone mislead: read-only mounts, root, ACLs). ValueError naming the
    folder and the reason otherwise."""
    d = Path(folder)
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=d)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"expected a writable folder, got {d} ({exc.strerror or exc})") from None
    free = shutil.disk_usage(d).free
    if free < need_bytes:
        raise ValueError(f"expected at least {need_bytes / 2**20:.0f} MB free in {d}, got {free / 2**20:.0f} MB; "
                         "free some disk space")
    return d


def read_capped(path: str | Path, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of ``path``, refusing anything larger than ``max_bytes`` without reading more than one byte past
    it: a size from ``stat`` cannot be trusted (``/dev/zero``, a pipe and ``/proc`` files report 0), so the read
    itself is bounded. ValueError (too large, a folder, no such file) in words, naming ``what``."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise ValueError(f"expected a {what}, got the folder {str(path)!r}")
    if not p.exists():
        raise ValueError(f"expected a {what}, got {str(path)!r} (no such file)")
    with open(p, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"expected a {what} of at most {_size_words(max_bytes)}, got {str(path)!r} (larger)")
    return data


def read_text_capped(path: str | Path, max_bytes: int, what: str = "file") -> str:
    """:func:`read_capped` decoded as UTF-8 (ValueError for text that is not UTF-8)."""
    try:
        return read_capped(path, max_bytes, what).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"expected a {what} of UTF-8 text, got {str(path)!r} (binary data)") from None


def _size_words(n: int) -> str:
    return f"{n / 1e6:g} MB" if n >= 1_000_000 else f"{n / 1e3:g} KB" if n >= 1000 else f"{n} bytes"
