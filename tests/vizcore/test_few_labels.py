"""The few-labels experiment: recipes per method, the curve over seeds, Noisy Student chains and prerequisites,
and the pseudo-label report against a hand computation on a hand-weighted model."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from vizcore.inspect import pseudo_labels as pl
from vizcore.lab import few_labels as fl
from vizcore.lab.store import RunStore


def test_every_method_has_its_config() -> None:
    cfgs = {m: fl.config_for(fl.FewLabelsSpec(m, 4, 1, source="src", teacher="tea")) for m in fl.METHODS}
    assert all(c.labelled_per_class == 4 and c.train_size == 4040 and c.seed == 1 for c in cfgs.values())
    assert cfgs["supervised"].ssl == "none" and cfgs["augment"].augment == "randaugment"
    assert cfgs["transfer"].transfer_from == "src" and cfgs["distill"].distill_teacher == "tea"
    assert cfgs["fixmatch"].ssl == "fixmatch" and cfgs["noisy_student"].distill_teacher == "tea"
    assert {fl.cell_of(c.to_dict()) for c in cfgs.values()} == {(m, 4) for m in fl.METHODS}
    assert fl.config_for(fl.FewLabelsSpec("supervised", None)).labelled_per_class is None
    with pytest.raises(ValueError, match="label budget"):
        fl.FewLabelsSpec("fixmatch", None)
    with pytest.raises(ValueError, match="teacher"):
        fl.config_for(fl.FewLabelsSpec("distill", 4))
    with pytest.raises(ValueError, match="at least 1"):
        fl.FewLabelsSpec("supervised", 0)


def _done(store: RunStore, cfg, acc: float) -> str:
    rid = store.create(cfg, group=fl.GROUP)
    store.add_metric(rid, {"kind": "epoch", "epoch": 1, "val_acc": acc})
    ckpt = store.checkpoint_path(rid)
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    ckpt.write_bytes(b"weights")  # find_done asks for a file on disk
    store.set_checkpoint(rid, ckpt)
    store.set_status(rid, "done")
    return rid


def test_curve_means_and_intervals_over_seeds(tmp_path) -> None:
    store = RunStore(tmp_path / "r.sqlite")
    accs = {0: 0.30, 1: 0.36, 2: 0.33}
    for seed, acc in accs.items():
        _done(store, fl.config_for(fl.FewLabelsSpec("supervised", 4, seed)), acc)
    _done(store, fl.config_for(fl.FewLabelsSpec("fixmatch", 4, 0)), 0.8)
    rows = fl.curve_rows(store.list(fl.GROUP))
    summary = {r["method"]: r for r in fl.summarize_curve(rows)}
    x = np.array([100 * a for a in accs.values()])
    half = stats.t.ppf(0.975, 2) * x.std(ddof=1) / np.sqrt(3)
    assert summary["supervised"]["mean"] == pytest.approx(x.mean())
    assert summary["supervised"]["high"] - summary["supervised"]["mean"] == pytest.approx(half)
    assert summary["fixmatch"]["n"] == 1 and summary["fixmatch"]["mean"] == pytest.approx(80.0)


def test_noisy_student_chains_follow_each_teacher_and_prerequisites_come_from_the_store(tmp_path) -> None:
    store = RunStore(tmp_path / "r.sqlite")
    spec = fl.FewLabelsSpec("noisy_student", 4, 0)
    full, need = fl.prerequisite(store, spec)
    assert full.teacher is None and need == fl.config_for(fl.FewLabelsSpec("supervised", 4, 0))
    teacher = _done(store, need, 0.3)
    full, need = fl.prerequisite(store, spec)
    assert need is None and full.teacher == teacher
    r1 = _done(store, fl.noisy_student_round(teacher, "fast_cnn", 4), 0.4)
    r2 = _done(store, fl.noisy_student_round(r1, "fast_cnn", 4, grow=True), 0.5)
    chains = fl.noisy_student_rounds(store.list(fl.GROUP))
    assert chains[0][2]["dataset"] == "shapes" and chains[0][2]["data_root"] is None
    assert [[(c["round"], c["run_id"], c["model"]) for c in ch] for ch in chains] == [
        [(0, teacher, "fast_cnn"), (1, r1, "fast_cnn"), (2, r2, "small_cnn")]]
    assert fl.next_larger("se_resnet_small") == "se_resnet_small"
    assert [r["run_id"] for r in fl.curve_rows(store.list(fl.GROUP)) if r["method"] == "noisy_student"] == [r1]
    src, need = fl.prerequisite(store, fl.FewLabelsSpec("transfer", 4, 0))
    assert need == fl.source_config(0) and src.source is None
    source = _done(store, need, 0.9)
    assert fl.prerequisite(store, fl.FewLabelsSpec("transfer", 4, 0)) == (
        fl.FewLabelsSpec("transfer", 4, 0, source=source), None)


class Pixel(nn.Module):
    """Logits = the mean of channel c's pixels × 10, for c = 0, 1, 2 (a hand-weighted 3-class model)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3)) * 10


