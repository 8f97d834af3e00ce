"""CLI: `scale` (EfficientNet compound scaling from B0) and `tweaks` (the ResNet-50 A/B/C/D forms)."""
from __future__ import annotations

import argparse
from dataclasses import asdict
from functools import partial

from vizcore.cli.registry import command


def _add_scale(p: argparse.ArgumentParser) -> None:
    p.add_argument("--phi", type=float, default=None, help="compound coefficient φ (0..8); default: the B0-B7 table")
    p.add_argument("--alpha", type=float, default=1.2, help="depth base α (Tan & Le: 1.2)")
    p.add_argument("--beta", type=float, default=1.1, help="width base β (Tan & Le: 1.1)")
    p.add_argument("--gamma", type=float, default=1.15, help="resolution base γ (Tan & Le: 1.15)")


@command("scale", "EfficientNet compound scaling: depth, width, resolution, parameters and multiply-adds from B0.",
         _add_scale)
def run_scale(args: argparse.Namespace) -> dict:
    from vizcore.arch import scaling

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
    return out


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
