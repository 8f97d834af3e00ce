"""Conv Arithmetic page: widgets change the numbers; impossible settings give words, not tracebacks."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest


def _app() -> AppTest:
    return AppTest.from_file("../../pages/conv_arithmetic.py", default_timeout=120).run()


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_default_and_stride_change() -> None:
    at = _app()
    assert not at.exception
    assert _metric(at, "Output (C×H×W)") == "16×7×7"
    assert _metric(at, "Parameters") == f"{(3 * 3 * 3 + 1) * 16:,}"
    assert "H: floor((7 + 2·1 - 1·(3-1) - 1) / 1) + 1 = 7" in at.code[0].value
    at.number_input(key="ca_s").set_value(2).run()
    assert _metric(at, "Output (C×H×W)") == "16×4×4"


@pytest.mark.slow
def test_alexnet_conv1_and_floor_warning() -> None:
    at = _app()
    at.number_input(key="ca_h").set_value(224)
    at.number_input(key="ca_w").set_value(224)
    at.number_input(key="ca_k").set_value(11)
    at.number_input(key="ca_s").set_value(4)
    at.number_input(key="ca_p").set_value(2)
    at.number_input(key="ca_cout").set_value(64).run()
    assert not at.exception
    assert _metric(at, "Output (C×H×W)") == "64×55×55"
    assert any("drops the last 1 row" in w.value for w in at.warning)


def test_impossible_settings_show_an_error() -> None:
    at = _app()
    at.number_input(key="ca_k").set_value(11)
    at.number_input(key="ca_p").set_value(0).run()
    assert not at.exception
    assert at.error and "smaller than 1" in at.error[0].value
    at.number_input(key="ca_g").set_value(2).run()  # 3 input channels cannot split into 2 groups
    assert at.error and "groups" in at.error[0].value


@pytest.mark.slow
def test_pooling_ceil_mode_and_same_padding() -> None:
    at = _app()
    at.radio(key="ca_kind").set_value("Pooling").run()
    at.number_input(key="ca_h").set_value(14)
    at.number_input(key="ca_w").set_value(14)
    at.number_input(key="ca_p").set_value(0)
    at.number_input(key="ca_s").set_value(2).run()
    assert _metric(at, "Output (C×H×W)") == "3×6×6"
    at.checkbox(key="ca_ceil").check().run()
    assert _metric(at, "Output (C×H×W)") == "3×7×7"
    assert any("partial window" in w.value for w in at.warning)
    at.radio(key="ca_kind").set_value("Convolution").run()
    at.selectbox(key="ca_pmode").set_value("same")
    at.number_input(key="ca_s").set_value(1)
    at.number_input(key="ca_k").set_value(4).run()
    assert _metric(at, "Output (C×H×W)") == "16×14×14"
    assert any("Even kernel" in w.value for w in at.warning)
    assert any("Uneven padding" in i.value for i in at.info)


def test_impossible_settings_are_explained_in_place_with_what_would_work() -> None:
    """Issue 9, defect 7: the message read "Impossible settings: impossible settings: …" and the whole right
    column (formula, numbers) disappeared; now it says it once, in place, with the nearest possible settings."""
    at = _app()
    at.number_input(key="ca_k").set_value(11)
    at.number_input(key="ca_p").set_value(0).run()
    assert not at.exception
    msg = at.error[0].value
    assert msg.startswith("Impossible settings: ") and msg.lower().count("impossible settings") == 1
    work = next(m.value for m in at.markdown if m.value.startswith("**What would work**"))
    assert "K = 7" in work  # 7 px, no padding: a 7×7 kernel is the largest that fits
    assert "P = 2 per side" in work  # (11 - 7) / 2
    assert at.latex  # the formula stays in view
    at.number_input(key="ca_k").set_value(7).run()
    assert not at.error and _metric(at, "Output (C×H×W)") == "16×1×1"


def test_impossible_groups_and_transposed_padding_name_the_valid_values() -> None:
    at = _app()
    at.number_input(key="ca_cin").set_value(12)
    at.number_input(key="ca_cout").set_value(18)
    at.number_input(key="ca_g").set_value(4).run()
    work = next(m.value for m in at.markdown if m.value.startswith("**What would work**"))
    assert "Groups must divide C_in = 12 and C_out = 18: 1, 2, 3, 6." in work
    at.number_input(key="ca_g").set_value(1)
    at.radio(key="ca_kind").set_value("Transposed convolution").run()
    at.number_input(key="ca_p").set_value(20).run()
    assert at.error and at.error[0].value.startswith("Impossible settings: ")
    work = next(m.value for m in at.markdown if m.value.startswith("**What would work**"))
    assert "Largest padding that leaves an output: P = 4." in work  # (6·1 + 2 + 0) // 2


def test_hands_on_ml_preset_gives_the_books_memory_figures_and_the_separable_form() -> None:
    at = _app()
    at.button(key="ca_preset_homl").click().run()
    assert not at.exception
    assert _metric(at, "Output (C×H×W)") == "200×150×100"
    assert _metric(at, "Parameters") == "15,200" and _metric(at, "Multiply-adds") == "225,000,000"
    assert _metric(at, "Output memory / instance") == "12,000,000 bytes"
    assert _metric(at, "Output memory × 100") == "1.2 GB"
    at.number_input(key="ca_k").set_value(3)
    at.number_input(key="ca_cin").set_value(256)
    at.number_input(key="ca_cout").set_value(256).run()
    assert any("8.7× cheaper" in m.value for m in at.markdown)
    at.number_input(key="ca_cin").set_value(3)
    at.number_input(key="ca_cout").set_value(1).run()
    assert any("11% dearer" in m.value for m in at.markdown)


@pytest.mark.slow
def test_deformable_section_trains_and_shows_the_sampling_points() -> None:
    """Extremes of the section's widgets (smallest picture, largest dilation, fewest steps): the trained points are
    those the page's figure draws, and the trained error is below the regular grid's."""
    at = _app()
    assert not at.exception and "Train the offsets" in " ".join(c.value for c in at.caption)
    at.select_slider(key="dfm_size").set_value(32)
    at.slider(key="dfm_dilation").set_value(4)
    at.slider(key="dfm_steps").set_value(20)
    at.button(key="dfm_train").click().run()
    assert not at.exception and not at.error
    res = at.session_state["dfm_results"][("chelsea", 32, 4, 20)]
    assert float(_metric(at, "Error, trained offsets")) < float(_metric(at, "Error, regular grid"))
    at.slider(key="dfm_i").set_value(31).run()  # a corner unit: no retraining, same result object
    assert not at.exception
    assert at.session_state["dfm_results"][("chelsea", 32, 4, 20)] is res
    assert res.points.shape == (32, 32, 9, 2)
