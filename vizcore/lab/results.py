"""Results of an experiment: per-arm summaries over seeds (intervals, bands, the A/B verdict) and shape bias rows,
and the warnings to show before queueing settings too small for a comparison to mean anything.

Accuracies are in % and bounded: every interval here is cut to [0, 100] (:mod:`vizcore.lab.stats`).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vizcore.lab.bands import Band, band
from vizcore.lab.experiment import Experiment, Plan
from vizcore.lab.stats import MIN_SEEDS_TO_DECIDE, Difference, Interval, compare, mean_interval

PERCENT = (0.0, 100.0)  # accuracy and shape bias, in %


@dataclass(frozen=True)
class RunResult:
    """What a comparison needs from one finished (or running) run."""

    arm: str  # arm name
    seed: int  # the run's seed
    status: str  # run status
    val_acc: tuple[float, ...]  # validation accuracy per completed epoch, in %
    time_s: float  # wall time of the completed epochs, s
    throughput: float  # mean training images / s (NaN when unknown)
    load: float = math.nan  # the server's load per core while it ran (mean over its epochs; NaN when unknown)
    robust_acc: tuple[float, ...] = ()  # PGD-10 accuracy per completed epoch, in % (runs with robust_eval)

    @property
    def final(self) -> float:
        return self.val_acc[-1] if self.val_acc else math.nan

    @property
    def final_robust(self) -> float:
        return self.robust_acc[-1] if self.robust_acc else math.nan


@dataclass(frozen=True)
class ArmSummary:
    """One row of the comparison table: an arm's final accuracy over its finished seeds."""

    arm: str  # arm name
    accuracy: Interval | None  # mean and t-interval (cut to [0, 100]) of final val accuracy (%) over done seeds
    seeds: tuple[int, ...]  # seeds that finished ("done")
    values: tuple[float, ...]  # their final val accuracy, %
    pending: int  # runs queued or running
    failed: int  # runs cancelled, diverged, failed or interrupted
    time_s: float  # mean wall time per done run, s (depends on the server's load, not only on the trick)
    throughput: float  # mean training images / s over done runs
    load: float = math.nan  # mean server load per core while the done runs trained
    robust: Interval | None = None  # mean and t-interval of final PGD-10 accuracy (%) over done seeds that measured it
    robust_values: tuple[float, ...] = ()  # those seeds' final PGD-10 accuracy, %
    robust_seeds: tuple[int, ...] = ()  # and their seeds


@dataclass(frozen=True)
class Summary:
    """Table rows, differences against the baseline and curves with bands, of one experiment."""

    rows: tuple[ArmSummary, ...]  # baseline first
    differences: tuple[Difference, ...]  # each non-baseline arm vs the baseline (arms with >= 1 done run)
    bands: dict[str, Band]  # arm -> validation accuracy band over epochs (done runs, and running ones so far)
    robust_differences: tuple[Difference, ...] = ()  # the same for accuracy under PGD-10 (arms that measured it)


def summarize(arms: Sequence[str], results: Iterable[RunResult], confidence: float = 0.95) -> Summary:
    """Summarise run results by arm: only runs with status ``done`` count in the table and the tests;
    curves include running seeds so far (live). Differences are paired by seed where the seeds match."""
    by_arm: dict[str, list[RunResult]] = {a: [] for a in arms}
    for r in results:
        if r.arm not in by_arm:
            raise ValueError(f"expected an arm from {list(arms)}, got {r.arm!r}")
        by_arm[r.arm].append(r)
    rows, bands = [], {}
    for a in arms:
        rs = by_arm[a]
        done = sorted((r for r in rs if r.status == "done" and r.val_acc), key=lambda r: r.seed)
        vals = tuple(r.final for r in done)
        rob = [r for r in done if r.robust_acc]
        rvals = tuple(r.final_robust for r in rob)
        rows.append(ArmSummary(
            a, mean_interval(vals, confidence, PERCENT) if vals else None, tuple(r.seed for r in done), vals,
            sum(r.status in ("queued", "running") for r in rs),
            sum(r.status in ("cancelled", "diverged", "failed", "interrupted") for r in rs),
            _mean([r.time_s for r in done]), _mean([r.throughput for r in done]), _mean([r.load for r in done]),
            mean_interval(rvals, confidence, PERCENT) if rvals else None, rvals, tuple(r.seed for r in rob)))
        curves = [list(r.val_acc) for r in rs if r.val_acc and r.status in ("done", "running")]
        if curves:
            bands[a] = band(curves, confidence, bounds=PERCENT)
    diffs, rdiffs = [], []
    base = rows[0] if rows else None
    if base is not None and base.values:
        for row in rows[1:]:
            if row.values:
                diffs.append(compare(base.values, row.values, seeds_a=base.seeds, seeds_b=row.seeds,
                                     name_a=base.arm, name_b=row.arm, confidence=confidence, bounds=PERCENT))
    if base is not None and base.robust_values:
        for row in rows[1:]:
            if row.robust_values:
                rdiffs.append(compare(base.robust_values, row.robust_values, seeds_a=base.robust_seeds,
                                      seeds_b=row.robust_seeds, name_a=base.arm, name_b=row.arm,
                                      confidence=confidence, bounds=PERCENT))
    return Summary(tuple(rows), tuple(diffs), bands, tuple(rdiffs))


