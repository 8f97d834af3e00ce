"""Import, once per server process and in one thread, every module the app's code imports.

Streamlit runs each browser session's script in its own thread. When a class opens the app at once, several
threads import the same modules at the same moment; Python breaks the resulting import-lock cycles by handing one
thread a half-initialised module ("cannot import name 'image_picker' from 'pages._common'", "partially initialized
module 'pandas' has no attribute 'Series'"), and the page crashes. So app.py and every page import this
module first (``from pages._startup import through_app``, then ``through_app()``: a fresh server runs a
deep-linked page file before app.py): the first session imports everything, in one thread, while the others wait for this
module's import to finish (holding no other import lock, so no cycle can form); later sessions find it done.
``tests/test_startup.py`` checks that every page keeps that first import.

The list is read from the source itself — every ``import`` in ``app.py``, ``pages/`` and ``vizcore/``, at any depth
(function-level imports too) — so a new page or module is covered without anyone keeping a list. This module
imports nothing but the standard library, so importing it cannot race.
"""
from __future__ import annotations

import ast
import functools
import gc
import importlib
import importlib.util
import re
import sys
import threading
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[1]
# Streamlit imports these lazily when a page first draws a table, a chart or an image.
LAZY_FOR_STREAMLIT = ("pyarrow", "pandas", "plotly.io", "plotly.graph_objects", "PIL.Image", "numpy")

_lock = threading.Lock()
_done: list[float] = []  # seconds the import took, once done


def imported_names(root: Path = ROOT) -> list[str]:
    """Absolute module names (and ``from X import Y`` candidates ``X.Y``) imported anywhere in app.py, pages/ and
    vizcore/, in a stable order: packages before their submodules. Read once per process (the sources are parsed)."""
    return list(_imported_names(root))


# An import statement at the start of a line, at any indentation: ``import a, b`` or ``from a import x`` (a
# parenthesised list may span lines). Only these statements are parsed, not whole modules: parsing every source
# file of the app into a syntax tree took half a second of each server's first page.
_IMPORT_LINE = re.compile(r"^[ \t]*((?:from[ \t]+[\w.]+[ \t]+import[ \t]*\([^)]*\))|(?:from[ \t]+[\w.]+[ \t]+)?import[ \t][^\n]*)",
                          re.MULTILINE)


def module_imports(source: str) -> set[str]:
    """The absolute module names (and ``from X import Y`` candidates ``X.Y``) that the import statements of Python
    ``source`` name, at any depth. A line that only looks like an import (in a docstring) adds nothing unless it
    parses as one."""
    names: set[str] = set()
    for m in _IMPORT_LINE.finditer(source):
        try:
            tree = ast.parse(m.group(1))
        except SyntaxError:  # prose that starts with "import", a statement continued with a backslash
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names if a.name != "*")
    return names


@functools.lru_cache(maxsize=4)
def _imported_names(root: Path) -> tuple[str, ...]:
    files = [root / "app.py", *sorted((root / "pages").glob("*.py")), *sorted((root / "vizcore").rglob("*.py"))]
    names: set[str] = set(LAZY_FOR_STREAMLIT)
    for f in files:
        names |= module_imports(f.read_text(encoding="utf-8"))
    names.discard("__future__")
    names.update(_vizcore_modules(root))
    return tuple(sorted(names, key=lambda n: (n.count("."), n)))


def _vizcore_modules(root: Path) -> list[str]:
    out = []
    for f in sorted((root / "vizcore").rglob("*.py")):
        rel = f.relative_to(root).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        if rel.name != "__main__":
            out.append(".".join(parts))
    return out


def _is_module(name: str) -> bool:
    """Whether ``name`` is an installed module (``X.Y`` from ``from X import Y`` may be a plain attribute; a
    package that is not installed, an optional one, is skipped)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def import_all() -> float:
    """Import every module of :func:`imported_names` once per process; returns the seconds the first call took
    (later calls return at once with the same figure). Thread-safe: concurrent callers wait for the first."""
    if _done:
        return _done[0]
    with _lock:
        if not _done:
            t0 = time.perf_counter()
            for name in imported_names():
                # pages.* are Streamlit code with effects at import (caches, a rerun): their own imports are
                # all in this list, so importing them later, from several threads, takes no lock that can cycle
                if name.endswith("__main__") or name == "pages" or name.startswith("pages."):
                    continue
                if _is_module(name):
                    importlib.import_module(name)
            freeze_imported_objects()
            _done.append(time.perf_counter() - t0)
    return _done[0]


def freeze_imported_objects() -> int:
    """Move every object alive now (the imported modules' functions, classes, constants: half a million with
    torch, plotly and pandas) out of the cyclic garbage collector's sight, after collecting what is garbage;
    returns how many were frozen. Streamlit collects garbage after every script run, a fragment's tick
    included (``runner.postScriptGC``), and a full collection walked all of them each time: 0.2 s of a core per
    run, for every session of a class (``gc.freeze``, the documented way for a process that imports much and
    then serves). Objects made later are collected as before."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def leave_pages_directory_mode() -> bool:
    """Make every later session run through app.py's ``st.navigation``; returns whether the old mode was on.

    Streamlit starts in its older "pages directory" mode when a ``pages/`` folder sits beside the main script,
    and stays there until some session runs ``st.navigation``: a first visitor opening ``/conv_arithmetic`` would
    get the bare page file (no page config, no device badge, helper modules listed as pages). Streamlit offers no
    setting for this, so the class attribute it reads is set here, at the first import, before the slow imports.
    ``tests/test_startup.py`` fails if a Streamlit upgrade renames the attribute.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a future Streamlit without the old mode
        return False
    was_on = bool(getattr(PagesManager, "uses_pages_directory", False))
    PagesManager.uses_pages_directory = False  # also before any session decided it (None): it stays off
    return was_on


OLD_MODE_RUNNER = "_mpa_v1"  # Streamlit's function that runs a session in its old mode (script_runner.py)


def in_old_mode_run(frame: FrameType | None = None) -> bool:
    """Whether this script run was started in Streamlit's old mode: its runner function is on the call stack
    (app.py's navigation and a page file run on its own, as tests do, are not under it)."""
    f = frame if frame is not None else sys._getframe(1)
    while f is not None:
        if f.f_code.co_name == OLD_MODE_RUNNER and "streamlit" in f.f_code.co_filename:
            return True
        f = f.f_back
    return False


def through_app() -> None:
    """Rerun this session through app.py if Streamlit started this run in its old mode.

    Called by app.py and every page right after their imports, on every run: a class opening deep links on a
    fresh server starts several sessions in the old mode before the first one turns it off, and those sessions
    wait for the first one's import of this module; each must rerun itself (module-level code runs only once).
    The rerun starts after the switch is off, so it goes through app.py's navigation and cannot loop.
    """
    if in_old_mode_run(sys._getframe(1)):
        import streamlit as st

        leave_pages_directory_mode()  # off before the rerun, whoever turned it on since

        st.rerun()  # this request again, through app.py's navigation


leave_pages_directory_mode()
import_all()  # on first import: app.py and every page import this module before any other
importlib.import_module("vizcore.core.device").use_app_threads()  # torch's threads for the pages' computations
