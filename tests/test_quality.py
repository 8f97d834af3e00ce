"""Lint (ruff: errors, imports, bugbear, complexity) and types (mypy on vizcore), as configured in pyproject.toml."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(tool: str, *args: str) -> subprocess.CompletedProcess:
    # the tool of this interpreter's environment (a virtual environment need not be on PATH)
    if importlib.util.find_spec(tool) is None:
        pytest.fail(f"{tool} is not installed: pip install -r requirements-dev.txt")
    return subprocess.run([sys.executable, "-m", tool, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean() -> None:
    res = _run("ruff", "check", ".", "--output-format", "concise")
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]


def test_mypy_is_clean_on_vizcore() -> None:
    res = _run("mypy")  # files and options from pyproject.toml
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
