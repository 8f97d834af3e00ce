"""Checks before a run starts: memory estimated from a shape-only forward pass, time from throughput measured on
this machine, device and precision, and the disk the kept epoch weights (``keep_epochs``) take."""
from __future__ import annotations

import contextlib
import functools
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from vizcore.models import registry as zoo
from vizcore.train.config import TrainConfig
from vizcore.train.tricks import zero_gamma_

# ---------------------------------------------------------------------------------------- budgets


def _activation_numel(model: nn.Module, x: torch.Tensor) -> int:
    """Sum of the output sizes of every leaf module for input ``x`` (what autograd keeps for backward)."""
    total = 0

    def hook(_m: nn.Module, _i: Any, out: Any) -> None:
        nonlocal total
        if isinstance(out, torch.Tensor):
            total += out.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return total


@dataclass(frozen=True)
class MemoryEstimate:
    params: int  # parameter count
    param_bytes: int  # weights + gradients + optimizer state
    activation_bytes: int  # activations kept for backward, whole batch
    data_bytes: int  # the data set kept as uint8 on the device
    total_bytes: int  # sum of the above


def estimate_memory_detail(config: TrainConfig, num_classes: int = 10, channels: int | None = None) -> MemoryEstimate:
    """Training memory estimate from a shape-only ("meta" device) forward pass: no real compute.

    activations ≈ batch · Σ(leaf-module output sizes) · bytes per element (2 with bf16/fp16 autocast, else 4);
    parameters · 4 bytes · (1 weight + 1 grad + 1 momentum, or 2 moments for AdamW);
    data = (train + val) · C · H · W bytes (uint8). Raises ValueError when the model cannot take the input size.
    """
    entry = zoo.get_entry(config.model)
    c = entry.input_size[0]
    with torch.device("meta"):
        model = entry.builder(num_classes=num_classes).eval()  # eval: BN accepts a batch of one
        x = torch.empty(1, c, config.image_size, config.image_size)
    try:
        per_image = _activation_numel(model, x)
    except RuntimeError as exc:
        raise ValueError(f"expected an image size {config.model} can take, got {config.image_size}x"
                         f"{config.image_size} ({' '.join(str(exc).split())[:160]})") from None
    n_params = sum(p.numel() for p in model.parameters())
    act_elem = 2 if config.precision in ("bf16", "fp16") else 4
    states = 2 if config.optimizer == "adamw" else 1
    param_bytes = n_params * 4 * (2 + states)
    act = config.batch_size * per_image * act_elem
    data_c = channels if channels is not None else c
    data = (config.train_size + config.val_size) * data_c * config.image_size ** 2
    return MemoryEstimate(n_params, param_bytes, act, data, param_bytes + act + data)


# Disk budget for the weights a run keeps per epoch (``keep_epochs``): a server shared by a class must not let
# one run fill its disk with 200 copies of a large model. Set CONVSCOPE_KEPT_EPOCHS_BUDGET_MB to change it.
KEPT_EPOCHS_ENV_VAR = "CONVSCOPE_KEPT_EPOCHS_BUDGET_MB"
KEPT_EPOCHS_BUDGET_MB = 1024
_SIDECAR_BYTES = 8 << 10  # the JSON metadata beside each checkpoint (config, classes): a few KB


def kept_epochs_budget_bytes() -> int:
    """The kept-epochs disk budget in bytes: ``CONVSCOPE_KEPT_EPOCHS_BUDGET_MB`` or 1,024 MB; ValueError when
    the variable is not a whole number of megabytes in [1, 1048576]."""
    raw = os.environ.get(KEPT_EPOCHS_ENV_VAR, "").strip()
    if not raw:
        return KEPT_EPOCHS_BUDGET_MB << 20
    try:
        mb = int(raw)
    except ValueError:
        raise ValueError(f"expected {KEPT_EPOCHS_ENV_VAR} to be a whole number of megabytes, got {raw!r}") from None
    if not 1 <= mb <= 1 << 20:
        raise ValueError(f"expected {KEPT_EPOCHS_ENV_VAR} between 1 and 1048576, got {mb}")
    return mb << 20