def _mean(xs: Sequence[float]) -> float:
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return sum(xs) / len(xs) if xs else math.nan


def table_rows(summary: Summary) -> list[dict[str, Any]]:
    """The comparison table as plain rows (for a dataframe, CSV or JSON). Every column has one type: numbers
    are floats (NaN where not measured yet), the interval is text."""
    out = []
    robust = any(r.robust_values for r in summary.rows)
    for r in summary.rows:
        acc = r.accuracy
        extra = {"accuracy under PGD-10 (%)": r.robust.text() if r.robust is not None else "not measured"} if robust else {}
        out.append({
            "configuration": r.arm,
            "final val accuracy (%)": acc.text() if acc is not None else "no finished run yet",
            "mean (%)": acc.mean if acc else math.nan,
            "95% low (%)": acc.low if acc else math.nan,
            "95% high (%)": acc.high if acc else math.nan,
            **extra,
            "seeds done": len(r.seeds),
            "pending": r.pending,
            "failed/cancelled": r.failed,
            "wall time per run (s)": float(r.time_s),
            "throughput (img/s)": float(r.throughput),
            "server load (per core)": float(r.load),
        })
    return out


LOAD_DIFFERS = 1.5  # arms whose mean server loads differ by this factor ran under different conditions


def load_note(summary: Summary) -> str:
    """Why the wall times of a comparison's configurations must not be read as the tricks' effect: always a
    caption; with a warning's words when the arms ran under clearly different server load."""
    loads = [(r.arm, r.load) for r in summary.rows if math.isfinite(r.load) and r.load > 0]
    base = ("Wall time and throughput depend on what else the server ran while each run trained (its load per "
            "core, 1 = every core busy): compare them between configurations only when their loads are alike. "
            "A trick changes the time only when it changes the work (mixup or CutMix, test-time augmentation, "
            "another model or batch size).")
    if len(loads) >= 2:
        lo, hi = min(loads, key=lambda x: x[1]), max(loads, key=lambda x: x[1])
        if hi[1] > LOAD_DIFFERS * max(lo[1], 0.25):
            return (f"The configurations ran under different server load ({lo[0]}: {lo[1]:.2f} per core, "
                    f"{hi[0]}: {hi[1]:.2f}): the difference in their wall times is the server's, not the "
                    "trick's. " + base)
    return base


def difference_rows(summary: Summary) -> list[dict[str, Any]]:
    """The differences against the baseline as rows. Undefined statistics (one seed, no spread) are words, not
    "None" or a made-up 0: the p-value, interval and effect size columns are text."""
    def num(v: float, fmt: str, missing: str) -> str:
        return missing if v is None or not math.isfinite(v) else format(v, fmt)

    rows = []
    robust = bool(summary.robust_differences)
    for metric, d in [("clean", d) for d in summary.differences] + [("under PGD-10", d) for d in summary.robust_differences]:
        missing = {"can't tell": "one seed", "no variation": "no spread"}.get(d.decision, "—")
        rows.append({
            **({"accuracy": metric} if robust else {}),
            "A (baseline)": d.name_a, "B": d.name_b, "B − A (points)": float(d.diff),
            "95% interval (points)": (f"{d.low:+.2f} to {d.high:+.2f}" if math.isfinite(d.low) else missing),
            "p-value": num(d.p_value, ".3f", missing), "test": d.test, "effect size": num(d.effect_size, ".2f", missing),
            "verdict": d.decision, "n A": int(d.a.n), "n B": int(d.b.n)})
    return rows


