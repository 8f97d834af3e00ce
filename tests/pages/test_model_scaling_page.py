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


def test_queue_a_family_from_the_page(data_dir) -> None:
    from vizcore.lab import experiment as vexp
    from vizcore.lab.queue import get_lab

    at = AppTest.from_file(PAGE, default_timeout=300).run()
    assert not at.exception
    assert any("No family trained yet" in i.value for i in at.info)
    at.multiselect(key="sc_train_phis").set_value([0, 1]).run()
    at.number_input(key="sc_train_epochs").set_value(1).run()
    at.number_input(key="sc_train_size").set_value(500).run()
    button = next(b for b in at.button if b.key == "sc_train_queue")
    assert button.label.startswith("Queue 2 runs in the Training Lab (about ")
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
