"""The view in the URL (pages/_url_state.py): values written and read back, bad parameters dropped with a note, and
pages opened from a link showing its choices (AppTest with query parameters)."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from pages._url_state import decode, encode, encode_params, encode_value, make_spec, plan, words


def test_values_are_written_as_plain_text_and_read_back() -> None:
    assert [encode(v) for v in (True, False, 7, 2.0, 0.05, 1e-3, "resnet18")] == \
        ["true", "false", "7", "2", "0.05", "0.001", "resnet18"]
    assert decode(["32"], make_spec("h", 7, lo=1, hi=4096)) == 32
    assert decode(["0.25"], make_spec("a", 0.5, lo=0.0, hi=1.0)) == 0.25
    assert decode(["TRUE"], make_spec("b", False)) is True
    assert decode(["0.001"], make_spec("d", 1e-3, options=[0.0, 1e-4, 1e-3])) == 1e-3
    spec = make_spec("m", ["gradcam"], options=["gradcam", "gradcam_pp", "saliency"], many=True, most=2)
    assert decode(["saliency", "gradcam", "saliency"], spec) == ["saliency", "gradcam"]  # repeats once


def test_display_words_never_reach_the_url() -> None:
    kinds = {"Convolution": "conv", "Transposed convolution": "transposed"}
    spec = make_spec("ca_kind", "Convolution", options=kinds)
    assert encode_value("Transposed convolution", spec) == ["transposed"]
    assert decode(["transposed"], spec) == "Transposed convolution"
    with pytest.raises(ValueError, match="expected one of conv, transposed, got 'Transposed convolution'"):
        decode(["Transposed convolution"], spec)
    assert words(["A/B", "Compare models"]) == {"A/B": "a_b", "Compare models": "compare_models"}
    upload = make_spec("src", "Sample photo", options={"Sample photo": "photo"})
    assert encode_value("Upload", upload) is None  # a choice a link cannot carry stays out of it
    assert encode_params({"ca_h": 32, "cam_methods": ["gradcam", "saliency"]}) == \
        {"ca_h": "32", "cam_methods": ["gradcam", "saliency"]}


@pytest.mark.parametrize(("texts", "spec", "message"), [
    (["abc"], make_spec("eps", 8, lo=0, hi=64), "expected a whole number, got 'abc'"),
    (["65"], make_spec("eps", 8, lo=0, hi=64), "expected a number from 0 to 64, got 65"),
    (["nan"], make_spec("phi", 1.0, lo=0.0, hi=7.0), "expected a finite number, got 'nan'"),
    (["yes"], make_spec("rs", False), "expected true or false, got 'yes'"),
    (["nosuchmodel"], make_spec("m", "small_cnn", options=["small_cnn", "resnet18"]),
     "expected one of small_cnn, resnet18, got 'nosuchmodel'"),
    (["1", "2"], make_spec("k", 2, lo=2, hi=4), "expected one value, got 2"),
    (["a", "b", "c"], make_spec("t", ["a"], options="abc", many=True, most=2), "expected at most 2 choices, got 3"),
])
def test_invalid_values_are_refused_in_words(texts, spec, message) -> None:
    with pytest.raises(ValueError, match=message):
        decode(texts, spec)


def test_plan_keeps_changed_choices_and_drops_the_rest_with_a_note() -> None:
    specs = {"ca_h": make_spec("ca_h", 7, lo=1, hi=4096), "ca_w": make_spec("ca_w", 7, lo=1, hi=4096),
             "rf_layer": make_spec("rf_layer_resnet18", "layer1", options=["layer1", "layer2"])}
    url = {"ca_h": ["32"], "ca_w": ["7"], "old": ["1"], "zzz": ["abc"]}
    out, notes = plan(url, {"ca_h": 32, "ca_w": 7, "rf_layer": "layer2"}, specs, written={"old": ["1"]})
    assert out == {"ca_h": ["32"], "rf_layer": ["layer2"]}  # the default width is left out; the key's alias is used
    assert notes == ["`zzz=abc`: not a setting of this view as it is now"]  # 'old' was this session's own: silent


def _conv(params: dict) -> AppTest:
    at = AppTest.from_file("../../pages/conv_arithmetic.py", default_timeout=120)
    at.query_params.update(params)
    return at.run()


def _link(at: AppTest) -> str:
    return at.sidebar.code[-1].value


def test_a_link_sets_the_page_and_bad_parameters_are_dropped_with_a_note() -> None:
    at = _conv({"ca_h": "32", "ca_kind": "pool", "ca_k": "abc", "ca_s": "999", "bogus": "1"})
    assert not at.exception, [e.message for e in at.exception]
    assert at.number_input(key="ca_h").value == 32 and at.radio(key="ca_kind").value == "Pooling"
    assert at.number_input(key="ca_k").value == 3 and at.number_input(key="ca_s").value == 2  # defaults
    note = at.sidebar.info[0].value
    assert "`ca_k`: expected a whole number, got 'abc'" in note and "`ca_s`: expected a number from 1 to 64" in note
    assert "`bogus=1`" in note
    assert at.query_params == {"ca_kind": "pool", "ca_h": "32"}
    assert _link(at) == "?ca_kind=pool&ca_h=32"

    at.number_input(key="ca_w").set_value(20).run()  # a change goes into the URL, the note is gone
    assert at.query_params == {"ca_kind": "pool", "ca_h": "32", "ca_w": "20"} and not at.sidebar.info
    at.number_input(key="ca_h").set_value(7).run()  # back at its default: out of the URL
    assert at.query_params == {"ca_kind": "pool", "ca_w": "20"} and _link(at) == "?ca_kind=pool&ca_w=20"


def test_a_plain_visit_writes_nothing_into_the_url() -> None:
    at = _conv({})
    assert at.query_params == {} and _link(at) == "?" and not at.sidebar.info


@pytest.mark.slow
def test_network_overview_from_a_link_with_an_unknown_model_and_a_good_slider() -> None:
    at = AppTest.from_file("../../pages/network_overview.py", default_timeout=180)
    at.query_params.update({"ov_model": "nosuchmodel", "ov_channels": "3", "ov_i": "abc"})
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.selectbox(key="ov_model").value == "small_cnn" and at.slider(key="ov_channels").value == 3
    note = at.sidebar.info[0].value
    assert "`ov_model`: expected one of" in note and "got 'nosuchmodel'" in note and "`ov_i`" in note
    assert at.query_params == {"ov_channels": "3"}


@pytest.mark.slow
def test_adversarial_from_a_link() -> None:
    at = AppTest.from_file("../../pages/adversarial.py", default_timeout=180)
    at.query_params.update({"adv_method": "fgsm", "adv_eps": "abc", "adv_eps_l2": "2", "adv_image_shape": "5"})
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.radio(key="adv_method").value == "fgsm" and at.slider(key="adv_eps").value == 8
    assert at.number_input(key="adv_image_shape").value == 5
    note = at.sidebar.info[0].value
    assert "`adv_eps`: expected a whole number, got 'abc'" in note
    assert "`adv_eps_l2=2`: not a setting of this view" in note  # the L2 slider shows only for the L2 ball
    assert at.query_params == {"adv_method": "fgsm", "adv_image_shape": "5"}


@pytest.mark.slow
def test_features_search_and_maximisation_settings_and_se_image_count_from_links() -> None:
    """The top-patch search's and the activation maximisation's settings, and SE's images per class, travel in a
    link (a value off the widget's range is dropped with a note)."""
    at = AppTest.from_file("../../pages/features.py", default_timeout=180)
    at.query_params.update({"ft_view": "top_activating_patches", "ft_tp_n": "2000", "ft_tp_k": "4"})
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.slider(key="ft_tp_n").value == 2000 and at.slider(key="ft_tp_k").value == 4
    assert not at.warning, [w.value for w in at.warning]  # no "default value and Session State" warning
    at = AppTest.from_file("../../pages/features.py", default_timeout=180)
    at.query_params.update({"ft_view": "activation_maximisation", "ft_am_steps": "64", "ft_am_tv": "0.01",
                            "ft_am_fourier": "false", "ft_am_seed": "7", "ft_am_jitter": "99"})
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.slider(key="ft_am_steps").value == 64 and at.select_slider(key="ft_am_tv").value == 0.01
    assert at.toggle(key="ft_am_fourier").value is False and at.number_input(key="ft_am_seed").value == 7
    assert "`ft_am_jitter`" in at.sidebar.info[0].value  # 99 px: beyond the slider's 16
    assert "ft_am_jitter" not in at.query_params and at.query_params["ft_am_seed"] == "7"
    at = AppTest.from_file("../../pages/se_attention.py", default_timeout=180)
    at.query_params.update({"se_n": "20"})
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.slider(key="se_n").value == 20 and at.query_params["se_n"] == "20"
