"""How long a run will take on this machine: from the runs that finished here, else a short measurement.

A run's wall time = setup (data generation or decoding, model build) + epochs x (training + validation) + a
tail (the last checkpoint, the model back to the CPU, the store's last writes). The estimate comes from, in
this order:

1. **the same configuration** (every field that changes the cost equal; seeds, learning rates, schedules and
   regularisers do not): the finished runs' own wall times, the most recent weighted most;
2. **a similar one** (same model, image size, device and precision): the seconds per training image, per
   validation image and per prepared image those runs measured, recent ones weighted most;
3. **a calibration** only when no run of the model finished here: a warm-up step, then a few optimizer steps
   at the run's batch size, the fastest counting, so a step stalled by other work on the machine does not set
   the rate (a 3-step probe taken while another run trained once said 22 images/s for a model that trains 700
   a second, and "26 min" for a 47 s run).

Every estimate is a range (``low``..``high``): the spread of the runs it comes from, wider the further the
source is from the configuration asked about. The history is passed in (:class:`PastRun` rows, which the lab
reads from its run store, :func:`vizcore.lab.history.past_runs`): this layer never reads the store itself.
No device FLOP/s figure is guessed anywhere.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from vizcore.train import calibration
from vizcore.train.config import TrainConfig

__all__ = ["PastRun", "TimeEstimate", "estimate_plan", "estimate_time", "format_range", "past_run"]

MIN_HISTORY_STEPS = 10  # a run that trained fewer optimizer steps measured warm-up, not throughput
RECENCY = 0.6  # weight of the k-th most recent run: RECENCY ** k (the machine's load drifts; recent runs know it)
MAX_RUNS = 8  # at most this many recent runs per estimate
# how far the range reaches beyond the runs' own spread, by source: the further from the configuration asked
# about, the wider (calibration leans towards overestimating: a few steps on a fresh model run slower)
MARGIN = {"same": 0.10, "similar": 0.25, "calibrated": 0.5}


# ---------------------------------------------------------------------------------------- what runs measured

# Fields that do not change what a run costs: runs differing only in these are "the same configuration".
_FREE = frozenset({"seed", "data_seed", "lr", "momentum", "linear_scaling", "optimizer", "schedule",
                   "warmup_epochs", "step_size", "gamma", "weight_decay", "no_bias_decay", "label_smoothing",
                   "zero_gamma", "randaugment_m", "mix_prob", "distill_T", "distill_alpha", "backbone_lr_mult",
                   "time_budget_s", "memory_budget_mb", "log_every", "device", "transfer_from"})


def cost_key(config: TrainConfig) -> tuple:
    """The fields of ``config`` that change what a run costs, as a hashable tuple."""
    return tuple(sorted((k, repr(v)) for k, v in config.to_dict().items() if k not in _FREE))


@dataclass(frozen=True)
class PastRun:
    """What one finished run measured on this machine (built by :func:`past_run`)."""

    config: TrainConfig
    device: str  # device kind: cpu, cuda, mps
    finished_at: float  # unix time (orders runs by recency)
    complete: bool  # every planned epoch trained ("done"): its wall time is a whole run's
    wall_s: float  # started to finished
    setup_s: float  # before the first step (data, model)
    train_s: float  # seconds of optimizer steps, all epochs
    train_images: float  # images those steps trained on
    val_s: float  # seconds of one validation pass (median over epochs; NaN when unknown)
    tail_s: float  # after the last epoch's event (last checkpoint, status writes)
    load: float = math.nan  # the machine's load per core while it trained (mean over epochs; NaN: unknown)


def _pos(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _median(xs: Sequence[float]) -> float:
    ys = sorted(x for x in xs if math.isfinite(x))
    if not ys:
        return math.nan
    m = len(ys) // 2
    return ys[m] if len(ys) % 2 else (ys[m - 1] + ys[m]) / 2


def past_run(config: TrainConfig, status: str, info: dict[str, Any], epochs: Sequence[dict[str, Any]],
             started_at: float | None, finished_at: float | None) -> PastRun | None:
    """A :class:`PastRun` from a stored run's config, status, info, epoch events and start/end times; None when
    it measured nothing useful: it did not finish ("done" or "cancelled"), has no epoch timings, or trained
    fewer than :data:`MIN_HISTORY_STEPS` optimizer steps (warm-up is all such a run measures: seen here, 2-step
    runs said 23 images/s for a model that trains 1,500 a second)."""
    if status not in ("done", "cancelled") or finished_at is None:
        return None
    timed = [e for e in epochs if _pos(e.get("images_per_s")) and _pos(e.get("train_time_s"))]
    if not timed:
        return None
    images = sum(float(e["images_per_s"]) * float(e["train_time_s"]) for e in timed)
    seconds = sum(float(e["train_time_s"]) for e in timed)
    if images < MIN_HISTORY_STEPS * config.batch_size:
        return None
    val = _median([float(e["time_s"]) - float(e["train_time_s"]) for e in epochs
                   if _pos(e.get("time_s")) and _pos(e.get("train_time_s")) and e["time_s"] > e["train_time_s"]])
    first, last = epochs[0], epochs[-1]
    setup = (float(first["elapsed_s"]) - float(first["time_s"])
             if _pos(first.get("elapsed_s")) and _pos(first.get("time_s")) else math.nan)
    wall = finished_at - started_at if started_at is not None and finished_at >= started_at else math.nan
    tail = wall - float(last["elapsed_s"]) if _pos(last.get("elapsed_s")) and math.isfinite(wall) else math.nan
    device = str(info.get("device") or "cpu").split(":")[0]
    loads = [float(e["load"]) for e in epochs if _pos(e.get("load"))]
    return PastRun(config, device, float(finished_at), status == "done" and len(epochs) >= config.epochs,
                   wall, max(setup, 0.0) if math.isfinite(setup) else math.nan, seconds, images, val,
                   max(tail, 0.0) if math.isfinite(tail) else math.nan,
                   sum(loads) / len(loads) if loads else math.nan)


# ---------------------------------------------------------------------------------------- the estimate


@dataclass(frozen=True)
class TimeEstimate:
    """Estimated wall time of a run: a central figure, a range, its parts and where they come from."""

    seconds: float  # setup_s + epochs x (train_s_per_epoch + val_s_per_epoch) + tail_s
    low: float  # the range the run should land in
    high: float
    setup_s: float  # before the first step: data generation/decoding, model build
    train_s_per_epoch: float  # the optimizer steps of one epoch
    val_s_per_epoch: float  # one validation pass (twice the forwards with flip test-time augmentation)
    tail_s: float  # after the last epoch
    source: str  # "same" (runs of this configuration), "similar" (of this model), "calibrated"
    runs: int  # finished runs it rests on (0 when calibrated)
    detail: str  # where it comes from, in words, for the page: no internal rates

    def text(self) -> str:
        return f"{format_range(self.low, self.high)}, {self.detail}"


def format_seconds(s: float) -> str:
    """62.3 -> '1 min 2 s'; 5.2 -> '5 s'; 4000 -> '1 h 7 min'."""
    if s is None or not math.isfinite(s):
        return "unknown"
    s = max(0.0, float(s))
    if s < 60:
        return f"{s:.0f} s"
    m, sec = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m} min {sec} s"
    h, m = divmod(m, 60)
    return f"{h} h {m} min"


def _round_nice(s: float, up: bool) -> float:
    """Seconds rounded to what a person reads: whole seconds below a minute, 5 s below 5 minutes, then 30 s."""
    step = 1.0 if s < 60 else 5.0 if s < 300 else 30.0 if s < 3600 else 300.0
    f = math.ceil if up else math.floor
    return max(step if up else 0.0, f(s / step) * step)


def format_range(low: float, high: float) -> str:
    """'40 s to 55 s', '1 min 5 s to 1 min 30 s': a range, rounded, never false precision."""
    lo, hi = _round_nice(low, up=False), _round_nice(high, up=True)
    if hi <= lo:
        return f"about {format_seconds(hi)}"
    return f"{format_seconds(lo)} to {format_seconds(hi)}"


def _weights(rows: Sequence[PastRun]) -> list[tuple[PastRun, float]]:
    recent = sorted(rows, key=lambda r: r.finished_at, reverse=True)[:MAX_RUNS]
    return [(r, RECENCY ** k) for k, r in enumerate(recent)]


def _wmean(pairs: Sequence[tuple[float, float]]) -> float:
    ok = [(v, w) for v, w in pairs if math.isfinite(v)]
    if not ok:
        return math.nan
    return sum(v * w for v, w in ok) / sum(w for _, w in ok)


def _device_kind(device: str | torch.device | None) -> str:
    if device is None:
        from vizcore.core.device import pick_device

        return pick_device().type
    return torch.device(device).type


def _tta(config: TrainConfig) -> float:
    return 2.0 if config.tta_flip else 1.0  # flip test-time augmentation: two forwards per validation image


def _adv(config: TrainConfig) -> float:
    """Forward-backward passes per training image: 1, 2 with FGSM-RS training, k + 1 with PGD-k."""
    return {"none": 1.0, "fgsm_rs": 2.0}.get(config.adv_train, config.adv_steps + 1.0)


def _robust_eval_s(config: TrainConfig, per_train: float) -> float:
    """Seconds of the per-epoch PGD-10 evaluation: 11 forward-backward passes per attacked image."""
    return config.robust_eval_size * 11 * per_train


def _ago(t: float) -> str:
    return format_seconds(max(time.time() - t, 0.0)) + " ago"


def _from_same(config: TrainConfig, rows: Sequence[PastRun]) -> TimeEstimate | None:
    same = [r for r in rows if r.complete and math.isfinite(r.wall_s) and cost_key(r.config) == cost_key(config)]
    if not same:
        return None
    pairs = _weights(same)
    wall = _wmean([(r.wall_s, w) for r, w in pairs])
    setup = _wmean([(r.setup_s, w) for r, w in pairs])
    train = _wmean([(r.train_s / max(r.config.epochs, 1), w) for r, w in pairs])
    val = _wmean([(r.val_s, w) for r, w in pairs])
    tail = _wmean([(r.tail_s, w) for r, w in pairs])
    walls = [r.wall_s for r, _ in pairs]
    m = MARGIN["same"]
    n = len(pairs)
    detail = (f"from {n} finished run{'s' if n != 1 else ''} of this configuration here "
              f"(the latest {_ago(pairs[0][0].finished_at)})")
    setup, train, val, tail = (0.0 if math.isnan(x) else x for x in (setup, train, val, tail))
    return TimeEstimate(wall, min(walls) * (1 - m), max(walls) * (1 + m), setup, train, val, tail, "same", n, detail)


def _from_similar(config: TrainConfig, rows: Sequence[PastRun], calibrate: bool) -> TimeEstimate | None:
    model_rows = [r for r in rows if r.config.model == config.model and r.config.image_size == config.image_size
                  and r.config.precision == config.precision]
    same_batch = [r for r in model_rows if r.config.batch_size == config.batch_size]
    use = same_batch or model_rows
    if not use:
        return None
    pairs = _weights(use)
    per_train = _wmean([(r.train_s / r.train_images / _adv(r.config), w) for r, w in pairs])
    per_val = _wmean([(r.val_s / (r.config.val_size * _tta(r.config)), w) for r, w in pairs if r.config.val_size])
    if not math.isfinite(per_val):
        per_val = per_train / 3.0  # a forward pass costs about a third of a training step
    tail = _wmean([(r.tail_s, w) for r, w in pairs])
    data_rows = [r for r in rows if r.config.dataset == config.dataset and r.config.image_size == config.image_size]
    setup, setup_known = 0.0, False
    if data_rows:
        per_img = _wmean([(r.setup_s / max(r.config.train_size + r.config.val_size, 1), w)
                          for r, w in _weights(data_rows)])
        if math.isfinite(per_img):
            setup, setup_known = per_img * (config.train_size + config.val_size), True
    if not setup_known and calibrate:
        setup = calibration.data_setup_s(config)
    train = config.steps_per_epoch() * config.batch_size * per_train * _adv(config)
    val = config.val_size * _tta(config) * per_val + _robust_eval_s(config, per_train)
    tail = 0.0 if math.isnan(tail) else tail
    total = setup + config.epochs * (train + val) + tail
    spread = [r.train_s / r.train_images for r, _ in pairs]
    rel = max(spread) / min(spread) if min(spread) > 0 else 1.0
    m = MARGIN["similar"]
    n = len(pairs)
    detail = (f"from {n} finished run{'s' if n != 1 else ''} of {config.model} at {config.image_size} px here "
              "with other settings")
    return TimeEstimate(total, total / rel * (1 - m), total * rel * (1 + m), setup, train, val, tail, "similar",
                        n, detail)


def _calibrated(config: TrainConfig, device: str | None) -> TimeEstimate:
    from vizcore.core.device import pick_device

    dev = str(pick_device(device or config.device))
    if config.precision == "fp16" and not dev.startswith("cuda"):  # refused by preflight: nothing to measure
        raise ValueError(f"expected precision fp32 or bf16 on {dev.split(':')[0].upper()}, got fp16 (fp16 autocast "
                         "with a GradScaler needs a CUDA GPU)")
    train_ips, eval_ips = calibration.calibrate(config.model, config.image_size, config.batch_size, dev,
                                                config.precision, config.channels_last)
    setup = calibration.data_setup_s(config)
    train = config.steps_per_epoch() * config.batch_size / train_ips * _adv(config)
    val = config.val_size * _tta(config) / eval_ips + _robust_eval_s(config, 1 / train_ips)
    total = setup + config.epochs * (train + val)
    m = MARGIN["calibrated"]
    detail = (f"a rough guess from a few training steps timed just now (no run of {config.model} at "
              f"{config.image_size} px has finished here yet; the first one makes the next estimate closer)")
    return TimeEstimate(total, total * (1 - m), total * (1 + m), setup, train, val, 0.0, "calibrated", 0, detail)


def estimate_time(config: TrainConfig, history: Sequence[PastRun] = (), device: str | None = None,
                  calibrate: bool = True, load_now: float | None = None) -> TimeEstimate | None:
    """Estimated wall time of ``config`` on ``device`` (None: the device a run would use), from ``history``
    (finished runs on this machine) first, else (``calibrate``) a short calibration. None only when
    ``calibrate`` is False and no finished run of the model helps.

    ``load_now``: the machine's load per core now (:func:`vizcore.core.device.load_per_core`); on a CPU, runs
    measured under another load are scaled to it (:func:`load_factor`)."""
    kind = _device_kind(device or config.device)
    rows = [r for r in history if r.device == kind]
    est = _from_same(config, rows) or _from_similar(config, rows, calibrate)
    if est is not None and kind == "cpu" and load_now is not None:
        then = _wmean([(r.load, w) for r, w in _weights(_sources(config, rows, est.source))])
        est = _scaled(est, load_factor(load_now, then))
    if est is None and calibrate:
        est = _calibrated(config, device)
    return est


def load_factor(load_now: float, load_then: float) -> float:
    """How much slower (> 1) or faster (< 1) a CPU run goes now than the runs measured under ``load_then``.

    Loads are per core (1 = every core busy), each with the run's own threads in it: ``load_now`` is the load a
    run started now would meet (:func:`vizcore.lab.history.load_for_a_run`: the threads running now, the run's
    own added), ``load_then`` what each past run recorded at the end of its epochs
    (:func:`vizcore.core.device.load_with_me`). Above one per core,
    work shares the cores: factor = max(1, load_now) / max(1, load_then), kept within [1/3, 6]. 1 when either
    load is unknown (bench/estimates.py checks the result idle and under load)."""
    if not (math.isfinite(load_now) and math.isfinite(load_then) and load_now >= 0 and load_then > 0):
        return 1.0
    return min(max(max(1.0, load_now) / max(1.0, load_then), 1 / 3), 6.0)


def _sources(config: TrainConfig, rows: Sequence[PastRun], source: str) -> list[PastRun]:
    if source == "same":
        return [r for r in rows if r.complete and cost_key(r.config) == cost_key(config)]
    return [r for r in rows if r.config.model == config.model and r.config.image_size == config.image_size]


def _scaled(est: TimeEstimate, f: float) -> TimeEstimate:
    if abs(f - 1.0) < 0.1:
        return est
    word = "busier" if f > 1 else "quieter"
    # how far the load changes a run is itself uncertain: the range reaches from half the change to all of it
    lo, hi = (1 + (f - 1) / 2, f * 1.1) if f > 1 else (f * 0.9, 1 - (1 - f) / 2)
    return dataclasses.replace(
        est, seconds=est.seconds * f, low=est.low * lo, high=est.high * hi,
        setup_s=est.setup_s * f, train_s_per_epoch=est.train_s_per_epoch * f, val_s_per_epoch=est.val_s_per_epoch * f,
        tail_s=est.tail_s * f, detail=f"{est.detail}; × {f:.1f} for a server {word} now than then")


def _data_key(config: TrainConfig) -> tuple:
    # what vizcore.train.data.load_data keeps in memory: runs sharing it prepare their data once
    return (config.dataset, config.train_size, config.val_size, config.image_size, config.data_seed,
            config.data_root)


def estimate_plan(configs: Sequence[TrainConfig], history: Sequence[PastRun] = (),
                  device: str | None = None, load_now: float | None = None,
                  calibrate: bool = True, at_once: int = 1) -> TimeEstimate | None:
    """The estimate of a queue of runs, ``at_once`` training side by side (the executor's workers, each on its own
    cores): each run, in order, goes to the worker that frees first, and the plan ends with the last run; its range
    the same way from each run's range. A data set shared by runs that differ only in a trick or a seed is prepared
    once per worker (each worker's engine keeps it in memory). None when ``calibrate`` is False and a run has
    nothing measured to rest on."""
    if not configs:
        raise ValueError("expected at least one run to estimate, got none")
    if isinstance(at_once, bool) or not isinstance(at_once, int) or at_once < 1:
        raise ValueError(f"expected at least 1 run at once, got {at_once!r}")
    cache: dict[tuple, TimeEstimate] = {}
    ests = []
    for cfg in configs:
        k = cost_key(cfg)
        if k not in cache:
            fresh = estimate_time(cfg, history, device, calibrate, load_now)
            if fresh is None:
                return None
            cache[k] = fresh
        ests.append(cache[k])
    n = len(configs)
    slots = min(at_once, n)
    ends = {"seconds": [0.0] * slots, "low": [0.0] * slots, "high": [0.0] * slots}
    seen: list[set[tuple]] = [set() for _ in range(slots)]
    for cfg, est in zip(configs, ests):
        w = min(range(slots), key=lambda i: ends["seconds"][i])  # the worker that frees first takes the next run
        shared = est.setup_s if _data_key(cfg) in seen[w] else 0.0
        seen[w].add(_data_key(cfg))
        for field in ends:
            ends[field][w] += getattr(est, field) - shared
    worst = max(ests, key=lambda e: ("same", "similar", "calibrated").index(e.source))  # the least sure part
    order = "one after another" if slots == 1 else f"{slots} at a time"
    detail = f"{n} run{'s' if n != 1 else ''} {order}; {worst.detail}"
    return TimeEstimate(max(ends["seconds"]), max(max(ends["low"]), 0.0), max(ends["high"]),
                        sum(e.setup_s for e in ests), math.nan, math.nan, 0.0, worst.source, worst.runs, detail)