def results(store: Any, exp: Experiment) -> list[RunResult]:
    """The experiment's runs as :class:`RunResult` (runs deleted from the store are left out)."""
    out = []
    for r in exp.runs:
        try:
            rec = store.get(r["run_id"])
        except ValueError:
            continue
        epochs = store.metrics(rec.id, "epoch")
        steps = store.metrics(rec.id, "step")
        tput = [float(s["throughput"]) for s in steps if s.get("throughput") is not None]
        if rec.started_at is not None and rec.finished_at is not None:
            t = rec.finished_at - rec.started_at
        else:
            t = float(epochs[-1].get("elapsed_s", math.nan)) if epochs else math.nan
        loads = [float(e["load"]) for e in epochs if isinstance(e.get("load"), (int, float))]
        robust = tuple(100.0 * float(e["robust_acc"]) for e in epochs if isinstance(e.get("robust_acc"), (int, float)))
        out.append(RunResult(r["arm"], int(r["seed"]), rec.status,
                             tuple(100.0 * float(e["val_acc"]) for e in epochs), float(t),
                             sum(tput) / len(tput) if tput else math.nan, _mean(loads), robust))
    return out


def experiment_summary(store: Any, exp: Experiment, confidence: float = 0.95) -> Summary:
    """:func:`summarize` of a stored experiment's runs."""
    return summarize(exp.arms, results(store, exp), confidence)


def ab_trick(exp: Experiment) -> str | None:
    """The trick an A/B toggled: from how it was asked for (its design), else from its arms' names ("<trick>
    off", "<trick> on", as :func:`vizcore.lab.experiment.plan_ab` names them); None for anything else."""
    from vizcore.lab.experiment import TRICKS

    design = (exp.form or {}).get("design") or {}
    tricks = design.get("tricks") or []
    if design.get("mode") == "A/B" and len(tricks) == 1 and tricks[0] in TRICKS:
        return str(tricks[0])
    if not exp.name.startswith("A/B") or len(exp.arms) != 2:
        return None
    off, on = (a.rsplit(" ", 1) for a in exp.arms)
    if len(off) == 2 and len(on) == 2 and off[0] == on[0] and (off[1], on[1]) == ("off", "on") and on[0] in TRICKS:
        return on[0]
    return None


def measured_deltas(store: Any, experiments: Iterable[Experiment]) -> dict[str, Difference]:
    """For each Bag of Tricks reference (:mod:`vizcore.lab.reference`), the difference the newest A/B of its
    trick measured here (``experiments`` newest first; A/Bs still without a difference are skipped)."""
    from vizcore.lab.experiment import TRICKS

    out: dict[str, Difference] = {}
    for e in experiments:
        key = ab_trick(e)
        ref = TRICKS[key].reference if key is not None else None
        if ref is None or ref in out:
            continue
        s = experiment_summary(store, e)
        if s.differences:
            out[ref] = s.differences[0]
    return out


# ---------------------------------------------------------------------------------------- shape vs texture


@dataclass(frozen=True)
class ShapeBiasRow:
    """Shape bias of one finished run of a shape-vs-texture experiment."""

    arm: str  # arm name
    seed: int  # the run's seed
    val_acc: float  # the run's final validation accuracy on shapes, %
    shape: int  # shape decisions on the cue-conflict images
    texture: int  # texture decisions
    other: int  # decisions for neither cue
    bias: float  # shape / (shape + texture), in [0, 1]; NaN without cue decisions


