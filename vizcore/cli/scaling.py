"""CLI: `scale` (EfficientNet compound scaling from B0) and `tweaks` (the ResNet-50 A/B/C/D forms)."""
from __future__ import annotations

import argparse
from dataclasses import asdict
from functools import partial

from vizcore.cli.lab import add_executor_args
from vizcore.cli.registry import command


def _add_scale(p: argparse.ArgumentParser) -> None:
    p.add_argument("--phi", type=float, default=None, help="compound coefficient φ (0..8); default: the B0-B7 table")
    p.add_argument("--alpha", type=float, default=1.2, help="depth base α (Tan & Le: 1.2)")
    p.add_argument("--beta", type=float, default=1.1, help="width base β (Tan & Le: 1.1)")
    p.add_argument("--gamma", type=float, default=1.15, help="resolution base γ (Tan & Le: 1.15)")
    p.add_argument("--train", action="store_true",
                   help="train the small EfficientNet family (efficientnet_s<φ>) on the embedded shapes in the lab, "
                        "wait, and print accuracy against cost")
    p.add_argument("--phis", default="0,1,2", help="with --train: members of the family, comma-separated (0..3)")
    p.add_argument("--seeds", type=int, default=1, help="with --train: seeds per member (default 1)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--config", help="with --train: JSON file of TrainConfig fields for the base configuration (default: the "
                        "default recipe on 4,000 images for 4 epochs)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="with --train: override a base config field, e.g. --set epochs=3")
    add_executor_args(p)  # with --train: where the family's runs train


@command("scale", "EfficientNet compound scaling: depth, width, resolution, parameters and multiply-adds from B0.",
         _add_scale)
def run_scale(args: argparse.Namespace) -> dict:
    from vizcore.arch import scaling

    plan = _family_plan(args) if args.train else None  # bad --phis or --config is refused before any counting
    out: dict = {"flops_factor_per_phi": scaling.flops_factor(args.alpha, args.beta, args.gamma)}
    if args.phi is not None:
        d, w, r = scaling.multipliers(args.phi, args.alpha, args.beta, args.gamma)
        out["scaled"] = {"phi": args.phi, "depth_mult": d, "width_mult": w, "resolution": r,
                         **asdict(scaling.scale_phi(args.phi, args.alpha, args.beta, args.gamma))}
    rows = []
    for name in scaling.EFFICIENTNET_TABLE:
        s = scaling.published(name)
        params, gmacs, crop = scaling.torchvision_totals(name)
        rows.append({**asdict(s), "torchvision_params": params, "torchvision_gmacs": gmacs,
                     "torchvision_crop": crop})
    out["table"] = rows
    out["small_family"] = _small_family()
    if plan is not None:
        out["trained"] = _train_family(plan, args.executor, args.workers)
    return out


def _small_family() -> list[dict]:
    """The small EfficientNet family for 32x32 inputs: multipliers, resolution and cost of each member."""
    from vizcore.lab.scaling import model_cost
    from vizcore.models.efficientnet_small import FAMILY_PHIS, small_scale

    out = []
    for phi in FAMILY_PHIS:
        s = small_scale(phi)
        params, macs = model_cost(s.name, s.resolution)
        out.append({"model": s.name, **asdict(s), "params": params, "macs": macs})
    return out


def _family_plan(args: argparse.Namespace):
    """The scaling experiment ``--train`` asks for, checked (ValueError or CLIError with a sentence)."""
    from vizcore.cli.lab import base_config
    from vizcore.cli.registry import CLIError
    from vizcore.lab import experiment as vexp
    from vizcore.lab.scaling import FAMILY_BASE

    try:
        phis = [int(v) for v in str(args.phis).split(",") if v.strip()]
    except ValueError:
        raise CLIError(f"expected --phis as comma-separated integers such as 0,1,2, got {args.phis!r}") from None
    return vexp.plan_scaling(base_config(args.config, args.set, FAMILY_BASE), phis, args.seeds, args.first_seed)


def _train_family(plan, executor: str | None = None, workers: int | None = None) -> dict:
    from vizcore.cli.lab import executor_json, run_json
    from vizcore.lab import experiment as vexp
    from vizcore.lab.queue import get_lab
    from vizcore.lab.scaling import point_rows, scaling_points

    lab = get_lab(executor=executor, workers=workers)
    exp = vexp.submit_plan(lab, plan, kind="scaling")
    for r in exp.runs:
        lab.wait(r["run_id"])
    return {"id": exp.id, "name": exp.name, "points": point_rows(scaling_points(lab.store, exp)), **executor_json(lab),
            "runs": [{**run_json(lab.store.get(r["run_id"])), "arm": r["arm"], "seed": r["seed"]} for r in exp.runs]}


def _add_tweaks(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=int, default=224, help="input side in pixels (default 224)")


@command("tweaks", "ResNet-50 forms A, B, C, D (Bag of Tricks §4): where the stride sits, the stem, the shortcut; "
         "parameters and multiply-adds.", _add_tweaks)
def run_tweaks(args: argparse.Namespace) -> list[dict]:
    from vizcore.arch.scaling import meta_cost
    from vizcore.cli.registry import CLIError
    from vizcore.models.resnet_tweaks import FORMS, resnet50_form

    if not 32 <= args.size <= 1024:
        raise CLIError(f"expected --size between 32 and 1024, got {args.size}")
    out = []
    for f in FORMS:
        params, macs = meta_cost(partial(resnet50_form, f), (3, args.size, args.size))
        out.append({"form": f.upper(), "model": f"resnet50_{f}", "params": params, "macs": macs})
    return out
