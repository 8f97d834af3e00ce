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
    wrong = {str(f.relative_to(ROOT)): _first_import(f) for f in files if _first_import(f) != "pages._startup"}
    assert not wrong, f"these files import something before pages._startup: {wrong}"


def test_imported_names_cover_function_level_imports_and_every_vizcore_module() -> None:
    names = _startup.imported_names()
    assert "captum.attr" in names  # imported inside a function in vizcore/inspect/attribution.py
    assert "sklearn.datasets" in names  # imported inside a function in vizcore/data/datasets.py
    assert "vizcore.lab.store" in names and "vizcore.cli.main" in names
    assert "pyarrow" in names  # Streamlit's own lazy import for tables
    assert names.index("torch") < names.index("torch.nn")  # packages before their submodules


def test_streamlit_still_has_the_pages_directory_switch_the_app_turns_off() -> None:
    # pages/_startup.py leaves Streamlit's old "pages directory" mode through this class attribute; an upgrade
    # that renames it must fail here, not silently serve bare page files to a fresh server's first visitors.
    from streamlit.runtime import pages_manager

    assert "uses_pages_directory" in vars(pages_manager.PagesManager)
    src = Path(pages_manager.__file__).read_text(encoding="utf-8")
    assert 'PagesManager.uses_pages_directory = Path(' in src
