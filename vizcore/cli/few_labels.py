"""CLI: ``few-labels`` (the label-efficiency curve: train missing cells, print means with intervals),
``pseudo-labels`` (a run's pseudo-labels on its pool) and ``noisy-student`` (R linked rounds)."""
from __future__ import annotations

import argparse
from typing import Any

from vizcore.cli.registry import CLIError, command


def _ks(text: str) -> list[int | None]:
    out: list[int | None] = []
    for part in text.split(","):
        p = part.strip().lower()
        if p == "all":
            out.append(None)
            continue
        try:
            out.append(int(p))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected labels per class like 1,4,25,all, got {text!r}") from None
    return out


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds like 0,1,2, got {text!r}") from None
    if not seeds or len(seeds) > 10 or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"expected 1 to 10 non-negative seeds, got {text!r}")
    return seeds


def _add_curve(p: argparse.ArgumentParser) -> None:
    from vizcore.lab.few_labels import METHODS

    p.add_argument("--methods", default="", help=f"methods to train first, from {', '.join(METHODS)} (default: "
                                                 "none; only the stored curve is printed)")
    p.add_argument("--k", type=_ks, default=[4], help="labels per class, e.g. 1,4,25,100,all (default 4)")
    p.add_argument("--seeds", type=_seeds, default=[0], help="seeds, e.g. 0,1,2 (default 0)")
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    p.add_argument("--db", help="run store database (default: data dir/runs.sqlite)")
    p.add_argument("--dry-run", action="store_true", help="list the runs it would train, train none")


def _train(lab: Any, config: Any, name: str) -> str:
    from vizcore.lab.few_labels import GROUP

    run_id = lab.submit(config, name, GROUP, reuse=True)
    status = lab.wait(run_id)
    if status != "done":
        raise CLIError(f"expected run {run_id} ({name}) to finish, got {status}: {lab.store.get(run_id).message}")
    return run_id


@command("few-labels", "Label-efficiency curve: validation accuracy against labels per class per method (train "
         "the missing cells with --methods), mean and 95% interval over seeds.", _add_curve)
def run_curve(args: argparse.Namespace) -> dict:
    from vizcore.lab import few_labels as fl
    from vizcore.lab.queue import Lab

    methods = [m for m in args.methods.split(",") if m]
    over = {"epochs": args.epochs} if args.epochs else {}
    try:
        specs = [fl.FewLabelsSpec(m, k, s) for m in methods for k in args.k for s in args.seeds
                 if not (k is None and m in ("pseudo_label", "noisy_student", "fixmatch"))]
        lab = Lab(args.db, executor="inprocess", workers=1)
        planned = []
        for spec in specs:
            spec, need = fl.prerequisite(lab.store, spec)
            if need is not None:
                planned.append({"name": f"prerequisite of {fl.run_name(spec)}", "config": need.to_dict()})
                if not args.dry_run:
                    ref = _train(lab, need, f"{'Source' if spec.method == 'transfer' else 'Teacher'} for "
                                            f"{fl.run_name(spec)}")
                    spec = (fl.FewLabelsSpec(spec.method, spec.k, spec.seed, source=ref) if spec.method == "transfer"
                            else fl.FewLabelsSpec(spec.method, spec.k, spec.seed, teacher=ref))
            if spec.method not in ("transfer", "distill", "noisy_student") or not args.dry_run:
                cfg = fl.config_for(spec, **over)
                planned.append({"name": fl.run_name(spec), "config": cfg.to_dict()})
                if not args.dry_run:
                    _train(lab, cfg, fl.run_name(spec))
        records = lab.store.list(fl.GROUP)
        lab.shutdown(wait=False)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    rows = fl.curve_rows(records)
    return {"runs": planned if args.dry_run else len(planned), "curve": fl.summarize_curve(rows), "rows": rows,
            "noisy_student_rounds": fl.noisy_student_rounds(records), "usb_cifar10_40_error": fl.USB_CIFAR10_40}


def _add_pseudo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="a stored run id with a label budget")
    p.add_argument("--tau", type=float, default=None, help="threshold (default: the run's ssl_tau)")
    p.add_argument("--gallery", type=int, default=12, help="confident wrong pseudo-labels listed (0..64)")
    p.add_argument("--db", help="run store database (default: data dir/runs.sqlite)")


@command("pseudo-labels", "A run's pseudo-labels on its unlabelled pool: pass rate and accuracy at τ, the "
         "trade-off over τ, the confusion matrix and the most confident wrong ones.", _add_pseudo)
def run_pseudo(args: argparse.Namespace) -> dict:
    from vizcore.lab.few_labels import run_report
    from vizcore.lab.store import RunStore

    try:
        store = RunStore(args.db, readonly=True)
        if not store.exists(args.run):
            raise ValueError(f"expected a stored run id, got {args.run!r}")
        rep = run_report(store, args.run, args.tau, args.gallery)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    out = {k: getattr(rep, k) for k in ("classes", "tau", "n", "pass_rate", "accuracy", "accuracy_all",
                                         "confusion", "tradeoff", "wrong")}
    return {"run_id": args.run, **out}


def _add_ns(p: argparse.ArgumentParser) -> None:
    p.add_argument("--k", type=int, default=4, help="labels per class (default 4)")
    p.add_argument("--rounds", type=int, default=2, help="student rounds after the teacher (1..5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grow", action="store_true", help="each student one size larger (fast_cnn → small_cnn → "
                                                       "se_resnet_small)")
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    p.add_argument("--db", help="run store database (default: data dir/runs.sqlite)")


@command("noisy-student", "Noisy Student self-training: a supervised teacher on K labels per class, then R "
         "students, each learning its teacher's pseudo-labels with noise and becoming the next teacher.", _add_ns)
def run_ns(args: argparse.Namespace) -> dict:
    from vizcore.lab import few_labels as fl
    from vizcore.lab.queue import Lab

    if not 1 <= args.rounds <= 5:
        raise CLIError(f"expected 1 to 5 rounds, got {args.rounds}")
    over = {"epochs": args.epochs} if args.epochs else {}
    try:
        lab = Lab(args.db, executor="inprocess", workers=1)
        teacher_cfg = fl.with_fields(fl.config_for(fl.FewLabelsSpec("supervised", args.k, args.seed)), **over)
        teacher = _train(lab, teacher_cfg, f"Noisy Student teacher ({args.k} labels/class, seed {args.seed})")
        model = teacher_cfg.model
        for r in range(1, args.rounds + 1):
            cfg = fl.noisy_student_round(teacher, model, args.k, args.seed, args.grow, **over)
            teacher, model = _train(lab, cfg, f"Noisy Student round {r} ({args.k} labels/class, {cfg.model})"), cfg.model
        records = lab.store.list(fl.GROUP)
        lab.shutdown(wait=False)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    chains = [c for c in fl.noisy_student_rounds(records) if c[-1]["run_id"] == teacher]
    return {"rounds": chains[0] if chains else []}
