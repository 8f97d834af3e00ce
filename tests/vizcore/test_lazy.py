"""vizcore.core.lazy: a module named at import and imported at its first use. (That a training worker's default
run imports no torchvision is checked in a fresh interpreter by tests/vizcore/test_cli.py.)"""
from __future__ import annotations

import sys

import pytest

from vizcore.core import lazy


def test_the_module_is_imported_at_the_first_attribute_read_only(tmp_path, monkeypatch) -> None:
    (tmp_path / "cs_lazy_probe.py").write_text("LOADED = True\ndef twice(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "cs_lazy_probe", raising=False)
    probe = lazy.module("cs_lazy_probe")
    assert "cs_lazy_probe" not in sys.modules and "imported on first use" in repr(probe)
    assert probe.twice(21) == 42 and probe.LOADED is True
    assert sys.modules["cs_lazy_probe"].twice is probe.twice  # the module itself, imported once
    with pytest.raises(AttributeError):
        _ = probe.missing


def test_a_missing_module_fails_at_first_use_as_its_import_would() -> None:
    ghost = lazy.module("cs_no_such_module_here")  # naming it costs nothing and raises nothing
    with pytest.raises(ModuleNotFoundError, match="cs_no_such_module_here"):
        _ = ghost.anything