@functools.lru_cache(maxsize=256)
def _state_dict_bytes(model_name: str, num_classes: int) -> int:
    entry = zoo.get_entry(model_name)
    with torch.device("meta"):
        model = entry.builder(num_classes=num_classes)
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def checkpoint_bytes(config: TrainConfig, num_classes: int = 10) -> int:
    """Size of one checkpoint of ``config``'s model on disk: its state_dict (weights and buffers, counted on the
    meta device) plus the JSON sidecar."""
    return _state_dict_bytes(config.model, num_classes) + _SIDECAR_BYTES


def kept_epochs_bytes(config: TrainConfig, num_classes: int = 10) -> int:
    """Disk taken by the epoch weights a run keeps: min(keep_epochs, epochs) checkpoints (0 when off)."""
    return min(config.keep_epochs, config.epochs) * checkpoint_bytes(config, num_classes)


def estimate_flops(config: TrainConfig, num_classes: int = 10) -> int:
    """FLOPs of one forward pass of one image (``torch.utils.flop_counter``, counted on the meta device).

    Used only to size the calibration batch (so calibrating a large model stays short); time estimates come
    from throughput measured on this machine (:func:`estimate_time`).
    """
    return _forward_flops(config.model, config.image_size, num_classes)


@functools.lru_cache(maxsize=256)
def _forward_flops(model_name: str, image_size: int, num_classes: int) -> int:
    # depends only on architecture and input size: cached, since previews ask for it once per planned run
    from torch.utils.flop_counter import FlopCounterMode

    entry = zoo.get_entry(model_name)
    with torch.device("meta"):
        model = entry.builder(num_classes=num_classes).eval()
        x = torch.empty(1, entry.input_size[0], image_size, image_size)
    counter = FlopCounterMode(display=False)
    try:
        with counter, torch.no_grad():
            model(x)
    except RuntimeError as exc:
        raise ValueError(f"expected an image size {model_name} can take, got {image_size}x"
                         f"{image_size} ({' '.join(str(exc).split())[:160]})") from None
    return int(counter.get_total_flops())


# ---------------------------------------------------------------------------------------- time estimates
#
# A run's wall time = setup (data generation or decoding, model build) + epochs x (training images / training
# throughput + validation images / evaluation throughput). Every rate is measured on this machine: first from
# the run store (each finished epoch records images/s, its training and total time, and the first epoch the
# setup before it), else from a short calibration (a few optimizer steps of the model at the image size on the
# device, and a few images of the data set generated). No device FLOP/s figure is guessed anywhere.

MIN_HISTORY_STEPS = 10  # a finished run whose epochs trained fewer optimizer steps says little about throughput
HISTORY_TTL_S = 10.0  # the store is re-read at most this often per (model, size, device)
CALIBRATION_S = 0.25  # timed optimizer steps (3 to 5, after one warm-up step) stop after about this long
_CALIBRATION_FLOP_BUDGET = 1e9  # forward+backward FLOPs of one calibration step (sizes its batch)


@dataclass(frozen=True)
class Rates:
    """Throughput of one model at one image size on one device, and where the numbers come from."""

    train_images_per_s: float  # training images per second (forward, backward, optimizer step, augmentation)
    eval_images_per_s: float  # validation images per second (forward only)
    source: str  # "measured" (finished runs in the store) or "calibrated" (a few steps just now)
    detail: str  # in words, e.g. "3 finished runs of small_cnn at 32 px on CPU"


@dataclass(frozen=True)
class TimeEstimate:
    """Estimated wall time of a run, with its parts and their source."""

    seconds: float  # setup_s + epochs * (train_s + val_s) per epoch
    setup_s: float  # before the first step: data generation/decoding, model build
    train_s_per_epoch: float  # training images of one epoch / training throughput
    val_s_per_epoch: float  # validation images / evaluation throughput
    rates: Rates  # the throughput used
    setup_source: str  # where the setup time comes from, in words

    def text(self) -> str:
        return f"{self.rates.detail}; data preparation: {self.setup_source}"


def _device_kind(device: str | torch.device | None) -> str:
    if device is None:
        from vizcore.core.device import pick_device

        return pick_device().type
    return torch.device(device).type


HistoryProvider = Callable[[Any], list[dict[str, Any]]]  # store path (None: the default store) -> history rows
_HISTORY_PROVIDER: HistoryProvider | None = None
_HISTORY: dict[str, tuple[float, list[dict[str, Any]]]] = {}
_HISTORY_LOCK = threading.Lock()


