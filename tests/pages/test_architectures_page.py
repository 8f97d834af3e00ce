"""Architectures page: tables agree with torchvision, model choice and custom specs change the output."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_default_model_matches_published_counts_and_switches() -> None:
    at = AppTest.from_file("../../pages/architectures.py", default_timeout=240).run()
    assert not at.exception
    assert _metric(at, "Parameters") == "11,689,512"
    assert any("✓ matches" in c.value for c in at.caption)
    at.selectbox(key="arch_model").set_value("lenet5").run()
    assert _metric(at, "Parameters") == "61,706"
    table = at.dataframe[0].value
    assert list(table[table["type"] == "Conv2d"]["output"]) == ["6×28×28", "16×10×10", "120×1×1"]


def test_custom_stack_error_names_the_line() -> None:
    at = AppTest.from_file("../../pages/architectures.py", default_timeout=240).run()
    at.text_area(key="arch_spec").input("input 3 8 8\nconv 3 4\npool max 9\n").run()
    assert not at.exception
    assert any("line 3" in e.value for e in at.error)
    at.text_area(key="arch_spec").input("input 1 28 28\nconv 5 6\nrelu\npool max 2\nfc 10\n").run()
    assert not at.error
    assert any("→ output 10" in s.value for s in at.success)


def test_classic_tables_and_comparison() -> None:
    at = AppTest.from_file("../../pages/architectures.py", default_timeout=240).run()
    frames = [d.value for d in at.dataframe]
    alex = next(f for f in frames if "output (227, no pad)" in f.columns)
    assert [s.split("×")[1] for s in alex["output (227, no pad)"]] == ["55", "27", "27", "13", "13", "13", "13", "6"]
    assert [s.split("×")[1] for s in alex["output (224, pad 2)"]] == ["55", "27", "27", "13", "13", "13", "13", "6"]
    cmp = next(f for f in frames if "multiply-adds (G)" in f.columns)
    assert len(cmp) == 3 and cmp["parameters"].iloc[0] == 11689512
