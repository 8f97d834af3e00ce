"""A sweep: a grid of tricks × models × seeds planned, sized, estimated and queued in one go.

The Bag of Tricks paper (He et al., CVPR 2019) adds tricks one at a time to a baseline; whether two tricks add up,
or whether a trick helps every model alike, takes a grid: every combination of a few tricks (or a chosen list of
combinations), on each of a few models, each cell repeated over the same seeds (Bouthillier et al., MLSys 2021).
A sweep is an ordinary :class:`vizcore.lab.experiment.Plan` — its cells are the plan's configurations, the first
(the first model, every trick off) the baseline — so the comparison code (:mod:`vizcore.lab.results`) summarises
it as it does an A/B: a mean with a t-interval per cell, each cell against the baseline. :func:`cell_rows` lays
the cells out as a table of trick combinations × models.

Grids are capped (:data:`MAX_RUNS` runs): a grid grows as 2^tricks × models × seeds, and one that cannot finish
in a class hour is refused in words before anything is queued, as is a combination that cannot be built.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vizcore.lab import experiment as vexp
from vizcore.train.config import TrainConfig

MAX_RUNS = 48  # configurations × seeds; e.g. 2 models × 2^3 trick combinations × 3 seeds
MAX_TRICKS = 4  # 2^4 = 16 combinations per model
MAX_MODELS = 4  # models side by side
MAX_CELLS = vexp.MAX_ARMS  # configurations: rows of one comparison table


@dataclass(frozen=True)
class Cell:
    """One configuration of a sweep: a model and the tricks turned on (the sweep's other tricks are off)."""

    arm: str  # the plan's arm name
    model: str  # zoo name the cell trains
    on: tuple[str, ...]  # trick keys turned on, in the sweep's order

    @property
    def combo(self) -> str:
        """The trick combination in words: "baseline" or "cosine + mixup"."""
        return " + ".join(self.on) if self.on else "baseline"


@dataclass(frozen=True)
class Sweep:
    """A planned sweep: the plan to queue and what each of its cells is."""

    plan: vexp.Plan  # arms = cells (baseline first) × seeds
    cells: tuple[Cell, ...]  # in the plan's arm order
    tricks: tuple[str, ...]  # every trick the sweep toggles
    models: tuple[str, ...]  # the models, the baseline's first

    @property
    def n_runs(self) -> int:
        return len(self.plan.arms) * len(self.plan.seeds)

    def design(self) -> dict[str, Any]:
        """How it was asked for, to keep with the experiment (:attr:`vizcore.lab.experiment.Experiment.form`)."""
        return {"mode": "sweep", "tricks": list(self.tricks), "models": list(self.models),
                "combos": [list(c) for c in dict.fromkeys(c.on for c in self.cells)],
                "n_seeds": len(self.plan.seeds), "first_seed": self.plan.seeds[0],
                "cells": [dataclasses.asdict(c) for c in self.cells]}

    def size_text(self) -> str:
        """'2 models × 4 trick combinations × 3 seeds = 24 runs'."""
        n_combos = len({c.on for c in self.cells})
        parts = ([f"{len(self.models)} models"] if len(self.models) > 1 else []) + [
            f"{n_combos} trick combination{'s' if n_combos != 1 else ''}",
            f"{len(self.plan.seeds)} seed{'s' if len(self.plan.seeds) != 1 else ''}"]
        return f"{' × '.join(parts)} = {self.n_runs} run{'s' if self.n_runs != 1 else ''}"


def _sets_model(key: str, base: TrainConfig) -> bool:
    t = vexp.TRICKS[key]
    return "model" in t.on(base) or "model" in t.off(base)


def plan_sweep(base: TrainConfig, tricks: Sequence[str] = (), models: Sequence[str] = (),
               n_seeds: int = vexp.DEFAULT_SEEDS, first_seed: int = 0,
               combos: Sequence[Sequence[str]] | None = None) -> Sweep:
    """Every combination of ``tricks`` on/off (or only the trick ``combos`` given, each the tricks turned on; [] is
    the baseline) on each of ``models`` (none: the base's model), each over ``n_seeds`` seeds from ``first_seed``.

    The first cell — the first model with every trick off, or the first combination given — is the baseline the
    others are compared to. Raises ValueError in one sentence for a grid over :data:`MAX_RUNS` runs, unknown
    tricks or models, and combinations that cannot be built (a ResNet tweak, which sets the model itself, with a
    models axis; two cells that would train the same thing; a config the trick makes invalid).
    """
    keys, combo_list = _combinations(base, tricks, combos)
    model_list = _models(base, models, keys)
    if not isinstance(n_seeds, int) or not 1 <= n_seeds <= vexp.MAX_SEEDS:
        raise ValueError(f"expected 1 to {vexp.MAX_SEEDS} seeds, got {n_seeds!r}")
    n_cells = len(combo_list) * len(model_list)
    if n_cells > MAX_CELLS:
        raise ValueError(f"expected at most {MAX_CELLS} configurations in a sweep, got {n_cells} ({len(model_list)} "
                         f"model(s) × {len(combo_list)} trick combination(s)): drop a trick or a model")
    if n_cells * n_seeds > MAX_RUNS:
        raise ValueError(f"expected at most {MAX_RUNS} runs in a sweep, got {n_cells * n_seeds} ({len(model_list)} "
                         f"model(s) × {len(combo_list)} trick combination(s) × {n_seeds} seed(s)): drop a trick, a "
                         "model or seeds")
    cells, arms = _cells(base, keys, combo_list, model_list)
    title = f"sweep: {', '.join(keys) or 'no tricks'}" + (f" × {', '.join(model_list)}" if len(model_list) > 1 else "")
    plan = vexp.Plan(title, tuple(arms), tuple(range(first_seed, first_seed + n_seeds)))
    return Sweep(plan, tuple(cells), tuple(keys), tuple(model_list))


def _combinations(base: TrainConfig, tricks: Sequence[str],
                  combos: Sequence[Sequence[str]] | None) -> tuple[list[str], list[tuple[str, ...]]]:
    """(every trick the sweep toggles, the combinations to run: each the tricks turned on), checked."""
    if combos is not None:
        combo_list = [tuple(dict.fromkeys(c)) for c in combos]
        if not combo_list:
            raise ValueError("expected at least one trick combination, got none")
        if len(set(map(frozenset, combo_list))) != len(combo_list):
            raise ValueError(f"expected distinct trick combinations, got {[list(c) for c in combo_list]}")
        keys = list(dict.fromkeys(k for c in combo_list for k in (*tricks, *c)))
    else:
        keys = list(dict.fromkeys(tricks))
        combo_list = sorted((tuple(k for k, on in zip(keys, bits) if on)  # baseline, single tricks, pairs, ...
                             for bits in itertools.product((False, True), repeat=len(keys))),
                            key=lambda c: (len(c), [keys.index(k) for k in c]))
    for k in keys:
        vexp.with_trick(base, k, False)  # unknown trick: "expected a trick from ..."
    if len(keys) > MAX_TRICKS:
        raise ValueError(f"expected at most {MAX_TRICKS} tricks in a sweep, got {len(keys)}")
    return keys, combo_list


def _models(base: TrainConfig, models: Sequence[str], keys: Sequence[str]) -> list[str]:
    """The models to sweep (none: the base's), checked against the zoo and the tricks that set the model."""
    from vizcore.models import registry as zoo

    model_list = list(dict.fromkeys(models)) or [base.model]
    if len(model_list) > MAX_MODELS:
        raise ValueError(f"expected at most {MAX_MODELS} models in a sweep, got {len(model_list)}")
    for m in model_list:
        zoo.get_entry(m)  # "expected a model name from ..."
    tweaks = [k for k in keys if _sets_model(k, base)]
    if tweaks and model_list != [base.model]:
        raise ValueError(f"expected no models to sweep with {', '.join(tweaks)} (a ResNet tweak chooses the model "
                         f"itself), got models {', '.join(model_list)}")
    return model_list


def _cells(base: TrainConfig, keys: Sequence[str], combo_list: Sequence[tuple[str, ...]],
           model_list: Sequence[str]) -> tuple[list[Cell], list[vexp.Arm]]:
    """Each model × combination as a cell and the plan's arm, model-major; refuses a cell that cannot be built
    or that would train the same as another."""
    cells, arms = [], []
    seen: dict[TrainConfig, str] = {}
    for model in model_list:
        for on in combo_list:
            name = (f"{model} · " if len(model_list) > 1 else "") + (" + ".join(on) if on else "baseline")
            try:
                cfg = dataclasses.replace(base, model=model)
                for k in keys:
                    cfg = vexp.with_trick(cfg, k, k in on)
            except ValueError as exc:
                raise ValueError(f"expected every cell of the sweep to be a valid configuration, got {name!r}: "
                                 f"{exc}") from None
            same = seen.setdefault(dataclasses.replace(cfg, seed=0), name)
            if same != name:
                raise ValueError(f"expected every cell of the sweep to train something different, got {same!r} "
                                 f"and {name!r} the same configuration")
            cells.append(Cell(name, cfg.model, on))
            arms.append(vexp.Arm(name, cfg, tuple((k, k in on) for k in keys)))
    return cells, arms


# ---------------------------------------------------------------------------------------- time


@dataclass(frozen=True)
class SweepEstimate:
    """How long a sweep takes: its runs one after another (:func:`vizcore.lab.history.estimate_plan`), and spread
    over the lab's workers when they do not slow each other down (the most they can gain)."""

    low: float  # s, one after another
    high: float  # s
    workers: int  # runs at once in the lab
    detail: str  # where the figures come from, in words

    @property
    def spread_low(self) -> float:
        return self.low / self.workers

    @property
    def spread_high(self) -> float:
        return self.high / self.workers

    def text(self) -> str:
        from vizcore.train.timing import format_range

        one = f"{format_range(self.low, self.high)} one after another"
        if self.workers <= 1:
            return one
        return (f"{one}; with {self.workers} workers at best {format_range(self.spread_low, self.spread_high)} "
                "(workers that share few cores slow each other)")

    def to_dict(self) -> dict[str, Any]:
        return {"low_s": self.low, "high_s": self.high, "workers": self.workers,
                "with_workers_low_s": self.spread_low, "with_workers_high_s": self.spread_high,
                "text": self.text(), "detail": self.detail}


def estimate_sweep(sweep: Sweep, workers: int = 1, store_path: Any = None, calibrate: bool = True) -> SweepEstimate | None:
    """The sweep's time from the runs this machine finished (a short calibration for what it never ran); None when
    ``calibrate`` is False and a cell has nothing measured to rest on."""
    from vizcore.lab import history

    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"expected at least 1 worker, got {workers!r}")
    est = history.estimate_plan([cfg for _, _, cfg in sweep.plan.runs()], store_path, calibrate=calibrate,
                                at_once=1)  # one after another; spread over the workers below
    if est is None:
        return None
    return SweepEstimate(float(est.low), float(est.high), min(workers, sweep.n_runs), est.detail)


# ---------------------------------------------------------------------------------------- results


def cell_rows(summary: Any, design: dict[str, Any]) -> list[dict[str, str]]:
    """A finished or running sweep as a table: one row per trick combination, one column per model, each cell its
    final validation accuracy's mean and 95% interval over seeds (text; "—" until a seed finished).

    summary: :class:`vizcore.lab.results.Summary` of the sweep's experiment; design: its stored
    :meth:`Sweep.design`.
    """
    by_arm = {r.arm: r for r in summary.rows}
    cells = [Cell(c["arm"], c["model"], tuple(c["on"])) for c in design.get("cells", [])]
    models = list(dict.fromkeys(c.model for c in cells))
    rows: dict[str, dict[str, str]] = {}
    for c in cells:
        row = rows.setdefault(c.combo, {"tricks on": c.combo, **{m: "—" for m in models}})
        acc = by_arm[c.arm].accuracy if c.arm in by_arm else None
        if acc is not None:
            row[c.model] = (f"{acc.mean:.2f}" if not math.isfinite(acc.low)
                            else f"{acc.mean:.2f} ({acc.low:.2f} to {acc.high:.2f})")
    return list(rows.values())
