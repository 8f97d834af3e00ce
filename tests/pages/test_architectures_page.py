"""Architectures page: tables agree with torchvision, model choice and custom specs change the output; only
the view on screen is computed, from summaries traced once on the meta device with the same totals."""
from __future__ import annotations

import json

import pytest
import torch
from streamlit.testing.v1 import AppTest

from vizcore.arch.summary import summarize
from vizcore.models import registry as zoo

PAGE = "../../pages/architectures.py"


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _app() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=240).run()


def _view(at: AppTest, view: str) -> AppTest:
    at.session_state["arch_view"] = view
    return at.run()


def _column_config(df_element) -> dict:
    return json.loads(df_element.proto.columns or "{}")


def test_default_model_matches_published_counts_and_switches() -> None:
    at = _app()
    assert not at.exception
    assert _metric(at, "Parameters") == "11,689,512"
    assert any("✓ matches" in c.value for c in at.caption)
    at.selectbox(key="arch_model").set_value("lenet5").run()
    assert _metric(at, "Parameters") == "61,706"
    assert any("See lenet5_paper" in m.value for m in at.markdown)  # the entry says what it is
    table = at.dataframe[0].value
    assert list(table[table["type"] == "Conv2d"]["output"]) == ["6×28×28", "16×10×10", "120×1×1"]


def test_memory_of_one_image_and_a_training_batch() -> None:
    """resnet18 at 224: the activations of one image are the sum of its leaf outputs (the layer table's column);
    a training step adds weights, gradients and the optimizer's state."""
    at = _app()
    table = at.dataframe[0].value
    act = int(table["output bytes"].sum())
    assert _metric(at, "Activations / image") == f"{act / 1e6:,.1f} MB"
    at.number_input(key="one_batch").set_value(10)
    at.selectbox(key="one_opt").set_value("adam").run()
    assert _metric(at, "Activations × 10") == f"{10 * act / 1e6:,.1f} MB"
    assert _metric(at, "Weights + gradients + optimizer state") == f"{16 * 11_689_512 / 1e6:,.1f} MB"


def test_only_the_view_and_chart_on_screen_are_computed() -> None:
    """Issue 9, defect 6: st.tabs ran all four views and all four charts on every rerun (12 s first visit)."""
    at = _app()
    assert len(at.get("plotly_chart")) == 1  # one chart per layer, not four
    assert len(at.dataframe) == 1  # no comparison or classic table computed behind hidden tabs
    assert at.get("plotly_chart")[0].proto.id and "one_spatial" in at.get("plotly_chart")[0].proto.id
    at.session_state["one_chart"] = "macs"
    at.run()
    assert len(at.get("plotly_chart")) == 1 and "one_macs" in at.get("plotly_chart")[0].proto.id


def test_groups_column_has_one_type() -> None:
    """Issue 9, defect 8: 'groups' mixed '' and integers; Streamlit logged an Arrow traceback on each rerun
    (tests/pages/conftest.py fails any page test that makes it do so)."""
    table = _app().dataframe[0].value
    assert {type(v) for v in table["groups"]} == {str}
    assert set(table["groups"]) >= {"", "1"}


def test_custom_stack_error_names_the_line() -> None:
    at = _view(_app(), "Custom stack")
    at.text_area(key="arch_spec").input("input 3 8 8\nconv 3 4\npool max 9\n").run()
    assert not at.exception
    assert any("line 3" in e.value for e in at.error)
    at.text_area(key="arch_spec").input("input 1 28 28\nconv 5 6\nrelu\npool max 2\nfc 10\n").run()
    assert not at.error
    assert any("→ output 10" in s.value for s in at.success)


def test_custom_stack_layers_are_named_by_spec_line_and_operation() -> None:
    """Issue 9, defect 6: custom-stack layers were bare indices ("0", "7.avgpool")."""
    at = _view(_app(), "Custom stack")
    names = list(at.dataframe[0].value["name"])
    assert names[:4] == ["line 2: conv", "line 3: bn", "line 4: relu", "line 5: pool"]
    assert "line 9: se · avgpool" in names and "line 9: se · fc1" in names
    assert names[-2:] == ["line 14: fc · flatten", "line 14: fc"]
    assert not any(n.split(".")[0].isdigit() for n in names)


