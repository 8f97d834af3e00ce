"""The small EfficientNet family: compound multipliers, torchvision's rounding, costs, the scaling experiment."""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models.efficientnet import MBConv
from torchvision.ops import SqueezeExcitation

from tests.helpers import tiny_config
from vizcore.lab import experiment as vexp
from vizcore.lab.scaling import model_cost, point_rows, scaling_points
from vizcore.models import efficientnet_small as fam
from vizcore.models import registry as zoo


def _divisible(v: float, divisor: int = 8) -> int:
    """The MobileNet/EfficientNet channel rounding, written out: nearest multiple of 8, never 10% below v."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


@pytest.mark.parametrize("phi", fam.FAMILY_PHIS)
def test_member_follows_the_compound_rule_and_torchvision_rounding(phi: int) -> None:
    s = fam.small_scale(phi)
    assert s.depth_mult == pytest.approx(1.2 ** phi) and s.width_mult == pytest.approx(1.1 ** phi)
    assert s.resolution == [32, 37, 42, 49][phi]  # round(32 · 1.15^φ): 32, 36.8, 42.3, 48.7
    model = zoo.build_model(s.name)
    stages = [model.features[i] for i in range(1, 1 + len(fam.S0_STAGES))]
    for stage, (_e, _k, _s, _cin, cout, n) in zip(stages, fam.S0_STAGES):
        assert len(stage) == math.ceil(n * s.depth_mult)  # layers round up
        assert all(isinstance(b, MBConv) for b in stage)
        assert stage[-1].out_channels == _divisible(cout * s.width_mult)
    assert sum(isinstance(m, SqueezeExcitation) for m in model.modules()) == sum(len(st) for st in stages)
    assert zoo.get_entry(s.name).input_size == (3, s.resolution, s.resolution)
    out = model(torch.rand(2, 3, s.resolution, s.resolution))
    assert out.shape == (2, 10)
    assert model.get_submodule(zoo.get_entry(s.name).cam_layer)  # the default CAM layer exists


@pytest.mark.slow
def test_costs_counted_on_meta_equal_a_real_forward_and_grow_with_phi() -> None:
    costs = []
    for phi in fam.FAMILY_PHIS:
        s = fam.small_scale(phi)
        params, macs = model_cost(s.name, s.resolution)
        real = zoo.build_model(s.name)
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            real(torch.rand(1, 3, s.resolution, s.resolution))
        assert params == sum(p.numel() for p in real.parameters())
        assert macs == counter.get_total_flops() // 2
        costs.append(macs)
    assert costs == sorted(costs) and costs[-1] / costs[0] > (1.2 * 1.1 ** 2 * 1.15 ** 2) ** 3 * 0.8


@pytest.mark.parametrize("bad", [4, -1, 1.5, True, "1"])
def test_only_the_registered_members_exist(bad) -> None:
    with pytest.raises(ValueError, match="expected phi in 0, 1, 2, 3"):
        fam.small_scale(bad)


def test_plan_scaling_sets_model_and_resolution_per_arm() -> None:
    base = tiny_config(transfer="finetune", transfer_from="pretrained", whiten_stem=True)
    plan = vexp.plan_scaling(base, [2, 0, 2], n_seeds=2)
    assert [a.name for a in plan.arms] == ["φ=0 (32 px)", "φ=2 (42 px)"]
    assert [(a.config.model, a.config.image_size) for a in plan.arms] == [("efficientnet_s0", 32),
                                                                          ("efficientnet_s2", 42)]
    assert all(a.config.transfer == "none" and not a.config.whiten_stem for a in plan.arms)
    assert plan.seeds == (0, 1) and len(plan.runs()) == 4
    with pytest.raises(ValueError, match="expected one or more φ from 0, 1, 2, 3"):
        vexp.plan_scaling(base, [5])
    with pytest.raises(ValueError, match="expected one or more φ"):
        vexp.plan_scaling(base, [])


@pytest.mark.slow
def test_a_trained_family_gives_one_point_per_member(tmp_path, monkeypatch, one_thread) -> None:
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path))
    from vizcore.lab.queue import Lab

    lab = Lab(tmp_path / "runs.sqlite")
    try:
        # the embedded shapes, rendered at each member's own resolution (4 of its 10 classes would need a data
        # override, which cannot differ per arm)
        plan = vexp.plan_scaling(tiny_config(dataset="shapes", train_size=32, val_size=16, batch_size=8), [0, 1])
        exp = vexp.submit_plan(lab, plan, kind="scaling")
        for r in exp.runs:
            assert lab.wait(r["run_id"], timeout=300) == "done"
        points = scaling_points(lab.store, exp)
        shapes = {r["run_id"]: lab.store.get(r["run_id"]).info["num_classes"] for r in exp.runs}
    finally:
        lab.shutdown(wait=True, timeout=30)
    assert [p.model for p in points] == ["efficientnet_s0", "efficientnet_s1"]
    assert [p.resolution for p in points] == [32, 37]
    assert points[0].macs < points[1].macs
    # parameters of the model as the run built it (its classes), counted on a real module
    k = next(iter(shapes.values()))
    assert points[0].params == sum(p.numel() for p in zoo.build_model("efficientnet_s0", num_classes=k).parameters())
    for p in points:
        assert p.accuracy is not None and 0 <= p.accuracy.mean <= 100 and len(p.values) == 1
    rows = point_rows(points)
    assert {type(r["parameters"]) for r in rows} == {int} and rows[1]["resolution (px)"] == 37
    assert exp.kind == "scaling" and vexp.get_experiment(exp.id).kind == "scaling"


@pytest.mark.slow
def test_cli_scale_lists_the_family_and_refuses_bad_phis(tmp_path, monkeypatch, capsys) -> None:
    from vizcore.cli.main import main

    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path))
    assert main(["scale", "--json"]) == 0
    family = json.loads(capsys.readouterr().out)["small_family"]
    assert [f["model"] for f in family] == [f"efficientnet_s{p}" for p in fam.FAMILY_PHIS]
    assert [f["resolution"] for f in family] == [32, 37, 42, 49]
    assert [(f["params"], f["macs"]) for f in family] == [model_cost(f["model"], f["resolution"]) for f in family]
    assert main(["scale", "--train", "--phis", "0,x", "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip().startswith("error: expected --phis") and len(err.strip().splitlines()) == 1
    assert main(["scale", "--train", "--phis", "7", "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "expected one or more φ" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs.sqlite").exists()  # refused before any run was recorded
