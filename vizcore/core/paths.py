"""Where ConvScope keeps its files: one data directory for data sets, checkpoints and the run store.

Set ``CONVSCOPE_DATA_DIR`` to move it; the default is ``~/.cache/convscope``.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "CONVSCOPE_DATA_DIR"


def data_dir() -> Path:
    """The data directory, created if missing."""
    root = Path(os.environ.get(ENV_VAR) or Path.home() / ".cache" / "convscope").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def sub_dir(name: str) -> Path:
    """A named folder inside the data directory (``datasets``, ``checkpoints``, ``torch_hub``...), created if missing."""
    if not name or "/" in name or name in {".", ".."}:
        raise ValueError(f"expected a plain folder name, got {name!r}")
    path = data_dir() / name
    path.mkdir(parents=True, exist_ok=True)
    return path
