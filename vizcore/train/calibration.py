"""A short measurement of this machine, for a model no run of which has finished here yet.

A warm-up optimizer step, then 3 to 5 timed steps on random images at the run's batch size (capped so one step
stays short on a large model); the fastest step counts, so a step stalled by other work on a shared machine
does not set the rate. Also the time to generate or decode a few images of the data set. Used by
:mod:`vizcore.train.timing` only when no finished run helps; cached a few minutes per setting.
"""
from __future__ import annotations

import contextlib
import functools
import math
import threading
import time

import torch

from vizcore.arch.summary import forward_flops
from vizcore.models import registry as zoo
from vizcore.train.config import TrainConfig

__all__ = ["CALIBRATION_TTL_S", "calibrate", "data_setup_s"]

CALIBRATION_S = 0.25  # timed optimizer steps (3 to 5, after one warm-up step) stop after about this long
_CALIBRATION_FLOP_BUDGET = 4e9  # forward+backward FLOPs of one calibration step (caps its batch)
CALIBRATION_CLASSES = 10  # the head's size barely matters
CALIBRATION_TTL_S = 300.0  # a calibration is reused this long, then measured again

_CALIBRATIONS: dict[tuple, tuple[float, tuple[float, float]]] = {}
_CALIBRATIONS_LOCK = threading.Lock()


def calibrate(model_name: str, image_size: int, batch_size: int, device: str, precision: str,
               channels_last: bool = False) -> tuple[float, float]:
    """:func:`_measure_rates`, cached for :data:`CALIBRATION_TTL_S` seconds per setting."""
    key = (model_name, image_size, batch_size, device, precision, channels_last)
    now = time.monotonic()
    with _CALIBRATIONS_LOCK:
        hit = _CALIBRATIONS.get(key)
        if hit is not None and now - hit[0] < CALIBRATION_TTL_S:
            return hit[1]
    out = _measure_rates(*key)
    with _CALIBRATIONS_LOCK:
        _CALIBRATIONS[key] = (time.monotonic(), out)
    return out


def _measure_rates(model_name: str, image_size: int, batch_size: int, device: str, precision: str,
                   channels_last: bool = False) -> tuple[float, float]:
    """(train images/s, eval images/s) from a few optimizer steps on random images, at the run's batch size
    (capped so one step stays short on a large model). Each step is timed on its own and the fastest counts: on
    a shared server another session's work can stall one step for a second."""
    num_classes = CALIBRATION_CLASSES
    entry = zoo.get_entry(model_name)
    dev = torch.device(device)
    flops = forward_flops(model_name, image_size, num_classes)
    # at least 2 images: BatchNorm cannot train on one value per channel (a 1x1 map of one image)
    b = int(max(2, min(batch_size, _CALIBRATION_FLOP_BUDGET // max(3 * flops, 1))))
    model = zoo.build_model(model_name, num_classes=num_classes).to(dev).train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(b, entry.input_size[0], image_size, image_size, generator=gen).to(dev).to(memory_format=fmt)
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
    return train, ev


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


def data_setup_s(config: TrainConfig) -> float:
    fixed, per = _data_cost(config.dataset, config.image_size)
    return 0.0 if math.isnan(per) else fixed + per * (config.train_size + config.val_size)