def set_history_provider(provider: HistoryProvider | None) -> None:
    """Where finished runs come from: the lab layer (which owns the run store) registers a function returning
    :func:`history_row` rows (:mod:`vizcore.lab.monitor` does on import). Without one, estimates calibrate."""
    global _HISTORY_PROVIDER
    with _HISTORY_LOCK:
        _HISTORY_PROVIDER = provider
        _HISTORY.clear()


def history(store_path: Any = None) -> list[dict[str, Any]]:
    """Rows of :func:`history_row`, one per finished run of the store at ``store_path`` (None: the default
    store), from the registered provider; re-read at most every :data:`HISTORY_TTL_S` seconds."""
    provider = _HISTORY_PROVIDER
    if provider is None:
        return []
    if store_path is None:
        from vizcore.core import paths

        store_path = paths.data_dir() / "runs.sqlite"
    key = str(store_path)
    now = time.monotonic()
    with _HISTORY_LOCK:
        hit = _HISTORY.get(key)
        if hit is not None and now - hit[0] < HISTORY_TTL_S:
            return hit[1]
    rows = provider(store_path)
    with _HISTORY_LOCK:
        _HISTORY[key] = (now, rows)
    return rows


def history_row(config: TrainConfig, status: str, info: dict[str, Any], epochs: list[dict[str, Any]]
                ) -> dict[str, Any] | None:
    """What one finished run measured, from its config, status, info and the engine's epoch events (None when
    it has no epoch timings, or timed fewer than :data:`MIN_HISTORY_STEPS` optimizer steps: a run of a few steps
    measures warm-up — seen here, 2-step runs said 23 images/s for a model that trains 1,500 a second, and the
    budget then refused a 2-minute run as 19 minutes).

    Keys: model, dataset, image_size, device (kind), precision, batch_size, train_ips (images/s pooled over its
    epochs: train_images / train_seconds, so a one-step epoch dominated by warm-up weighs what it trained),
    eval_ips (validation images / validation seconds), setup_per_image (seconds before the first step / images
    loaded).
    """
    if status not in ("done", "cancelled"):
        return None
    timed = [e for e in epochs if _pos(e.get("images_per_s")) and _pos(e.get("train_time_s"))]
    if not timed:
        return None
    images = sum(float(e["images_per_s"]) * float(e["train_time_s"]) for e in timed)
    seconds = sum(float(e["train_time_s"]) for e in timed)
    if images < MIN_HISTORY_STEPS * config.batch_size:  # warm-up (first calls, allocations) is all it measured
        return None
    val = [float(e["time_s"]) - float(e["train_time_s"]) for e in epochs
           if _pos(e.get("time_s")) and _pos(e.get("train_time_s")) and e["time_s"] > e["train_time_s"]]
    first = epochs[0]
    setup = (float(first["elapsed_s"]) - float(first["time_s"])
             if _pos(first.get("elapsed_s")) and _pos(first.get("time_s")) else math.nan)
    device = str(info.get("device") or "cpu").split(":")[0]
    return {"model": config.model, "dataset": config.dataset, "image_size": config.image_size, "device": device,
            "precision": config.precision, "batch_size": config.batch_size, "train_ips": images / seconds,
            "train_images": images, "train_seconds": seconds,
            "eval_ips": config.val_size / _median(val) if val else math.nan,
            "setup_per_image": setup / max(config.train_size + config.val_size, 1) if setup >= 0 else math.nan}


