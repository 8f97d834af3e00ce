"""Conv Arithmetic page: widgets change the numbers; impossible settings give words, not tracebacks."""
from __future__ import annotations

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
