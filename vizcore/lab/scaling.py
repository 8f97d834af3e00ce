"""Accuracy against cost of a compound-scaling experiment (Tan & Le, "EfficientNet", ICML 2019, Fig. 1 and 8).

A scaling experiment (:func:`vizcore.lab.experiment.plan_scaling`) trains the small EfficientNet family
(:mod:`vizcore.models.efficientnet_small`) on the embedded shapes, each member at its own resolution. Here each
arm becomes one point: its parameters and multiply-adds (counted on the meta device at the resolution it was
trained at) and its final validation accuracy over the seeds that finished, with a t-interval cut to [0, 100].
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from vizcore.lab.experiment import Experiment
from vizcore.lab.results import experiment_summary
from vizcore.lab.stats import Interval
from vizcore.train.config import TrainConfig

# The base run of a family experiment (plan_scaling sets each member's model and resolution): 6 epochs of 4,000
# shapes at batch 64 with AdamW (lr 0.01, weight decay 0.05) and the recipe's warmup, cosine decay, flips and
# flip TTA. The fast recipe's Nesterov SGD at 0.3 left efficientnet_s0 at 14% after 4 epochs (0.05: 67%); AdamW
# reached 77%. About 45 s for efficientnet_s0 on 2 CPU cores, each step of φ about twice that.
FAMILY_BASE = TrainConfig(model="efficientnet_s0", train_size=4000, val_size=2000, epochs=6, batch_size=64,
                          optimizer="adamw", lr=0.01, weight_decay=0.05)


@dataclass(frozen=True)
class ScalingPoint:
    """One arm of a scaling experiment: what the model costs and what it reached."""

    arm: str  # arm name, e.g. "φ=1 (37 px)"
    model: str  # zoo name, e.g. "efficientnet_s1"
    resolution: int  # input side it trained at, px
    params: int  # parameters (with the run's number of classes)
    macs: int  # multiply-adds of one forward pass at ``resolution``
    accuracy: Interval | None  # final val accuracy (%) over finished seeds; None before the first finishes
    values: tuple[float, ...]  # final val accuracy of each finished seed, %
    pending: int  # runs queued or running
    failed: int  # runs cancelled, diverged, failed or interrupted
    time_s: float  # mean wall time per finished run, s
    throughput: float  # mean training images / s over finished runs


@lru_cache(maxsize=64)
def model_cost(model: str, resolution: int, num_classes: int = 10) -> tuple[int, int]:
    """(parameters, multiply-adds) of zoo model ``model`` for one ``resolution``² RGB image (meta device)."""
    from vizcore.arch.scaling import meta_cost
    from vizcore.models import registry as zoo

    entry = zoo.get_entry(model)
    return meta_cost(lambda: entry.builder(num_classes=num_classes), (entry.input_size[0], resolution, resolution))


def scaling_points(store: Any, exp: Experiment) -> list[ScalingPoint]:
    """The arms of ``exp`` as :class:`ScalingPoint`, in the experiment's order; arms whose runs were all deleted
    from the store are left out."""
    summary = experiment_summary(store, exp)
    record_of: dict[str, Any] = {}  # arm -> a stored run of it (one that started, when there is one)
    for r in exp.runs:
        try:
            rec = store.get(r["run_id"])
        except ValueError:  # deleted
            continue
        if r["arm"] not in record_of or ("num_classes" in rec.info and "num_classes" not in record_of[r["arm"]].info):
            record_of[r["arm"]] = rec
    out = []
    for row in summary.rows:
        rec = record_of.get(row.arm)
        if rec is None:
            continue
        cfg = rec.config
        params, macs = model_cost(cfg.model, int(cfg.image_size), int(rec.info.get("num_classes", 10)))
        out.append(ScalingPoint(row.arm, cfg.model, int(cfg.image_size), params, macs, row.accuracy, row.values,
                                row.pending, row.failed, row.time_s, row.throughput))
    return out


def point_rows(points: list[ScalingPoint]) -> list[dict[str, Any]]:
    """The points as table rows; every column has one type (NaN where nothing finished yet)."""
    return [{
        "configuration": p.arm, "model": p.model, "resolution (px)": p.resolution,
        "parameters": int(p.params), "multiply-adds (M)": round(p.macs / 1e6, 2),
        "final val accuracy (%)": p.accuracy.text() if p.accuracy is not None else "no finished run yet",
        "mean (%)": p.accuracy.mean if p.accuracy is not None else math.nan,
        "seeds done": len(p.values), "pending": p.pending, "failed/cancelled": p.failed,
        "wall time per run (s)": float(p.time_s), "throughput (img/s)": float(p.throughput),
    } for p in points]