def _pos(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def _median(xs: list[float]) -> float:
    ys = sorted(x for x in xs if math.isfinite(x))
    if not ys:
        return math.nan
    m = len(ys) // 2
    return ys[m] if len(ys) % 2 else (ys[m - 1] + ys[m]) / 2


def measured_rates(config: TrainConfig, device: str | None = None, store_path=None) -> Rates | None:
    """Rates of ``config.model`` at ``config.image_size`` on the device kind from finished runs in the store
    (same precision; the same batch size preferred when there are such runs), or None when there are none."""
    kind = _device_kind(device)
    rows = [r for r in history(store_path) if r["model"] == config.model and r["image_size"] == config.image_size
            and r["device"] == kind and r["precision"] == config.precision]
    same_batch = [r for r in rows if r["batch_size"] == config.batch_size]
    rows = same_batch or rows
    if not rows:
        return None
    train = sum(r["train_images"] for r in rows) / sum(r["train_seconds"] for r in rows)  # pooled over runs
    ev = _median([r["eval_ips"] for r in rows])
    if not math.isfinite(ev):
        ev = 3.0 * train  # no validation timing stored: a forward pass costs about a third of a training step
    n = len(rows)
    return Rates(train, ev, "measured", f"measured: {train:,.0f} training images/s from {n} finished run"
                 f"{'s' if n != 1 else ''} of {config.model} at {config.image_size} px on {kind.upper()}")


CALIBRATION_CLASSES = 10  # the head's size barely matters; one key per (model, size, batch, device, precision)


CALIBRATION_TTL_S = 300.0  # a calibration is reused this long (the check when a run is queued and the one when
# it starts see the same numbers), then measured again: one taken while the machine was busy does not stick
_CALIBRATIONS: dict[tuple, tuple[float, tuple[float, float, int, int]]] = {}
_CALIBRATIONS_LOCK = threading.Lock()


def _calibrate(model_name: str, image_size: int, batch_size: int, device: str,
               precision: str) -> tuple[float, float, int, int]:
    """:func:`_measure_rates`, cached for :data:`CALIBRATION_TTL_S` seconds per (model, size, batch, device,
    precision)."""
    key = (model_name, image_size, batch_size, device, precision)
    now = time.monotonic()
    with _CALIBRATIONS_LOCK:
        hit = _CALIBRATIONS.get(key)
        if hit is not None and now - hit[0] < CALIBRATION_TTL_S:
            return hit[1]
    out = _measure_rates(*key)
    with _CALIBRATIONS_LOCK:
        _CALIBRATIONS[key] = (time.monotonic(), out)
    return out


def _measure_rates(model_name: str, image_size: int, batch_size: int, device: str,
                   precision: str) -> tuple[float, float, int, int]:
    """(train images/s, eval images/s, batch used, steps timed) from a few optimizer steps on random images.

    Each step is timed on its own and the fastest one counts: on a shared server another session's work (a
    training run in the lab's worker, another page) can stall one step for a second — seen here as a calibration
    of 24 images/s for a model that trains 670 a second, which then refused every run."""
    num_classes = CALIBRATION_CLASSES
    entry = zoo.get_entry(model_name)
    dev = torch.device(device)
    flops = _forward_flops(model_name, image_size, num_classes)
    # at least 2 images: BatchNorm cannot train on one value per channel (a 1x1 map of one image)
    b = int(max(2, min(batch_size, 32, _CALIBRATION_FLOP_BUDGET // max(3 * flops, 1))))
    model = zoo.build_model(model_name, num_classes=num_classes).to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(b, entry.input_size[0], image_size, image_size, generator=gen).to(dev)
    y = torch.randint(0, num_classes, (b,), generator=gen).to(dev)
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)

    def autocast():
        return torch.autocast(dev.type, dtype=amp) if amp is not None else contextlib.nullcontext()

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def step() -> None:
        with autocast():
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    try:
        step()  # warm-up: allocations, kernel selection
        sync()
        start = time.perf_counter()
        times: list[float] = []
        while len(times) < 3 or (len(times) < 5 and time.perf_counter() - start < CALIBRATION_S):
            t0 = time.perf_counter()
            step()
            sync()
            times.append(time.perf_counter() - t0)
        n = len(times)
        train = b / max(min(times), 1e-9)
        model.eval()
        with torch.no_grad(), autocast():
            model(x)
            sync()
            ev_times: list[float] = []
            for _ in range(2):
                t0 = time.perf_counter()
                model(x)
                sync()
                ev_times.append(time.perf_counter() - t0)
            ev = b / max(min(ev_times), 1e-9)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"expected an image size {model_name} can take, got {image_size}x{image_size} "
                         f"({' '.join(str(exc).split())[:160]})") from None
    return train, ev, b, n


def calibrated_rates(config: TrainConfig, device: str | None = None) -> Rates:
    """Rates from a short calibration: a warm-up step, then optimizer steps on random images for about
    :data:`CALIBRATION_S` (3 to 5 steps, the fastest counts), at the run's image size, precision and device;
    reused for :data:`CALIBRATION_TTL_S` seconds.

    The calibration batch is capped (at 32, and smaller for large models so it stays short); small batches
    use a CPU less well, so this leans towards overestimating the time.
    """
    from vizcore.core.device import pick_device

    dev = str(pick_device(device or config.device))
    train, ev, b, n = _calibrate(config.model, config.image_size, config.batch_size, dev, config.precision)
    kind = torch.device(dev).type
    return Rates(train, ev, "calibrated", f"calibrated: {train:,.0f} training images/s over {n} step"
                 f"{'s' if n != 1 else ''} of {b} images of {config.model} at {config.image_size} px on "
                 f"{kind.upper()} (no finished run of it here yet)")


@functools.lru_cache(maxsize=32)
def _data_cost(dataset: str, image_size: int) -> tuple[float, float]:
    """(fixed seconds, seconds per image) to generate (shapes) or decode (digits) a data set, from two small
    loads after a warm-up one (imports, file reads); (NaN, NaN) for data read from files at run time."""
    from vizcore.data import datasets as vdata

    info = vdata.DATASETS.get(dataset)
    if info is None or not info.offline or dataset == "folder":
        return math.nan, math.nan

    def timed(n: int, seed: int) -> float:
        t0 = time.perf_counter()
        vdata.load_dataset(dataset, split="test", n=n, size=image_size, seed=seed)
        return time.perf_counter() - t0

    try:
        timed(1, 987_653)
        small, large = timed(8, 987_654), timed(40, 987_655)
    except ValueError:  # a size the data set cannot make: the run itself will say so
        return math.nan, math.nan
    per = max(large - small, 0.0) / 32
    return max(small - 8 * per, 0.0), per


def _setup(config: TrainConfig, store_path=None, calibrate: bool = True) -> tuple[float, str]:
    n_images = config.train_size + config.val_size
    rows = [r for r in history(store_path) if r["dataset"] == config.dataset and r["image_size"] == config.image_size
            and math.isfinite(r["setup_per_image"])]
    if rows:
        per = _median([r["setup_per_image"] for r in rows])
        return per * n_images, f"measured from {len(rows)} finished run{'s' if len(rows) != 1 else ''} on this data set"
    if not calibrate:
        return 0.0, "not counted yet (no finished run on this data set)"
    fixed, per = _data_cost(config.dataset, config.image_size)
    if math.isnan(per):
        return 0.0, "not counted (files are read when the run starts)"
    return fixed + per * n_images, "calibrated on a few images"


def estimate_time(config: TrainConfig, device: str | None = None, num_classes: int = 10, calibrate: bool = True,
                  store_path=None) -> TimeEstimate | None:
    """Estimated wall time of ``config`` on ``device`` (None: the device a run would use) from throughput
    measured on this machine: finished runs in the store, else (``calibrate``) a short calibration.
    ``num_classes`` does not change the rates (a head's size barely matters); kept for callers' symmetry.

    Returns None only when ``calibrate`` is False and the store has no run to measure from.
    """
    dev = device or config.device
    rates = measured_rates(config, dev, store_path)
    if rates is None:
        if not calibrate:
            return None
        rates = calibrated_rates(config, dev)
    setup, setup_source = _setup(config, store_path, calibrate)
    train = config.steps_per_epoch() * config.batch_size / rates.train_images_per_s
    val = config.val_size / rates.eval_images_per_s
    return TimeEstimate(setup + config.epochs * (train + val), setup, train, val, rates, setup_source)


def estimate_time_s(config: TrainConfig, device: str | None = None, num_classes: int = 10) -> float:
    """Estimated wall-clock seconds of a run (see :func:`estimate_time`)."""
    est = estimate_time(config, device, num_classes)
    assert est is not None
    return est.seconds


def _data_key(config: TrainConfig) -> tuple:
    # what vizcore.train.data.load_data keeps in memory: runs sharing it prepare their data once
    return (config.dataset, config.train_size, config.val_size, config.image_size, config.seed, config.data_root)


def estimate_plan_s(configs: list[TrainConfig], device: str | None = None, num_classes: int = 10,
                    store_path=None) -> float:
    """Estimated seconds of a queue of runs, one after another: data shared by runs that differ only in a
    trick is prepared once (the engine keeps it in memory), so setup counts once per distinct data set."""
    total, seen = 0.0, set()
    cache: dict[tuple, TimeEstimate] = {}
    for cfg in configs:
        k = (cfg.model, cfg.image_size, cfg.batch_size, cfg.precision, cfg.epochs, cfg.train_size, cfg.val_size,
             cfg.dataset)
        est = cache.get(k)
        if est is None:
            fresh = estimate_time(cfg, device, num_classes, store_path=store_path)
            assert fresh is not None  # calibrate=True always gives an estimate
            est = cache[k] = fresh
        total += est.seconds - (est.setup_s if _data_key(cfg) in seen else 0.0)
        seen.add(_data_key(cfg))
    return total


def _secs(x: float) -> str:
    """Seconds in a message: 0.001, 2.5, 78, 3600 (three significant digits below 100, whole seconds above)."""
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


@dataclass(frozen=True)
class Preflight:
    device: str  # resolved device ("cpu", "cuda:0", ...)
    memory_bytes: int  # estimate_memory_detail(...).total_bytes
    time_estimate_s: float  # estimate_time(...).seconds: from measured throughput, never a guessed FLOP/s
    notes: tuple[str, ...]  # things the user should know (e.g. "zero_gamma: no residual blocks in small_cnn")


def preflight(config: TrainConfig, num_classes: int = 10) -> Preflight:
    """Checks before a run starts: device, precision on it, input size, memory and time budgets.

    Raises ValueError with a sentence saying what to change.
    """
    from vizcore.core.device import pick_device

    dev = pick_device(config.device)
    if config.precision == "fp16" and dev.type != "cuda":
        raise ValueError(f"expected precision fp32 or bf16 on {dev.type.upper()}, got fp16 "
                         "(fp16 autocast with a GradScaler needs a CUDA GPU)")
    mem = estimate_memory_detail(config, num_classes)
    budget = config.memory_budget_mb * 2**20
    if mem.total_bytes > budget:
        raise ValueError(
            f"expected training memory within the budget of {config.memory_budget_mb} MB, got an estimate of "
            f"{mem.total_bytes / 2**20:.0f} MB (activations {mem.activation_bytes / 2**20:.0f} MB for batch "
            f"{config.batch_size} at {config.image_size}x{config.image_size}); lower batch_size or image_size")
    if config.keep_epochs:
        kept, budget_kept = kept_epochs_bytes(config, num_classes), kept_epochs_budget_bytes()
        if kept > budget_kept:
            one = checkpoint_bytes(config, num_classes)
            raise ValueError(
                f"expected the kept epoch weights within the disk budget of {budget_kept / 2**20:.0f} MB, got "
                f"{min(config.keep_epochs, config.epochs)} epochs × {one / 2**20:.1f} MB = {kept / 2**20:.0f} MB "
                f"for {config.model}; keep at most {max(budget_kept // one, 0)} epochs ({KEPT_EPOCHS_ENV_VAR} "
                "sets the budget)")
    est = estimate_time(config, str(dev), num_classes)
    assert est is not None
    t = est.seconds
    if t > config.time_budget_s:
        raise ValueError(
            f"expected a run that fits the time budget of {_secs(config.time_budget_s)} s, got an estimate of "
            f"{_secs(t)} s on {dev.type.upper()} ({est.rates.detail}); lower epochs, train_size or image_size, "
            "or raise time_budget_s")
    notes = []
    if config.precision != "fp32" and dev.type == "cpu":
        notes.append("on CPU, bf16 autocast is usually slower than fp32 for small convolutions (about 20x on a "
                     "2-core CPU without bf16 instructions, bench/trainer_overhead.py)")
    if config.whiten_stem and config.transfer != "none":
        notes.append("whiten_stem is an initialisation: ignored when transferring learned weights")
    if config.zero_gamma and config.transfer != "none":
        notes.append("zero_gamma is an initialisation: ignored when transferring learned weights")
    elif config.zero_gamma:
        probe = zoo.build_model(config.model, num_classes=num_classes) if mem.params < 5_000_000 else None
        if probe is not None and not zero_gamma_(probe):
            notes.append(f"zero_gamma has no effect: {config.model} has no residual blocks")
    return Preflight(str(dev), mem.total_bytes, t, tuple(notes))
