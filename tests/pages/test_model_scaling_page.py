"""Model tweaks & scaling page: the ResNet forms table and the compound-scaling explorer react to φ; a family
queued from the page is drawn when its runs finish (stub runs: tests/pages/conftest.py)."""
from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

PAGE = "../../pages/model_scaling.py"


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.slow
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


@pytest.mark.slow
def test_every_extreme_of_the_scaling_widgets_gives_a_page() -> None:
    import json

    at = AppTest.from_file(PAGE, default_timeout=300).run()
    for phi, alpha, beta, gamma in [(7.0, 2.0, 2.0, 2.0), (7.0, 1.3, 1.1, 1.15), (1.0, 1.5, 1.1, 1.15),
                                    (0.0, 2.0, 2.0, 2.0), (7.0, 1.0, 1.0, 1.0), (0.5, 1.0, 2.0, 1.0)]:
        at.slider(key="sc_phi").set_value(phi)
        for key, v in (("sc_alpha", alpha), ("sc_beta", beta), ("sc_gamma", gamma)):
            at.number_input(key=key).set_value(v)
        at.run()
        assert not at.exception and not at.error, (phi, alpha, beta, gamma, [e.value for e in at.error])
        spec = json.loads(next(c.proto.spec for c in at.get("plotly_chart") if "compound scaling" in c.proto.spec))
        line = spec["data"][0]
        d = alpha ** phi
        if d > 6 or beta ** phi > 6 or 224 * gamma ** phi > 1024:  # this member cannot be built: said in words
            warn = " ".join(w.value for w in at.warning)
            assert "is not built here" in warn and "depth_mult" not in warn and _metric(at, "parameters") == "—"
        else:
            assert _metric(at, "parameters").endswith(" M")
        built = [p for p in range(8) if alpha ** p <= 6 and beta ** p <= 6 and 224 * gamma ** p <= 1024]
        assert line["x"] == [float(p) for p in built]  # the chart keeps every member that can be built
        if len(built) < 8:
            assert "not built here" in json.dumps(spec["layout"]["annotations"])
        assert "Scaling on the embedded shapes" in " ".join(h.value for h in at.header)  # the page goes on


@pytest.mark.slow
def test_trained_family_chart_from_a_store_that_holds_one(seeded) -> None:
    at = AppTest.from_file(PAGE, default_timeout=300).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="sc_family_pick").value == seeded.scaling
    table = at.dataframe[-1].value
    assert list(table["configuration"]) == ["φ=0 (32 px)", "φ=1 (37 px)"]
    assert [v.split(" ")[0] for v in table["final val accuracy (%)"]] == ["62.00", "72.00"]  # the seeded finals
    macs = list(table["multiply-adds (M)"])
    assert macs[0] < macs[1]
    assert any(c.proto.spec and "accuracy against cost" in c.proto.spec for c in at.get("plotly_chart"))


@pytest.fixture
def timed_steps(monkeypatch) -> list[tuple[str, int]]:
    """The calibration's timed training steps replaced by fixed rates, each request recorded as (model, image size):
    the page's asking is under test here; the measurement itself is tested in tests/vizcore/test_timing.py."""
    from vizcore.train import calibration

    asked: list[tuple[str, int]] = []

    def calibrate(model_name: str, image_size: int, *args, **kwargs) -> tuple[float, float]:
        asked.append((model_name, image_size))
        return 200.0, 600.0  # training and evaluation images per second

    monkeypatch.setattr(calibration, "calibrate", calibrate)
    return asked


@pytest.mark.slow
def test_queue_a_family_from_the_page(data_dir, stub_runs, timed_steps) -> None:
    from vizcore.lab import experiment as vexp
    from vizcore.lab.queue import get_lab

    at = AppTest.from_file(PAGE, default_timeout=300).run()
    assert not at.exception
    assert any("No family trained yet" in i.value for i in at.info)
    at.multiselect(key="sc_train_phis").set_value([0, 1]).run()
    at.number_input(key="sc_train_epochs").set_value(1).run()
    at.number_input(key="sc_train_size").set_value(500).run()
    button = next(b for b in at.button if b.key == "sc_train_queue")
    # nothing of the family trained here: no time yet (a calibration takes seconds: only when asked)
    assert button.label == "Queue 2 runs in the Training Lab (time not measured yet)"
    assert not timed_steps
    at.button(key="sc_measure_time").click().run()
    assert sorted(set(timed_steps)) == [("efficientnet_s0", 32), ("efficientnet_s1", 37)]  # each member at its size
    button = next(b for b in at.button if b.key == "sc_train_queue")
    assert re.fullmatch(r"Queue 2 runs in the Training Lab \((\d+ min )?\d+ s to (\d+ min )?\d+ s in all\)",
                        button.label), button.label  # a range, from a few timed steps of each member
    at.run()  # and it stays measured on the next rerun
    assert next(b for b in at.button if b.key == "sc_train_queue").label == button.label
    button.click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    exps = [e for e in vexp.list_experiments() if e.kind == "scaling"]
    assert len(exps) == 1 and at.session_state["sc_family_exp"] == exps[0].id
    lab = get_lab()
    cfgs = [lab.store.get(r["run_id"]).config for r in exps[0].runs]
    assert [(c.model, c.image_size, c.epochs, c.train_size) for c in cfgs] == [("efficientnet_s0", 32, 1, 500),
                                                                              ("efficientnet_s1", 37, 1, 500)]
    for r in exps[0].runs:
        lab.cancel(r["run_id"])
    assert at.selectbox(key="sc_family_pick").value == exps[0].id


@pytest.mark.slow
def test_a_queued_member_is_drawn_when_its_run_finishes(data_dir, stub_runs) -> None:
    """One member (φ = 0) queued from the page: the family box shows the new family, and once its run has finished
    the page's live fragment draws its point (the mean over seeds at the member's cost)."""
    from vizcore.lab import experiment as vexp
    from vizcore.lab.queue import get_lab
    from vizcore.lab.scaling import model_cost

    at = AppTest.from_file(PAGE, default_timeout=300).run()
    at.multiselect(key="sc_train_phis").set_value([0])
    at.number_input(key="sc_train_epochs").set_value(1)
    at.number_input(key="sc_train_size").set_value(500).run()
    button = next(b for b in at.button if b.key == "sc_train_queue")
    assert button.label == "Queue 1 run in the Training Lab (time not measured yet)"  # nothing of it ran here
    button.click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [exp] = [e for e in vexp.list_experiments() if e.kind == "scaling"]
    assert get_lab().wait(exp.runs[0]["run_id"], timeout=60) == "done"
    at.run()  # the fragment's next tick
    assert not at.exception, [e.value for e in at.exception]
    box = at.selectbox(key="sc_family_pick")
    assert box.value == exp.id and box.format_func(box.value).startswith("scaling: φ = 0 · 1 runs")
    chart = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.proto.id and "sc_family_chart" in c.proto.id)
    [mean] = [t for t in chart["data"] if t.get("name") == "mean over seeds"]
    rec = get_lab().store.get(exp.runs[0]["run_id"])
    assert mean["x"] == [pytest.approx(model_cost("efficientnet_s0", 32, rec.info["num_classes"])[1] / 1e6)]
    assert mean["y"] == [pytest.approx(100 * rec.val_acc)]
