"""Adversarial examples page: the attack on one image follows its widgets to their extremes, the sweep and the
flipping radii draw, and a standard and an adversarially trained run are compared (or queued) from a store that
already holds runs."""
from __future__ import annotations

import re

import pytest
import torch
from streamlit.testing.v1 import AppTest

from vizcore.data.images import fit_image
from vizcore.lab.default_model import default_model
from vizcore.models import weights as mweights
from vizcore.robust.attacks import attack

PAGE = "../../pages/adversarial.py"


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _answer(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("The model's answer"))


@pytest.mark.slow
def test_the_attack_on_one_image_follows_its_widgets_to_their_extremes(data_dir) -> None:
    at = AppTest.from_file(PAGE, default_timeout=300).run()
    _ok(at)
    assert at.radio(key="adv_image_source").value == "Shapes data set"  # what the shipped model knows
    # the page's verdict is the library's own attack on the same image (PGD-10, ε 8/255, the model's own answer)
    from vizcore.data import shapes

    image = shapes.make_shapes(40, size=128, seed=0).images[0].permute(1, 2, 0).numpy()
    model = mweights.load_trained(default_model(), model="small_cnn")
    x = torch.from_numpy(fit_image(image, 32)).permute(2, 0, 1)[None].float() / 255.0
    clean = attack(model, "small_cnn", x, torch.zeros(1, dtype=torch.long), method="noise", eps=0.0).clean_pred
    r = attack(model, "small_cnn", x, clean, method="pgd", eps=8 / 255, steps=10)
    assert ("(**flipped**)" in _answer(at)) == bool(r.adversarial_pred[0] != clean[0])
    # ε = 0: nothing moves
    at.slider(key="adv_eps").set_value(0).run()
    _ok(at)
    assert "not flipped" in _answer(at) and "more than 0.0/255" in _answer(at)
    # the largest ε, then the L2 ball at its largest, random noise, FGSM with a random start, a target class
    at.slider(key="adv_eps").set_value(64).run()
    _ok(at)
    moved = float(re.search(r"more than ([\d.]+)/255", _answer(at)).group(1))
    assert 0 < moved <= 64.0 + 1e-6
    at.radio(key="adv_norm").set_value("l2").run()
    at.slider(key="adv_eps_l2").set_value(8.0).run()
    _ok(at)
    l2 = float(re.search(r"L2 length ([\d.]+)", _answer(at)).group(1))
    assert l2 <= 8.0 + 1e-4
    # PGD at its most steps from a random start towards the last class (one run: every widget is enabled under PGD),
    # then FGSM from a random start, then random noise (which disables both)
    at.checkbox(key="adv_rs").check()
    at.number_input(key="adv_steps").set_value(100)
    target = at.selectbox(key="adv_target")
    target.set_value(target.options[-1]).run()
    _ok(at)
    assert at.number_input(key="adv_steps").value == 100 and at.checkbox(key="adv_rs").value
    assert len([c for c in at.caption if "rank correlation with the clean map" in c.value]) == 2
    at.radio(key="adv_method").set_value("fgsm").run()
    _ok(at)
    assert at.checkbox(key="adv_rs").value
    at.radio(key="adv_method").set_value("noise").run()
    _ok(at)
    # random weights: said, not hidden
    at.radio(key="adv_weights").set_value("random").run()
    assert not at.exception
    assert any("Random weights" in w.value for w in at.warning)


@pytest.mark.slow
def test_the_sweep_and_the_flipping_radii(data_dir) -> None:
    at = AppTest.from_file(PAGE, default_timeout=300).run()
    # the fewest images and one PGD step: the page's flow is under test here (the sweep at its default 10 steps runs
    # in tests/e2e/test_adversarial_browser.py, the attacks themselves in tests/vizcore)
    at.number_input(key="adv_sweep_n").set_value(10)
    at.number_input(key="adv_steps").set_value(1).run()
    at.button(key="adv_sweep_go").click().run()
    _ok(at)
    assert any("Labels: the data set's true classes" in c.value for c in at.caption)
    at.button(key="adv_min_go").click().run()
    _ok(at)
    said = next(c.value for c in at.caption if "images searched" in c.value)
    assert said.startswith("10 images searched") or re.match(r"\d+ images searched", said)
    # a widget change keeps both results on the page (no second press needed)
    at.slider(key="adv_eps").set_value(4).run()
    _ok(at)
    assert any("images searched" in c.value for c in at.caption)


@pytest.mark.slow
def test_standard_and_robust_runs_side_by_side_from_a_store_with_runs(seeded, stub_runs) -> None:
    from vizcore.lab.queue import get_lab

    at = AppTest.from_file(PAGE, default_timeout=300).run()
    _ok(at)
    # the store holds standard runs only: the page offers to queue the adversarially trained one
    keys = [b.key for b in at.button]
    assert "adv_q_rob" in keys and "adv_q_std" not in keys
    at.button(key="adv_q_rob").click().run()
    _ok(at)
    lab = get_lab()

    def finished(adv: str) -> str:
        import time

        runs = [r for r in lab.store.list() if r.config.adv_train == adv and r.config.model == "fast_cnn"]
        assert len(runs) == 1
        end = time.monotonic() + 60
        while lab.store.get(runs[0].id).status != "done":
            assert time.monotonic() < end
            time.sleep(0.2)
        return runs[0].id

    rob = finished("fgsm_rs")
    assert lab.store.get(rob).config.robust_eval_size == 256
    at.run()
    _ok(at)
    # the seeded standard runs are of another model: the page offers the standard run of the same recipe
    assert at.selectbox(key="adv_cmp_rob").value == rob
    keys = [b.key for b in at.button]
    assert "adv_q_std" in keys and "adv_q_rob" not in keys
    at.button(key="adv_q_std").click().run()
    std = finished("none")
    assert lab.store.get(std).config.robust_eval_size == 0
    at.run()
    _ok(at)
    assert at.selectbox(key="adv_cmp_std").value == std
    at.number_input(key="adv_cmp_n").set_value(20).run()
    at.button(key="adv_cmp_go").click().run()
    _ok(at)
    assert any("At ε 8/255 adversarial training buys" in c.value for c in at.caption)
