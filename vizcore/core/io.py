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