def shape_bias_rows(store: Any, exp: Experiment, measure: Callable[[str], Any]) -> tuple[list[ShapeBiasRow], int]:
    """(rows for the finished runs, number of runs still queued or running).

    measure: checkpoint path -> an object with ``shape``, ``texture``, ``other``, ``shape_bias``
    (:func:`vizcore.inspect.shape_bias.shape_bias_of_checkpoint`, possibly cached by the caller).
    """
    rows, waiting = [], 0
    for r in exp.runs:
        try:
            rec = store.get(r["run_id"])
        except ValueError:  # deleted from the store
            continue
        if rec.status == "done" and rec.checkpoint and Path(rec.checkpoint).is_file():
            sb = measure(rec.checkpoint)
            rows.append(ShapeBiasRow(r["arm"], int(r["seed"]), 100.0 * float(rec.val_acc or 0.0), int(sb.shape),
                                     int(sb.texture), int(sb.other), float(sb.shape_bias)))
        elif rec.status in ("queued", "running"):
            waiting += 1
    return rows, waiting


def shape_bias_difference(rows: Sequence[ShapeBiasRow], arms: Sequence[str]) -> Difference | None:
    """Shape bias (in %) of the second arm against the first over seeds; None until both have a value."""
    if len(arms) < 2:
        return None
    side = {a: [(r.seed, 100.0 * r.bias) for r in rows if r.arm == a and math.isfinite(r.bias)] for a in arms[:2]}
    a0, a1 = arms[0], arms[1]
    if not side[a0] or not side[a1]:
        return None
    return compare([v for _, v in side[a0]], [v for _, v in side[a1]], seeds_a=[s for s, _ in side[a0]],
                   seeds_b=[s for s, _ in side[a1]], name_a=a0, name_b=a1, unit="points of shape bias",
                   words=("more shape-biased", "less shape-biased"), bounds=PERCENT)


# ---------------------------------------------------------------------------------------- before queueing

MIN_STEPS = 20  # optimizer steps per run below which a network has hardly started to learn
MIN_VAL = 100  # validation images below which one image moves accuracy by more than a point


def plan_warnings(plan: Plan) -> list[str]:
    """What makes this comparison unable to mean anything, in words, before anything is queued.

    Checks the steps each run trains, the validation set's resolution, the seeds per arm, and whether the
    toggled trick changes anything at these settings (e.g. cosine vs step decay over one step: the same LR).
    """
    from vizcore.train import schedule as lr_sched

    out: list[str] = []
    cfg = plan.arms[0].config
    spe = cfg.steps_per_epoch()
    steps = spe * cfg.epochs
    if steps < MIN_STEPS:
        why = (f"{cfg.train_size} training images at batch {cfg.batch_size} = {spe} optimizer step"
               f"{'s' if spe != 1 else ''} per epoch × {cfg.epochs} epoch{'s' if cfg.epochs != 1 else ''}")
        out.append(f"Each run trains only {steps} optimizer step{'s' if steps != 1 else ''} ({why}): the networks "
                   f"barely move from their random start, so every configuration scores near chance and the "
                   f"comparison measures noise. Use at least {MIN_STEPS} steps: more training images, a smaller "
                   "batch or more epochs.")
    if cfg.val_size < MIN_VAL:
        out.append(f"{cfg.val_size} validation images: one image moves accuracy by {100 / cfg.val_size:.1f} "
                   "points, coarser than most tricks' effect. Use a few hundred.")
    if len(plan.seeds) < MIN_SEEDS_TO_DECIDE:
        out.append(f"{len(plan.seeds)} seed{'s' if len(plan.seeds) != 1 else ''} per configuration: too few to "
                   f"decide anything (the verdict will say so). Use at least {MIN_SEEDS_TO_DECIDE}, better 5.")
    sched_fields = {"schedule", "warmup_epochs", "linear_scaling", "step_size", "gamma", "lr"}
    only_schedule = len(plan.arms) > 1 and all(set(_changed(plan.arms[0].config, a.config)) <= sched_fields
                                               for a in plan.arms[1:])
    if only_schedule and steps <= 10_000 and len({  # same LR at every step: the arms are the same training
            tuple(round(float(v), 12) for v in lr_sched.lr_schedule(a.config)) for a in plan.arms}) == 1:
        out.append("At these settings the configurations follow exactly the same learning-rate schedule "
                   f"({steps} step{'s' if steps != 1 else ''}), so they are the same training: any difference is "
                   "seed noise. Train for more steps.")
    return out


def _changed(a: Any, b: Any) -> list[str]:
    import dataclasses

    return [f.name for f in dataclasses.fields(a) if getattr(a, f.name) != getattr(b, f.name)]
