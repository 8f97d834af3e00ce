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


RUN_STORE = "runs.sqlite"


def run_store_path() -> Path:
    """The default run store: ``<data dir>/runs.sqlite`` (SQLite; :mod:`vizcore.lab.store`)."""
    return data_dir() / RUN_STORE


def sub_dir(name: str) -> Path:
    """A named folder inside the data directory (``datasets``, ``checkpoints``, ``torch_hub``...), created if missing."""
    if not name or "/" in name or name in {".", ".."}:
        raise ValueError(f"expected a plain folder name, got {name!r}")
    path = data_dir() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------------------- operator data folders

FOLDERS_ENV_VAR = "CONVSCOPE_DATA_FOLDERS"
FOLDERS_FILE = "folders"  # in the data directory: one folder path per line, '#' starts a comment


def data_folders() -> dict[str, Path]:
    """Image folders the operator offers to browser users: display name -> resolved path.

    Read from ``CONVSCOPE_DATA_FOLDERS`` (paths separated by ``os.pathsep``) and from ``<data dir>/folders``
    (one path per line). A name is the folder's last component, made unique with its parent's name. Folders
    that do not exist are left out. Browser users choose among these names and never type a path.
    """
    entries = [e for e in os.environ.get(FOLDERS_ENV_VAR, "").split(os.pathsep) if e.strip()]
    listing = data_dir() / FOLDERS_FILE
    if listing.is_file():
        entries += [ln.split("#", 1)[0] for ln in listing.read_text(encoding="utf-8", errors="replace").splitlines()]
    out: dict[str, Path] = {}
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        path = Path(entry).expanduser().resolve()
        if not path.is_dir() or path in out.values():
            continue
        name = path.name or str(path)
        if name in out:
            name = f"{path.parent.name}/{path.name}"
        out[name] = path
    return out


def resolve_data_folder(name: str) -> Path:
    """The allowed folder called ``name`` (see :func:`data_folders`); ValueError naming only the choices."""
    folders = data_folders()
    if name not in folders:
        choices = ", ".join(sorted(folders)) or f"none configured (set {FOLDERS_ENV_VAR})"
        raise ValueError(f"expected one of the configured data folders ({choices}), got {name!r}")
    return folders[name]


def inside(path: str | Path, root: str | Path) -> bool:
    """Whether ``path`` resolves (symbolic links followed) to ``root`` or somewhere below it."""
    p, r = Path(path).expanduser().resolve(), Path(root).expanduser().resolve()
    return p == r or r in p.parents
