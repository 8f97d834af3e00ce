"""Files a browser session uploads (its own weights, class names): kept in the data directory, one folder per
session, under size caps, removed with the session.

A session's folder is named by a random token only the session holds (``uploads/sessions/<token>``), so nothing a
browser user types reaches another session's files. Caps: one file at most ``FILE_CAP`` bytes, a session's files
together ``SESSION_CAP``, all sessions together ``TOTAL_CAP``; a request above one is refused in words. Folders of
sessions that ended without removing theirs (a server killed) are swept after ``STALE_S`` seconds.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import time
from pathlib import Path

from vizcore.core import io, paths
from vizcore.core.budget import format_bytes

FILE_CAP = 200 * 2**20  # one uploaded file
SESSION_CAP = 400 * 2**20  # one session's files together
TOTAL_CAP = 2 * 2**30  # every session's files together
STALE_S = 24 * 3600.0  # a folder untouched this long belongs to a session that is gone
_TOKEN = re.compile(r"[0-9a-f]{16,64}")
_SUFFIX = re.compile(r"\.[a-z0-9]{1,12}")


def sessions_root() -> Path:
    """``<data dir>/uploads/sessions``, created if missing."""
    root = paths.sub_dir("uploads") / "sessions"
    root.mkdir(parents=True, exist_ok=True)
    return root


def session_dir(token: str) -> Path:
    """The folder of one session (created if missing); ``token``: 16–64 lowercase hex digits."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise ValueError(f"expected a session token of 16 to 64 hex digits, got {token!r:.80}")
    folder = sessions_root() / token
    folder.mkdir(exist_ok=True)
    return folder


def _used(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def keep(token: str, raw: bytes, filename: str) -> Path:
    """Write ``raw`` into the session's folder as ``<sha256 prefix><suffix of filename>`` (the same bytes give the
    same file) and return its path; ValueError in words above a cap."""
    if len(raw) == 0:
        raise ValueError(f"expected a file with content, got {filename[:80]!r} (empty)")
    if len(raw) > FILE_CAP:
        raise ValueError(f"expected a file of at most {FILE_CAP // 2**20} MB, got {len(raw) / 2**20:.0f} MB")
    folder = session_dir(token)
    suffix = Path(filename).suffix.lower()
    suffix = suffix if _SUFFIX.fullmatch(suffix) else ".bin"
    path = folder / f"{hashlib.sha256(raw).hexdigest()[:20]}{suffix}"
    if path.is_file():
        return path
    if _used(folder) + len(raw) > SESSION_CAP:
        raise ValueError(f"expected this session's uploads to stay under {format_bytes(SESSION_CAP)}, got "
                         f"{format_bytes(_used(folder) + len(raw))} with this file; remove one first")
    if _used(sessions_root()) + len(raw) > TOTAL_CAP:
        raise ValueError(f"expected room for the file in this server's upload space ({TOTAL_CAP // 2**30} GB for "
                         "every user together), got it full; try again later")
    io.write_bytes(path, raw)
    return path


def remove(token: str, path: str | Path) -> None:
    """Delete one of the session's files (and its ``.json`` sidecar); a path outside the folder is refused."""
    folder = session_dir(token)
    p = Path(path)
    if not paths.inside(p, folder):
        raise ValueError(f"expected a file of this session's uploads, got {p.name!r}")
    for f in (p, p.with_name(p.name + ".json")):
        f.unlink(missing_ok=True)


def remove_session(token: str) -> None:
    """Delete the session's folder and everything in it (its session ended)."""
    if isinstance(token, str) and _TOKEN.fullmatch(token):
        shutil.rmtree(sessions_root() / token, ignore_errors=True)


def sweep_stale(max_age_s: float = STALE_S, now: float | None = None) -> int:
    """Remove session folders untouched for ``max_age_s`` seconds; returns how many were removed."""
    now = time.time() if now is None else now
    removed = 0
    for folder in sessions_root().iterdir():
        if folder.is_dir() and _TOKEN.fullmatch(folder.name):
            newest = max([f.stat().st_mtime for f in folder.rglob("*")] + [folder.stat().st_mtime])
            if now - newest > max_age_s:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
    return removed
