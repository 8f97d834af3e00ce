"""Checks before a run starts: device and precision, memory, the disk its kept epochs take, and the time budget
(from :mod:`vizcore.train.timing`, with the history of finished runs passed in)."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from vizcore.models import registry as zoo
from vizcore.train.config import TrainConfig
from vizcore.train.disk import KEPT_EPOCHS_ENV_VAR, checkpoint_bytes, kept_epochs_budget_bytes, kept_epochs_bytes
from vizcore.train.memory import estimate_memory_detail
from vizcore.train.timing import PastRun, TimeEstimate, estimate_time
from vizcore.train.tricks import zero_gamma_

__all__ = ["Preflight", "preflight"]


def _secs(x: float) -> str:
    """Seconds in a message: 0.001, 2.5, 78, 3600 (three significant digits below 100, whole seconds above)."""
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


@dataclass(frozen=True)
class Preflight:
    device: str  # resolved device ("cpu", "cuda:0", ...)
    memory_bytes: int  # estimate_memory_detail(...).total_bytes
    time_estimate_s: float  # estimate.seconds
    estimate: TimeEstimate  # the time estimate (range, parts, source)
    notes: tuple[str, ...]  # things the user should know (e.g. "zero_gamma: no residual blocks in small_cnn")


def preflight(config: TrainConfig, num_classes: int = 10, history: Sequence[PastRun] = ()) -> Preflight:
    """Checks before a run starts: device, precision on it, input size, memory and time budgets. ``history``:
    the runs that finished on this machine (the time estimate rests on them; without, a short calibration).

    Raises ValueError with a sentence saying what to change.
    """
    from vizcore.core.device import pick_device

    dev = pick_device(config.device)
    if config.precision == "fp16" and dev.type != "cuda":
        raise ValueError(f"expected precision fp32 or bf16 on {dev.type.upper()}, got fp16 "
                         "(fp16 autocast with a GradScaler needs a CUDA GPU)")
    # a label budget's step sees B labelled + μ·B unlabelled images (FixMatch: and their weak views, without grad)
    sized = (dataclasses.replace(config, batch_size=config.batch_size * (1 + config.ssl_mu), ssl="none",
                                 ssl_ema_teacher=False, labelled_per_class=None)
             if config.labelled_per_class is not None or config.ssl != "none" else config)
    mem = estimate_memory_detail(sized, num_classes)
    budget = config.memory_budget_mb * 2**20
    if mem.total_bytes > budget:
        raise ValueError(
            f"expected training memory within the budget of {config.memory_budget_mb} MB, got an estimate of "
            f"{mem.total_bytes / 2**20:.0f} MB (activations {mem.activation_bytes / 2**20:.0f} MB for batch "
            f"{sized.batch_size} at {config.image_size}x{config.image_size}); lower batch_size or image_size")
    if config.keep_epochs:
        kept, budget_kept = kept_epochs_bytes(config, num_classes), kept_epochs_budget_bytes()
        if kept > budget_kept:
            one = checkpoint_bytes(config, num_classes)
            raise ValueError(
                f"expected the kept epoch weights within the disk budget of {budget_kept / 2**20:.0f} MB, got "
                f"{min(config.keep_epochs, config.epochs)} epochs × {one / 2**20:.1f} MB = {kept / 2**20:.0f} MB "
                f"for {config.model}; keep at most {max(budget_kept // one, 0)} epochs ({KEPT_EPOCHS_ENV_VAR} "
                "sets the budget)")
    est = estimate_time(config, history, str(dev))
    assert est is not None
    t = est.seconds
    if est.low > config.time_budget_s:  # refused only when even the fast end of the range does not fit
        raise ValueError(
            f"expected a run that fits the time budget of {_secs(config.time_budget_s)} s, got an estimate of "
            f"{_secs(est.low)} to {_secs(est.high)} s on {dev.type.upper()} ({est.detail}); lower epochs, "
            "train_size or image_size, or raise time_budget_s")
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
    return Preflight(str(dev), mem.total_bytes, t, est, tuple(notes))
