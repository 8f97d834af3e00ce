"""CLI sub-commands of the Training Lab: statistics over seeds and the Bag of Tricks reference deltas."""
from __future__ import annotations

import argparse

from vizcore.cli.registry import MAX_CONFIG_BYTES, CLIError, command


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
    a, b = _floats(args.a), _floats(args.b)
    seeds_a, seeds_b = _ints(args.seeds_a), _ints(args.seeds_b)
    for flag, seeds, values in (("--seeds-a", seeds_a, a), ("--seeds-b", seeds_b, b)):
        if seeds is not None and len(seeds) != len(values):
            raise CLIError(f"expected {flag} to give one seed per value ({len(values)}), got {len(seeds)}")
    from vizcore.lab.stats import compare

    d = compare(a, b, seeds_a=seeds_a, seeds_b=seeds_b,
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
    from vizcore.lab import reference

    return {"source": reference.citation(), "verified": reference.verified_note(), "note": reference.SCALE_NOTE,
            "deltas": reference.published_deltas(args.model, args.batch)}


def _summary_json(store, exp) -> dict:
    from vizcore.lab import results as exp_results
    from vizcore.lab import sweep as vsweep

    s = exp_results.experiment_summary(store, exp)
    design = (exp.form or {}).get("design") or {}
    cells = {"cells": vsweep.cell_rows(s, design)} if design.get("mode") == "sweep" else {}
    return {"id": exp.id, "name": exp.name, "arms": exp.arms, "table": exp_results.table_rows(s), **cells,
            "differences": [{"a": d.name_a, "b": d.name_b, "diff": d.diff, "half_width": d.half_width,
                             "p_value": d.p_value, "test": d.test, "effect_size": d.effect_size,
                             "verdict": d.verdict} for d in s.differences]}


def _add_experiments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--id", help="one experiment id (default: all, newest first)")


@command("experiments", "Stored comparisons over seeds: mean and 95-percent t-interval per configuration, verdicts",
         _add_experiments)
def _experiments(args: argparse.Namespace) -> list:
    from vizcore.lab import experiment as vexp
    from vizcore.lab.store import RunStore

    store = RunStore()
    exps = [vexp.get_experiment(args.id)] if args.id else vexp.list_experiments()
    return [_summary_json(store, e) for e in exps]


def _add_ab(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trick", action="append", required=True,
                   help="trick to toggle (repeat up to 3 times for a grid): cosine, label_smoothing, mixup, ...")
    _add_runs_args(p)


def _add_runs_args(p: argparse.ArgumentParser) -> None:
    """What ``ab`` and ``grid`` share: seeds, the base configuration, where the runs train, reuse."""
    p.add_argument("--seeds", type=int, default=3, help="seeds per configuration (default 3)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--config", help="JSON file of TrainConfig fields for the base configuration")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a base config field, e.g. --set epochs=2 --set train_size=1000")
    add_executor_args(p)
    p.add_argument("--no-reuse", action="store_true",
                   help="train every run again, even when an identical finished run (same config and seed) exists")


def add_executor_args(p: argparse.ArgumentParser) -> None:
    """``--executor`` and ``--workers``: where the runs train (default: the environment; see the README)."""
    p.add_argument("--executor", choices=["inprocess", "process", "ray"],
                   help="where runs train: this process, a local process pool (default), or the Ray cluster at "
                        "RAY_ADDRESS (default when it is set)")
    p.add_argument("--workers", type=int,
                   help="runs at once in the process pool (default CONVSCOPE_WORKERS, else cores ÷ torch threads per "
                        "run); each worker gets cores ÷ workers torch threads")


def base_config(config_path: str | None, sets: list[str], default=None):
    """TrainConfig from a JSON file (or ``default``, else TrainConfig's defaults) with ``FIELD=VALUE`` overrides
    (values parsed as JSON)."""
    import dataclasses
    import json
    from pathlib import Path

    from vizcore.train.config import TrainConfig

    if config_path:
        from vizcore.core.io import read_text_capped

        base = TrainConfig.from_json(read_text_capped(Path(config_path), MAX_CONFIG_BYTES, "config file"))
    else:
        base = default if default is not None else TrainConfig()
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    over = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or key not in fields:
            raise CLIError(f"expected FIELD=VALUE with a TrainConfig field, got {item!r}")
        try:
            over[key] = json.loads(value)
        except json.JSONDecodeError:
            over[key] = value
    return dataclasses.replace(base, **over)


@command("ab", "Queue an A/B (one trick) or grid (2-3 tricks) over seeds in the lab, wait, print the comparison",
         _add_ab)
def _ab(args: argparse.Namespace) -> dict:
    from vizcore.lab import experiment as vexp
    from vizcore.lab.queue import get_lab

    base = base_config(args.config, args.set)
    plan = (vexp.plan_ab(base, args.trick[0], args.seeds, args.first_seed) if len(args.trick) == 1
            else vexp.plan_grid(base, args.trick, args.seeds, args.first_seed))
    lab = get_lab(executor=args.executor, workers=args.workers)
    exp = vexp.submit_plan(lab, plan, reuse=not args.no_reuse)
    for r in exp.runs:
        lab.wait(r["run_id"])
    out = _summary_json(lab.store, exp)
    out.update(executor_json(lab))
    new = {r.id for r in lab.store.list(f"{plan.name} #{exp.id}")}  # trained for this experiment, not reused
    out["runs"] = [{**run_json(lab.store.get(r["run_id"])), "arm": r["arm"], "seed": r["seed"],
                    "reused": r["run_id"] not in new} for r in exp.runs]
    return out


def _add_grid(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trick", action="append", default=[],
                   help="trick toggled on and off in every combination (repeat, up to 4): cosine, mixup, ...")
    p.add_argument("--combo", action="append", default=[], metavar="TRICK+TRICK",
                   help="instead of every combination, only these (repeat): 'none' for the baseline, 'cosine+mixup'")
    p.add_argument("--models", help="comma-separated zoo models, the baseline's first (default: the base config's)")
    _add_runs_args(p)
    p.add_argument("--dry-run", action="store_true",
                   help="print the grid, its size and its time estimate; queue nothing")


def _combos(items: list[str]) -> list[list[str]] | None:
    if not items:
        return None
    return [[] if c.strip().lower() in ("none", "baseline", "") else [k.strip() for k in c.split("+") if k.strip()]
            for c in items]


@command("grid", "Queue a sweep (tricks × models × seeds, at most 48 runs) in the lab in one go, wait, print the "
         "comparison of every cell", _add_grid)
def _grid(args: argparse.Namespace) -> dict:
    from vizcore.lab import experiment as vexp
    from vizcore.lab import sweep as vsweep
    from vizcore.lab.executors import settings
    from vizcore.lab.queue import get_lab

    base = base_config(args.config, args.set)
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else []
    sw = vsweep.plan_sweep(base, args.trick, models, args.seeds, args.first_seed, _combos(args.combo))
    grid = {"name": sw.plan.name, "size": sw.size_text(), "runs": sw.n_runs, "configurations": len(sw.cells),
            "seeds": list(sw.plan.seeds), "tricks": list(sw.tricks), "models": list(sw.models),
            "cells": [{"arm": c.arm, "model": c.model, "on": list(c.on)} for c in sw.cells]}
    if args.dry_run:  # no lab: nothing starts
        workers = settings(args.executor, args.workers)[1]
        est = vsweep.estimate_sweep(sw, workers)
        return {"grid": grid, "estimate": est.to_dict() if est is not None else None}
    lab = get_lab(executor=args.executor, workers=args.workers)
    est = vsweep.estimate_sweep(sw, lab.concurrency)
    grid["estimate"] = est.to_dict() if est is not None else None
    exp = vexp.submit_plan(lab, sw.plan, form={"base": base.to_dict(), "design": sw.design()}, reuse=not args.no_reuse)
    for r in exp.runs:
        lab.wait(r["run_id"])
    out = {"grid": grid, **_summary_json(lab.store, exp), **executor_json(lab)}
    new = {r.id for r in lab.store.list(f"{sw.plan.name} #{exp.id}")}  # trained for this sweep, not reused
    out["runs"] = [{**run_json(lab.store.get(r["run_id"])), "arm": r["arm"], "seed": r["seed"],
                    "reused": r["run_id"] not in new} for r in exp.runs]
    return out


def executor_json(lab) -> dict:
    """Where a lab's runs train, for the JSON of the commands that train."""
    return {"executor": lab.executor_kind, "workers": lab.concurrency, "executor_text": lab.describe(),
            **({"executor_notice": lab.notice} if lab.notice else {})}


def run_json(rec) -> dict:
    """A run's outcome and where it ran."""
    return {"run_id": rec.id, "status": rec.status, "val_acc": rec.val_acc, "message": rec.message,
            "executor": rec.info.get("executor"), "worker": rec.info.get("worker"), "checkpoint": rec.checkpoint}


def _add_shape_bias(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--checkpoint", help="checkpoint of a model trained on the shapes data set")
    g.add_argument("--run", help="id of a finished run trained on shapes")
    p.add_argument("-n", type=int, default=500, help="cue-conflict images (default 500)")


@command("shape-bias", "Shape bias (Geirhos et al., 2019) of a shapes-trained model on cue-conflict images",
         _add_shape_bias)
def _shape_bias(args: argparse.Namespace) -> dict:
    from vizcore.inspect.shape_bias import shape_bias_of_checkpoint

    path = args.checkpoint
    if args.run:
        from vizcore.lab.store import RunStore

        path, _ = RunStore().resolve(args.run)
    sb = shape_bias_of_checkpoint(path, n=args.n)
    return {"shape": sb.shape, "texture": sb.texture, "other": sb.other, "excluded": sb.excluded,
            "shape_bias": sb.shape_bias, "text": sb.text()}
