"""CLI: ``power`` — seeds per arm an A/B needs for an effect, and the smallest effect n seeds find.

``python -m vizcore power --sd 0.5 --effect 0.5 --json``, or with the spread measured from final accuracies of
earlier runs: ``--a 97.9,98.1,97.8 [--b 98.0,98.3,98.1] [--paired]``. See :mod:`vizcore.lab.power`.
"""
from __future__ import annotations

import argparse

from vizcore.cli.registry import CLIError, command


def _values(text: str, flag: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CLIError(f"expected {flag} as comma-separated numbers like 97.9,98.1,97.8, got {text!r}") from None


def _add_power(p: argparse.ArgumentParser) -> None:
    p.add_argument("--effect", type=float, required=True, help="the difference to find, e.g. 0.5 (accuracy points)")
    p.add_argument("--sd", type=float, help="seed-to-seed standard deviation of one run (paired: of the differences)")
    p.add_argument("--a", help="or measure it: final values of arm A, one per seed (97.9,98.1,97.8)")
    p.add_argument("--b", help="final values of arm B, one per seed (pooled spread, or differences with --paired)")
    p.add_argument("--paired", action="store_true",
                   help="both arms run the same seeds: a paired t-test on the per-seed differences")
    p.add_argument("--n", type=int, default=3, help="seeds per arm to report the smallest detectable effect for")
    p.add_argument("--alpha", type=float, default=0.05, help="two-sided significance level (default 0.05)")
    p.add_argument("--power", type=float, default=0.8, help="probability of finding the effect (default 0.8)")


@command("power", "Seeds per arm an A/B needs to find an effect at the measured spread (t-test power)", _add_power)
def run_power(args: argparse.Namespace) -> dict:
    from vizcore.lab import power as P

    if (args.sd is None) == (args.a is None):
        raise CLIError("expected either --sd or --a (measured values), got "
                       + ("both" if args.sd is not None else "neither"))
    if args.sd is not None:
        sd = args.sd
        source = "given"
    else:
        a = _values(args.a, "--a")
        b = _values(args.b, "--b") if args.b else None
        sd = P.measured_spread(a, b, paired=args.paired)
        source = "differences b - a" if args.paired else ("pooled a, b" if b is not None else "a")
    est = P.estimate(sd, args.effect, args.n, args.alpha, args.power, "paired" if args.paired else "two_sample")
    return {"sd": est.sd, "sd_from": source, "design": est.design, "effect": est.effect,
            "seeds_needed": est.seeds_needed, "n": est.n, "min_detectable_effect": est.min_effect,
            "alpha": est.alpha, "power": est.power, "text": est.text()}
