"""CLI sub-commands of the Training Lab: statistics over seeds and the Bag of Tricks reference deltas."""
from __future__ import annotations

import argparse

from vizcore.cli import CLIError, command


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CLIError(f"expected comma-separated numbers like 80.1,81.3,79.9, got {text!r}") from None


def _ints(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CLIError(f"expected comma-separated integer seeds like 0,1,2, got {text!r}") from None


def _add_compare(p: argparse.ArgumentParser) -> None:
    p.add_argument("--a", required=True, help="values of configuration A, one per seed: 80.1,81.3,79.9")
    p.add_argument("--b", required=True, help="values of configuration B, one per seed")
    p.add_argument("--seeds-a", help="seeds of A's values (pairs by seed when B has the same seeds)")
    p.add_argument("--seeds-b", help="seeds of B's values")
    p.add_argument("--name-a", default="A")
    p.add_argument("--name-b", default="B")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--alpha", type=float, default=0.05)


@command("compare", "Compare two configurations' final metrics over seeds (t-interval, Welch/paired test)",
         _add_compare)
def _compare(args: argparse.Namespace) -> dict:
    from vizcore.compare import compare

    d = compare(_floats(args.a), _floats(args.b), seeds_a=_ints(args.seeds_a), seeds_b=_ints(args.seeds_b),
                name_a=args.name_a, name_b=args.name_b, confidence=args.confidence, alpha=args.alpha)
    return {"a": {"mean": d.a.mean, "half_width": d.a.half_width, "n": d.a.n},
            "b": {"mean": d.b.mean, "half_width": d.b.half_width, "n": d.b.n},
            "diff": d.diff, "half_width": d.half_width, "p_value": d.p_value, "test": d.test, "df": d.df,
            "effect_size": d.effect_size, "significant": d.significant, "verdict": d.verdict}


def _add_reference(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="ResNet-50-D", help="Table 6 column: ResNet-50-D, Inception-V3, MobileNet")
    p.add_argument("--batch", default="batch 1024", help="Table 4 column: 'batch 256' or 'batch 1024'")


@command("reference", "Bag of Tricks (He et al., CVPR 2019) published per-trick ImageNet deltas", _add_reference)
def _reference(args: argparse.Namespace) -> dict:
    from vizcore import reference

    return {"source": reference.citation(), "verified": reference.verified_note(), "note": reference.SCALE_NOTE,
            "deltas": reference.published_deltas(args.model, args.batch)}
