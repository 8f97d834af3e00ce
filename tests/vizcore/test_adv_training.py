"""Adversarial training in the engine (Madry et al. 2018; Wong, Rice & Kolter 2020), the PGD accuracy a run logs
every epoch, the catastrophic-overfitting check, its A/B trick with both accuracies over seeds, and its cost in
the time estimate."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from tests.helpers import tiny_config, tiny_data
from vizcore.lab import experiment as vexp
from vizcore.lab.results import RunResult, difference_rows, summarize, table_rows
from vizcore.models.preprocess import Preprocess
from vizcore.robust.attacks import attack
from vizcore.train import adversarial as adv
from vizcore.train import engine, loop, timing
from vizcore.train.config import ROBUST_EVAL_DEFAULT, TrainConfig


def _run(cfg: TrainConfig) -> tuple[engine.Run, list[dict]]:
    r = engine.Run(cfg, data=(tiny_data(cfg.train_size), tiny_data(cfg.val_size, seed=1)))
    events: list[dict] = []
    r.subscribe(events.append)
    assert r.run_sync() == "done", r.message
    return r, events


def test_config_fields_checks_and_the_evaluated_images() -> None:
    assert TrainConfig().robust_eval_size == 0 and TrainConfig().adv_train == "none"
    assert TrainConfig(adv_train="fgsm_rs").robust_eval_size == ROBUST_EVAL_DEFAULT
    assert TrainConfig(robust_eval=100).robust_eval_size == 100
    assert TrainConfig(adv_train="pgd", val_size=50).robust_eval_size == 50  # at most the validation set
    with pytest.raises(ValueError, match="expected adv_train to be one of none, fgsm_rs, pgd"):
        TrainConfig(adv_train="fgsm")
    with pytest.raises(ValueError, match="expected adv_eps"):
        TrainConfig(adv_train="pgd", adv_eps=0.0)
    with pytest.raises(ValueError, match="expected adv_steps"):
        TrainConfig(adv_train="pgd", adv_steps=51)
    with pytest.raises(ValueError, match="one true class per image"):
        TrainConfig(adv_train="fgsm_rs", mixup_alpha=0.2)


@pytest.mark.slow
def test_the_training_step_trains_on_the_attack_of_its_batch(monkeypatch) -> None:
    # the images the model's forward sees in a step: the clean batch, then (adversarial training) the attack's
    # forwards, then the training forward on images inside the ε ball but not the clean ones
    cfg = tiny_config(train_size=32, batch_size=16, adv_train="pgd", adv_eps=4 / 255, adv_steps=3, robust_eval=0,
                      adv_warmup_epochs=0.0)
    r = engine.Run(cfg, data=(tiny_data(32), tiny_data(16, seed=1)))
    state = r._setup()
    seen: list[torch.Tensor] = []
    orig = state.to_input
    monkeypatch.setattr(state, "to_input", lambda x01, pre=None: (seen.append(x01.detach().clone()), orig(x01, pre))[1])
    idx = torch.arange(16)
    loop.train_step(state, idx)
    clean = state.x_train[idx].float() / 255.0
    assert len(seen) == cfg.adv_steps + 1  # k attack forwards, one training forward
    trained_on = seen[-1]
    delta = (trained_on - clean).abs()
    assert float(delta.max()) <= cfg.adv_eps + 1e-6 and float(delta.max()) > cfg.adv_eps / 2
    assert float(trained_on.min()) >= 0.0 and float(trained_on.max()) <= 1.0


@pytest.mark.slow
def test_a_run_logs_pgd_accuracy_every_epoch_and_says_it() -> None:
    cfg = tiny_config(epochs=2, train_size=64, batch_size=16, adv_train="fgsm_rs", robust_eval=16)
    r, events = _run(cfg)
    epochs = [e for e in events if e["kind"] == "epoch"]
    assert len(epochs) == 2
    for e in epochs:
        assert 0.0 <= e["robust_acc"] <= 1.0 and e["robust_n"] == 16 and e["robust_eps"] == pytest.approx(8 / 255)
    assert "PGD-10 accuracy at ε 8/255" in r.message
    # a standard run measures nothing of the sort
    _, plain = _run(tiny_config(epochs=1, train_size=32, batch_size=16))
    assert all("robust_acc" not in e for e in plain if e["kind"] == "epoch")


class _Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(3 * 8 * 8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def test_robust_accuracy_equals_captums_pgd_with_the_same_start() -> None:
    # the engine's per-epoch measure (plain autograd) against the captum-based attack of vizcore.robust, both
    # PGD-10 from the same seeded random start, on a model and images where about half survive
    model = _Linear()
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 256, (64, 3, 8, 8), generator=g, dtype=torch.uint8)
    with torch.no_grad():
        y = model(x.float() / 255.0).argmax(1)
    prep = Preprocess(3, (0.0,), (1.0,))
    eps = 0.02
    ours = adv.robust_accuracy(model, x, y, prep.normalize, eps, batch=64)
    theirs = attack(model, prep, x.float() / 255.0, y, method="pgd", eps=eps, steps=adv.EVAL_STEPS,
                    random_start=True, seed=adv.EVAL_SEED)
    assert theirs.clean_accuracy == 1.0
    assert ours == pytest.approx(theirs.adversarial_accuracy, abs=1.5 / 64)
    assert 0.0 < ours < 1.0
    assert adv.robust_accuracy(model, x, y, prep.normalize, 1e-7) == 1.0  # no room to move: the clean answer


def test_eps_grows_over_its_warmup_then_stays() -> None:
    eps, spe = 8 / 255, 10
    got = [adv.adv_eps_at(eps, 1.5, step, spe) for step in range(20)]
    assert got[0] == pytest.approx(eps / 15) and got[14] == pytest.approx(eps) and got[19] == pytest.approx(eps)
    assert all(b > a for a, b in zip(got[:14], got[1:15]))  # linear rise over 15 steps
    assert adv.adv_eps_at(eps, 0.0, 0, spe) == eps  # no warmup: the full ε from the first step
    with pytest.raises(ValueError, match="expected adv_warmup_epochs"):
        TrainConfig(adv_train="fgsm_rs", epochs=2, adv_warmup_epochs=3.0)


def _ev(epoch: int, val: float, rob: float) -> dict:
    return {"epoch": epoch, "val_acc": val, "robust_acc": rob}


def test_catastrophic_overfitting_is_said_only_for_a_collapse() -> None:
    collapse = [_ev(1, 0.70, 0.40), _ev(2, 0.80, 0.45), _ev(3, 0.86, 0.05)]
    note = adv.catastrophic_overfitting(collapse)
    assert note is not None and "45.0% (epoch 2) to 5.0% (epoch 3)" in note and "86.0%" in note
    assert adv.catastrophic_overfitting(collapse[:2]) is None  # still rising
    assert adv.catastrophic_overfitting([_ev(1, 0.8, 0.40), _ev(2, 0.8, 0.33)]) is None  # a dip, not a collapse
    assert adv.catastrophic_overfitting([_ev(1, 0.8, 0.12), _ev(2, 0.8, 0.05)]) is None  # under 10 points
    assert adv.catastrophic_overfitting([_ev(1, 0.8, 0.40), _ev(2, 0.2, 0.05)]) is None  # everything fell
    assert adv.catastrophic_overfitting([{"epoch": 1, "val_acc": 0.9}]) is None


def test_the_ab_trick_attacks_both_arms_and_the_summary_gives_both_accuracies() -> None:
    plan = vexp.plan_ab(TrainConfig(), "adv_train", n_seeds=3)
    (a, b) = plan.arms
    assert a.config.adv_train == "none" and b.config.adv_train == "fgsm_rs"
    assert a.config.robust_eval_size == b.config.robust_eval_size == ROBUST_EVAL_DEFAULT
    results = [RunResult(a.name, s, "done", (90.0, 98.0 + 0.1 * s), 10.0, 100.0, 0.5, (5.0, 4.0 + s))
               for s in range(3)]
    results += [RunResult(b.name, s, "done", (80.0, 85.0 + 0.2 * s), 20.0, 50.0, 0.5, (50.0, 60.0 + s))
                for s in range(3)]
    summary = summarize([a.name, b.name], results)
    base, arm = summary.rows
    assert base.robust is not None and base.robust.mean == pytest.approx(5.0)
    assert arm.robust is not None and arm.robust.mean == pytest.approx(61.0)
    (d,) = summary.robust_differences
    assert d.diff == pytest.approx(56.0)
    assert "accuracy under PGD-10 (%)" in table_rows(summary)[0]
    metrics = [r["accuracy"] for r in difference_rows(summary)]
    assert metrics == ["clean", "under PGD-10"]
    # an A/B without robust measures keeps its table as it was
    plain = summarize(["x", "y"], [RunResult("x", 0, "done", (90.0,), 1.0, 1.0), RunResult("y", 0, "done", (91.0,), 1.0, 1.0)])
    assert "accuracy under PGD-10 (%)" not in table_rows(plain)[0] and "accuracy" not in difference_rows(plain)[0]


def test_the_time_estimate_counts_the_attack_passes() -> None:
    base = TrainConfig(time_budget_s=3600)
    past = timing.PastRun(base, "cpu", 1e9, True, 20.0, 2.0, 16.0, 32_000.0, 2.0, 0.0)
    plain = timing.estimate_time(dataclasses.replace(base, seed=5, lr=0.2), [past], device="cpu", calibrate=False)
    fgsm = timing.estimate_time(dataclasses.replace(base, adv_train="fgsm_rs"), [past], device="cpu", calibrate=False)
    pgd = timing.estimate_time(dataclasses.replace(base, adv_train="pgd", adv_steps=7), [past], device="cpu",
                               calibrate=False)
    assert plain is not None and fgsm is not None and pgd is not None
    assert fgsm.train_s_per_epoch == pytest.approx(2 * plain.train_s_per_epoch, rel=1e-6)  # attack + training
    assert pgd.train_s_per_epoch == pytest.approx(8 * plain.train_s_per_epoch, rel=1e-6)  # 7 attack passes + 1
    extra = fgsm.val_s_per_epoch - plain.val_s_per_epoch  # 256 images attacked with PGD-10 each epoch: 11 passes
    assert extra == pytest.approx(ROBUST_EVAL_DEFAULT * 11 * 16.0 / 32_000.0, rel=1e-6)
    assert math.isfinite(fgsm.seconds) and fgsm.seconds > 1.9 * plain.seconds