def test_pseudo_label_report_against_a_hand_computation(monkeypatch) -> None:
    from vizcore.models.preprocess import Preprocess

    monkeypatch.setattr(pl, "for_model", lambda name: Preprocess(3, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)))
    g = torch.Generator().manual_seed(0)
    pool = torch.randint(0, 256, (60, 3, 4, 4), generator=g, dtype=torch.uint8)
    hidden = torch.randint(0, 3, (60,), generator=g)
    rep = pl.report(Pixel(), "any", pool, hidden, ["a", "b", "c"], tau=0.6, gallery=5)
    logits = pool.float().div(255).mean((2, 3)).numpy() * 10
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    conf, pseudo, y = p.max(1), p.argmax(1), hidden.numpy()
    passed = conf >= 0.6
    assert rep.pass_rate == pytest.approx(passed.mean())
    assert rep.accuracy == pytest.approx((pseudo[passed] == y[passed]).mean())
    assert rep.accuracy_all == pytest.approx((pseudo == y).mean())
    ref = np.zeros((3, 3), int)
    np.add.at(ref, (y[passed], pseudo[passed]), 1)
    assert (rep.confusion == ref).all()
    wrong = np.where(passed & (pseudo != y))[0]
    top = wrong[np.argsort(-conf[wrong], kind="stable")][:5]
    assert [w["index"] for w in rep.wrong] == top.tolist()
    assert rep.wrong_images.shape == (len(top), 4, 4, 3)
    assert {t["tau"] for t in rep.tradeoff} >= {0.6, 0.95}
    unknown = pl.report(Pixel(), "any", pool, None, ["a", "b", "c"], tau=0.6)
    assert unknown.accuracy is None and unknown.confusion is None and unknown.pass_rate == rep.pass_rate
    with pytest.raises(ValueError, match="τ in"):
        pl.report(Pixel(), "any", pool, hidden, ["a", "b", "c"], tau=0.0)


def test_cli_plans_prerequisites_first_and_refuses_bad_input(tmp_path) -> None:
    from tests.helpers import cli_json

    db = str(tmp_path / "r.sqlite")
    rc, out, _ = cli_json(["few-labels", "--json", "--db", db, "--methods", "supervised,distill", "--k", "1,all",
                           "--dry-run"])
    assert rc == 0 and out["curve"] == []
    names = [r["name"] for r in out["runs"]]
    assert names[:2] == ["Supervised, 1 labels/class, seed 0", "Supervised, all labels/class, seed 0"]
    assert names[2].startswith("prerequisite of + distillation, 1 labels/class")  # its teacher, to train first
    assert out["runs"][2]["config"] == fl.config_for(fl.FewLabelsSpec("supervised", 1)).to_dict()
    for args, match in [(["pseudo-labels", "--run", "nope", "--db", db], "stored run id"),
                        (["noisy-student", "--rounds", "0", "--db", db], "1 to 5 rounds"),
                        (["few-labels", "--methods", "mixmatch", "--db", db], "expected a method"),
                        (["few-labels", "--k", "0", "--methods", "supervised", "--db", db], "at least 1")]:
        rc, _, err = cli_json([*args, "--json"])
        assert rc == 2 and match in err and len(err.strip().splitlines()) == 1, (args, err)


def test_the_strong_view_is_the_shapes_own_nuisances_on_shapes_and_randaugment_on_a_folder_unless_chosen() -> None:
    import json

    shapes = fl.config_for(fl.FewLabelsSpec("fixmatch", 4))
    steps = [s["op"] for s in json.loads(shapes.ssl_strong_pipeline)["ops"]]
    assert "rotation" in steps and "color_jitter" in steps and "cutout" in steps and "equalize" not in steps
    assert fl.config_for(fl.FewLabelsSpec("supervised", 4)).ssl_strong_pipeline is None  # no strong view to use
    folder = fl.FewLabelsSpec("fixmatch", None, 0, "folder", "/somewhere")
    assert fl.strong_view(folder) == "randaugment" and fl.config_for(folder).ssl_strong_pipeline is None
    chosen = fl.FewLabelsSpec("fixmatch", None, 0, "folder", "/somewhere", strong="invariant")
    assert fl.config_for(chosen).ssl_strong_pipeline == shapes.ssl_strong_pipeline
    with pytest.raises(ValueError, match="expected a strong view from auto, randaugment, invariant, got 'rand'"):
        fl.FewLabelsSpec("fixmatch", 4, strong="rand")
