"""Model tweaks & scaling page: the ResNet forms table and the compound-scaling explorer react to φ."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

PAGE = "../../pages/model_scaling.py"


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_tweak_table_and_phi_explorer() -> None:
    at = AppTest.from_file(PAGE, default_timeout=300).run()
    assert not at.exception, [e.value for e in at.exception]
    forms = at.dataframe[0].value
    assert list(forms["form"]) == ["A", "B", "C", "D"]
    assert list(forms["multiply-adds (G)"]) == [3.86, 4.09, 4.33, 4.33]
    assert _metric(at, "parameters") == "9.11 M"  # φ = 1: B0 at (1.1, 1.2) is B2's layer table
    at.slider(key="sc_phi").set_value(2.0).run()
    assert not at.exception
    assert _metric(at, "parameters") == "12.23 M" and _metric(at, "resolution") == "296 px"
    at.number_input(key="sc_gamma").set_value(1.0).run()
    assert _metric(at, "resolution") == "224 px"  # γ = 1: resolution does not grow
