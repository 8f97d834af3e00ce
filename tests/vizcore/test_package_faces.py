"""Each vizcore sub-package's face: its ``__all__`` names the modules meant for use from outside, its docstring says
what each is and which modules are internal, and importing the package imports none of its modules.

Read from the files (``ast``), not by importing, so a package whose ``__init__`` imported its modules eagerly is
caught by the last test rather than hidden by the first ones.
"""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VIZCORE = ROOT / "vizcore"
SUBPACKAGES = sorted(p.parent.name for p in VIZCORE.glob("*/__init__.py"))


def _face(sub: str) -> tuple[str, list[str]]:
    """(docstring, __all__) of ``vizcore/<sub>/__init__.py``, read from its source."""
    tree = ast.parse((VIZCORE / sub / "__init__.py").read_text(encoding="utf-8"))
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            names = list(ast.literal_eval(node.value))
    return ast.get_docstring(tree) or "", names


def _internal(doc: str) -> set[str]:
    """The ``name``s of the docstring's "Internal:" paragraph."""
    m = re.search(r"^Internal:(.*?)(?:\n\s*\n|\Z)", doc, re.M | re.S)
    return set(re.findall(r"``(\w+)``", m.group(1))) if m else set()


def _modules(sub: str) -> set[str]:
    return {p.stem for p in (VIZCORE / sub).glob("*.py") if not p.stem.startswith("_")}


def test_the_nine_subpackages_are_found() -> None:
    assert {"arch", "cli", "core", "data", "figures", "inspect", "lab", "models", "train"} <= set(SUBPACKAGES)


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_all_names_existing_modules_each_described(sub: str) -> None:
    doc, names = _face(sub)
    assert names, f"vizcore/{sub}/__init__.py has no __all__"
    assert len(names) == len(set(names)), f"vizcore.{sub}.__all__ repeats a name: {names}"
    missing = [n for n in names if not (VIZCORE / sub / f"{n}.py").is_file()]
    assert not missing, f"vizcore.{sub}.__all__ names no module file: {missing}"
    undescribed = [n for n in names if f"``{n}``" not in doc]
    assert not undescribed, f"vizcore/{sub}/__init__.py's docstring does not say what these are: {undescribed}"
    assert "May import" in doc, f"vizcore/{sub}/__init__.py's docstring does not say what the package may import"


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_every_module_is_public_or_documented_as_internal(sub: str) -> None:
    doc, names = _face(sub)
    internal = _internal(doc)
    assert not internal & set(names), f"vizcore.{sub}: both public and internal: {sorted(internal & set(names))}"
    assert not internal - _modules(sub), f"vizcore.{sub}: internal names without a module: {sorted(internal - _modules(sub))}"
    unplaced = sorted(_modules(sub) - set(names) - internal)
    assert not unplaced, (f"vizcore/{sub}/ has modules neither in __all__ nor under 'Internal:' in its docstring: "
                          f"{unplaced}")


def test_importing_a_subpackage_imports_none_of_its_modules() -> None:
    # the packages are namespaces of modules: `python -m vizcore --help` must not pay for torch through them
    probe = ("import importlib, json, sys\n"
             f"subs = {SUBPACKAGES!r}\n"
             "for s in subs:\n"
             "    importlib.import_module('vizcore.' + s)\n"
             "print(json.dumps(sorted(m for m in sys.modules if m.count('.') >= 2 and m.startswith('vizcore.'))\n"
             "                 + [m for m in ('torch', 'numpy') if m in sys.modules]))\n")
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) == []