@pytest.mark.slow
def test_classic_tables_and_comparison() -> None:
    at = _view(_app(), "Classic tables")
    frames = [d.value for d in at.dataframe]
    alex = next(f for f in frames if "output (227, no pad)" in f.columns)
    assert [s.split("×")[1] for s in alex["output (227, no pad)"]] == ["55", "27", "27", "13", "13", "13", "13", "6"]
    lenet_paper = next(f for f in frames if "maps" in f.columns)
    assert list(lenet_paper["params"]) == [156, 12, 1516, 32, 48120, 10164, 0]  # LeCun et al. 1998, §II.B
    widths = next(f for f in frames if "maps (paper)" in f.columns)
    assert list(widths["maps (paper)"][:5]) == [96, 256, 384, 384, 256]
    assert widths["params (paper, one stream)"].sum() == 62_378_344
    assert widths["params (paper, two GPUs)"].sum() == 60_965_224
    assert widths["params (torchvision)"].sum() == 61_100_840
    assert [s.split("×")[1] for s in alex["output (224, pad 2)"]] == ["55", "27", "27", "13", "13", "13", "13", "6"]
    lenet = next(d for d in at.dataframe if "maps" in d.value.columns)  # the paper's LeNet-5
    assert _column_config(lenet)["params"]["type_config"]["format"] == "localized"
    at = _view(at, "Compare models")
    cmp_el = next(d for d in at.dataframe if "multiply-adds (G)" in d.value.columns)
    cmp = cmp_el.value
    assert len(cmp) == 3 and cmp["parameters"].iloc[0] == 11689512
    # thousands separators (issue 9): the count columns are shown "localized" (11,689,512)
    assert _column_config(cmp_el)["parameters"]["type_config"]["format"] == "localized"
    stages = json.loads(next(c for c in at.get("plotly_chart") if "cmp_stages" in c.proto.id).proto.spec)
    categories = stages["layout"]["xaxis"]["categoryarray"]
    assert categories[0] == "112×112" and categories[-1] == "vector" and "1×1" in categories
    assert all(set(t["x"]) <= set(categories) for t in stages["data"])


# One model of each path through the page's tracer: small and variant models against a real forward pass row by
# row, torchvision models against their published counts, RegNet through the CPU fallback. That summaries on the
# meta device equal real ones for every torchvision model is pinned in tests/vizcore/test_zoo.py.
TRACED = ["lenet5", "lenet5_paper", "alexnet_paper", "inception_v3", "fast_cnn", "se_resnet_small", "alexnet_227", "resnet18", "resnet50_d", "resnet_small_b",
          "efficientnet_s3", "googlenet", "densenet121", "resnet50_b", "efficientnet_b0", "regnet_y_400mf"]


def test_traced_models_are_in_the_zoo() -> None:
    assert set(TRACED) <= set(zoo.list_models())


_DRAWS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "xavier_uniform_", "xavier_normal_",
          "kaiming_uniform_", "kaiming_normal_", "orthogonal_")  # torch.nn.init's fills


def _built_without_drawing(name: str, monkeypatch: pytest.MonkeyPatch) -> torch.nn.Module:
    """``zoo.build_model(name)`` on the CPU with torch.nn.init's fills skipped, every parameter then zero: the real
    forward pass needs the layers, not their random weights (drawing AlexNet's 61 M weights takes longer than that
    forward pass and the meta trace together)."""
    with monkeypatch.context() as m:
        for fill in _DRAWS:
            m.setattr(torch.nn.init, fill, lambda tensor, *args, **kwargs: tensor)
        model = zoo.build_model(name)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    return model


@pytest.mark.slow
@pytest.mark.parametrize("name", TRACED)
def test_meta_trace_gives_the_same_totals(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page traces on the meta device (no weights, no arithmetic): its totals must be today's. Published
    torchvision counts pin the large models (their real forward pass is what made the page slow); the small
    ones and resnet18 are compared with a real forward pass row by row."""
    from pages._arch_trace import trace

    entry = zoo.get_entry(name)
    meta = trace(name, entry.input_size)
    if entry.tv_name and name not in ("resnet18",):
        from torchvision.models import get_model_weights

        pub = get_model_weights(entry.tv_name).DEFAULT.meta
        assert meta["params"] == pub["num_params"]
        assert round(meta["macs"] / 1e9, 3) == pytest.approx(pub["_ops"], abs=0.0015)
    else:
        real = summarize(_built_without_drawing(name, monkeypatch), entry.input_size)
        assert meta["rows"] == real.to_rows() and meta["stages"] == real.stages
        assert (meta["params"], meta["macs"], meta["output"]) == (real.total_params, real.total_macs, real.output_shape)
