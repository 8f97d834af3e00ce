"""pages/_startup.py: every module the app imports is imported once, in one thread, before any page code runs."""
from __future__ import annotations

import ast
from pathlib import Path

from pages import _startup
from tests.app_pages import ROOT, app_pages


def _first_import(path: Path) -> str:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, ast.Import):
            return node.names[0].name
        if isinstance(node, ast.ImportFrom):
            return str(node.module)
    return ""


def test_app_and_every_page_import_the_startup_module_first() -> None:
    # A fresh server runs a deep-linked page file before app.py: each must start with the one-thread import.
    files = [ROOT / "app.py", *(ROOT / p for p, _ in app_pages()), ROOT / "pages" / "_common.py"]
    assert len(files) >= 11
    first = {str(f.relative_to(ROOT)): _first_import(f) for f in files}
    wrong = {f: name for f, name in first.items() if name != "pages._startup"}
    assert not wrong, f"these files import something before pages._startup: {wrong}"


def _first_statement_after_imports(path: Path) -> str:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):  # the docstring
            continue
        return ast.unparse(node)
    return ""


def test_app_and_every_page_reroute_a_bare_run_before_drawing() -> None:
    # The module-level code of pages._startup runs once; sessions that waited for it must each check their run.
    files = [ROOT / "app.py", *(ROOT / p for p, _ in app_pages())]
    first = {str(f.relative_to(ROOT)): _first_statement_after_imports(f) for f in files}
    wrong = {f: statement for f, statement in first.items() if statement != "through_app()"}
    assert not wrong, f"these files draw before through_app(): {wrong}"


def test_an_old_mode_run_is_told_by_streamlits_runner_on_the_stack() -> None:
    here = {"in_old_mode_run": _startup.in_old_mode_run, "sys": __import__("sys")}
    # a function of that name in Streamlit's runner file, calling the page: the old mode
    runner = compile("def _mpa_v1(page):\n    return page()\n", "/x/streamlit/runtime/scriptrunner/script_runner.py", "exec")
    exec(runner, here)
    page = lambda: here["in_old_mode_run"]()  # noqa: E731
    assert here["_mpa_v1"](page) is True
    assert page() is False  # app.py's navigation, or a page run on its own
    # the same name outside Streamlit does not count
    other = {"in_old_mode_run": _startup.in_old_mode_run}
    exec(compile("def _mpa_v1(page):\n    return page()\n", "/x/mine.py", "exec"), other)
    assert other["_mpa_v1"](page) is False


def test_imported_names_cover_function_level_imports_and_every_vizcore_module() -> None:
    names = _startup.imported_names()
    assert "captum.attr" in names  # imported inside a function in vizcore/inspect/attribution.py
    assert "sklearn.datasets" in names  # imported inside a function in vizcore/data/datasets.py
    assert "vizcore.lab.store" in names and "vizcore.cli.main" in names
    assert "pyarrow" in names  # Streamlit's own lazy import for tables
    assert names.index("torch") < names.index("torch.nn")  # packages before their submodules


def test_the_import_scan_finds_what_a_full_parse_finds() -> None:
    """Only import statements are parsed (fast); every name a walk of each file's whole syntax tree finds is found."""
    import ast

    src = ('import a.b as c, d\nfrom e import (f,\n    g as h,  # note\n)\n\ndef k():\n    from m.n import o\n'
           '    import p; q = 1\n"""\nimport the weights here\n"""\nfrom . import rel\nfrom s import *\n')
    assert _startup.module_imports(src) == {"a.b", "d", "e", "e.f", "e.g", "m.n", "m.n.o", "p", "s"}
    root = _startup.ROOT
    for path in [root / "app.py", *(root / "pages").glob("*.py"), *(root / "vizcore").rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        full = set()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                full.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                full |= {node.module, *(f"{node.module}.{a.name}" for a in node.names if a.name != "*")}
        assert full <= _startup.module_imports(text), (path, full - _startup.module_imports(text))


def test_streamlit_still_has_the_pages_directory_switch_the_app_turns_off() -> None:
    # pages/_startup.py leaves Streamlit's old "pages directory" mode through this class attribute; an upgrade
    # that renames it must fail here, not silently serve bare page files to a fresh server's first visitors.
    from streamlit.runtime import pages_manager

    assert "uses_pages_directory" in vars(pages_manager.PagesManager)
    src = Path(pages_manager.__file__).read_text(encoding="utf-8")
    assert 'PagesManager.uses_pages_directory = Path(' in src
    # and runs such a session through this function, which pages/_startup.through_app looks for on the stack
    from streamlit.runtime.scriptrunner import script_runner

    runner_src = Path(script_runner.__file__).read_text(encoding="utf-8")
    assert f"def {_startup.OLD_MODE_RUNNER}(" in runner_src
    assert "if PagesManager.uses_pages_directory:\n" in runner_src and f"{_startup.OLD_MODE_RUNNER}(self._main_script_path)" in runner_src


def _page_id_page() -> None:
    import streamlit as st

    from pages._url_state import _page_id

    st.session_state["page_id"] = _page_id()


def test_streamlit_still_says_which_page_a_run_belongs_to() -> None:
    # pages/_url_state tells one page's URL settings from another's by the run context's page_script_hash (Streamlit's
    # own, not a documented API); an upgrade that renames it or leaves it empty must fail here, not carry one page's
    # settings into the next page's link.
    from streamlit.runtime.scriptrunner import ScriptRunContext
    from streamlit.testing.v1 import AppTest

    assert isinstance(vars(ScriptRunContext).get("page_script_hash"), property)
    at = AppTest.from_function(_page_id_page, default_timeout=30).run()
    assert not at.exception and len(at.session_state["page_id"]) >= 16


def test_what_the_imports_made_is_frozen_out_of_the_collectors_sight() -> None:
    """After the app's imports, a full garbage collection (which Streamlit runs after every script run) walks only
    what was made since, not the half a million objects of torch, plotly and pandas."""
    from pages._startup import import_all

    import gc

    import_all()  # done already in this process (the page tests import pages._common), or now
    frozen = gc.get_freeze_count()
    assert frozen > 200_000, frozen
    assert len(gc.get_objects()) < frozen  # the tracked objects left are what the tests made since


def _script_lines(path: Path) -> int:
    """Lines of a page's code that run at module level outside functions and classes (imports, docstrings and
    UPPER_CASE constants not counted)."""
    import re

    count = 0
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
            if names and all(re.fullmatch(r"_?[A-Z][A-Z0-9_]*", n) for n in names):
                continue
        count += node.end_lineno - node.lineno + 1  # type: ignore[operator]
    return count


def test_every_page_reads_as_a_story() -> None:
    """A page's module level is its story (title, intro, one call per section); each section is a function with a
    docstring, as new pages should be written. 30 lines leave room for a title, an intro and a dozen calls."""
    long = {p: n for p, _ in app_pages() if (n := _script_lines(ROOT / p)) > 30}
    assert not long, f"pages with more than 30 lines of script outside functions: {long}"
    assert _script_lines(ROOT / "pages" / "training_lab.py") >= 5  # the counter counts
