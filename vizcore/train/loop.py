"""The training loop in three parts — setup, one optimizer step, end of epoch — and the callback seam.

Karpathy's minGPT trainer keeps the loop small and lets extensions hook in through ``trigger_callbacks``; this
loop does the same with :class:`Callback` objects: a callback sees the live :class:`TrainState` after setup,
after every step and at the end of every epoch, so adversarial training, pseudo-labelling or per-epoch
checkpoints plug in without editing the loop. Everything a step needs lives on the device (uint8 images,
labels, normalisation constants); the only host syncs are one per ``log_every`` steps and one per epoch.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from vizcore.data.augment import AugmentConfig, mix_batch
from vizcore.data.pipeline import Pipeline
from vizcore.models.preprocess import Preprocess
from vizcore.train.ema import WeightEMA
from vizcore.train.tricks import kd_loss

if TYPE_CHECKING:
    from vizcore.train.config import TrainConfig

Event = dict[str, Any]


@dataclass
class TrainState:
    """Everything the loop carries between steps. Callbacks may read it and change the model or optimizer."""

    config: TrainConfig
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    criterion: nn.Module
    device: torch.device
    x_train: torch.Tensor  # (N, C, H, W) uint8 on the device
    y_train: torch.Tensor  # (N,) int64 on the device
    x_val: torch.Tensor
    y_val: torch.Tensor
    num_classes: int
    steps_per_epoch: int
    student: Preprocess  # the model's own input format
    aug: AugmentConfig
    gen: torch.Generator  # data order (on the device)
    aug_gen: torch.Generator  # augmentation and mixing draws (CPU)
    pipeline: Pipeline | None = None  # per-image augmentation (the preset as a pipeline, or the config's own)
    head: str | None = None  # classifier module path (transfer runs)
    frozen: bool = False  # linear probe: only the head trains
    teacher: nn.Module | None = None
    teacher_pre: Preprocess | None = None
    scaler: torch.amp.GradScaler | None = None
    amp_dtype: torch.dtype | None = None
    channels_last: bool = False
    ssl: Any = None  # vizcore.train.ssl.SSLState: a label budget's pool and method, or None
    ema: WeightEMA | None = None  # the weight average (config.ema_decay > 0), updated after every step
    epoch: int = 0  # the epoch in progress (from 1)
    step: int = 0  # optimizer steps done
    t_start: float = field(default_factory=time.perf_counter)

    def autocast(self) -> AbstractContextManager[Any]:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def to_input(self, x01: torch.Tensor, pre: Preprocess | None = None) -> torch.Tensor:
        """Pixels in [0, 1] -> normalised input for the student (or ``pre``'s model), in the run's layout."""
        x = (pre or self.student).normalize(x01)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    @property
    def eval_model(self) -> nn.Module:
        """The model validated and saved: the weight average when there is one, else the trained model."""
        return self.model if self.ema is None else self.ema.module

    def prepare(self, xb: torch.Tensor) -> torch.Tensor:
        """uint8 batch -> the student's normalised input."""
        return self.to_input(xb.float().div_(255.0))


class Callback:
    """Hooks into a run; override what you need. Called from the worker thread; never call Streamlit here."""

    def on_setup(self, state: TrainState) -> None:
        """After the model, optimizer and data are ready, before the first step."""

    def on_step_end(self, state: TrainState, loss: torch.Tensor) -> None:
        """After each optimizer step; ``loss`` is the step's loss tensor (reading it syncs the device)."""

    def on_epoch_end(self, state: TrainState, event: Event) -> None:
        """After validation of each completed epoch; ``event`` is the epoch event (metrics)."""

    def on_end(self, state: TrainState | None, status: str) -> None:
        """Once, when the run ends for any reason (``state`` is None when setup failed)."""


@dataclass
class EpochMeter:
    """Per-epoch sums kept on the device (no sync per step)."""

    device: torch.device
    loss_sum: torch.Tensor = field(init=False)
    correct: torch.Tensor = field(init=False)
    seen: int = 0

    def __post_init__(self) -> None:
        self.loss_sum = torch.zeros((), device=self.device)
        self.correct = torch.zeros((), device=self.device, dtype=torch.long)

    def add(self, loss: torch.Tensor, out: torch.Tensor, y: torch.Tensor) -> None:
        self.loss_sum += loss.detach() * len(y)
        self.correct += (out.detach().argmax(1) == y).sum()
        self.seen += len(y)


def train_step(state: TrainState, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One optimizer step on the images at ``idx``: augment, mix, forward, loss, backward, step, schedule.

    Returns (loss, logits, unmixed labels), all still on the device. The LR used is left in
    ``state.optimizer.param_groups[0]["lr"]`` *before* the scheduler moves it, as ``lr_used`` in the event.
    """
    cfg = state.config
    xb, yb = state.x_train[idx], state.y_train[idx]
    if state.pipeline is not None and state.pipeline.steps:
        xb, _ = state.pipeline.run(xb, state.aug_gen)
    x01 = xb.float().div_(255.0)
    target: torch.Tensor = yb
    if state.aug.mixes:  # mixed in [0, 1] pixel space, before normalisation
        x01, target, _ = mix_batch(x01, yb, state.num_classes, state.aug, state.aug_gen)
    if cfg.adv_train != "none":  # the batch's worst case in the ε ball replaces it (Madry et al. 2018)
        from vizcore.train.adversarial import adv_eps_at, adversarial_batch

        x01 = adversarial_batch(state.model, state.to_input, x01, yb, cfg.adv_train,
                                adv_eps_at(cfg.adv_eps, cfg.adv_warmup_epochs, state.step, state.steps_per_epoch),
                                cfg.adv_steps, state.aug_gen)
    with state.autocast():
        out = state.model(state.to_input(x01))
        if state.teacher is not None:
            with torch.no_grad():
                t_out = state.teacher(state.to_input(x01, state.teacher_pre))
            loss = kd_loss(out.float(), t_out.float(), target, cfg.distill_T, cfg.distill_alpha, cfg.label_smoothing)
        else:
            loss = state.criterion(out.float(), target)
    state.optimizer.zero_grad(set_to_none=True)
    if state.scaler is not None:
        state.scaler.scale(loss).backward()
        state.scaler.step(state.optimizer)
        state.scaler.update()
    else:
        loss.backward()
        state.optimizer.step()
    state.step += 1
    return loss, out, yb


def set_train_mode(state: TrainState) -> None:
    """model.train(), except a linear probe keeps the backbone's BN statistics (eval) too."""
    state.model.train()
    if state.frozen and state.head is not None:
        for name, mod in state.model.named_modules():
            if name and not (name == state.head or name.startswith(state.head + ".")):
                mod.eval()


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, prepare: Callable[[torch.Tensor], torch.Tensor],
             autocast: Callable[[], AbstractContextManager[Any]] = nullcontext,
             criterion_batch: int = 512, tta_flip: bool = False) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on uint8 images ``x`` (N, C, H, W) with labels ``y`` (N,).

    ``tta_flip``: the logits are the mean of the logits of each image and of its horizontal mirror (flip
    test-time augmentation, as in airbench); loss and accuracy are those of the averaged logits.
    """
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    for i in range(0, len(y), criterion_batch):
        xb, yb = x[i:i + criterion_batch], y[i:i + criterion_batch]
        with autocast():
            out = model(prepare(xb)).float()
            if tta_flip:
                out = (out + model(prepare(xb.flip(-1))).float()) / 2
        loss_sum += F.cross_entropy(out, yb, reduction="sum")
        correct += (out.argmax(1) == yb).sum()
    model.train(was_training)
    n = max(len(y), 1)
    return float(loss_sum) / n, int(correct) / n


class EpochCheckpoints(Callback):
    """Keep the weights of the last ``keep_last`` completed epochs as ``folder/epoch_<k>.pt`` (with metadata),
    e.g. to watch how a Grad-CAM map forms over training. Older epoch files are removed as new ones arrive.

    The files are ordinary checkpoints (:func:`vizcore.models.weights.save_checkpoint`): anything that loads a
    run's final checkpoint loads them. ``meta`` is added to every sidecar; ``meta_fn(state, event)``, when given,
    supplies the rest (the engine passes the same metadata as its final checkpoint's)."""

    def __init__(self, folder: str | Path, keep_last: int = 5, meta: dict[str, Any] | None = None,
                 meta_fn: Callable[[TrainState, Event], dict[str, Any]] | None = None) -> None:
        if not isinstance(keep_last, int) or isinstance(keep_last, bool) or not 1 <= keep_last <= 200:
            raise ValueError(f"expected keep_last between 1 and 200, got {keep_last!r}")
        self.folder = Path(folder)
        self.keep_last = keep_last
        self.meta = dict(meta or {})
        self.meta_fn = meta_fn
        self.saved: list[Path] = []

    @staticmethod
    def file_name(epoch: int) -> str:
        return f"epoch_{epoch:03d}.pt"

    @property
    def epochs(self) -> list[int]:
        """The epochs whose weights are on disk now, oldest first."""
        return [int(p.stem.split("_")[1]) for p in self.saved]

    def on_epoch_end(self, state: TrainState, event: Event) -> None:
        from vizcore.models.weights import save_checkpoint

        extra = self.meta_fn(state, event) if self.meta_fn is not None else {}
        path = save_checkpoint(state.eval_model, self.folder / self.file_name(event["epoch"]),
                               {"model": state.config.model, "num_classes": state.num_classes, **self.meta, **extra,
                                "epoch": event["epoch"], "val_acc": event["val_acc"]})
        self.saved.append(path)
        while len(self.saved) > self.keep_last:
            old = self.saved.pop(0)
            old.unlink(missing_ok=True)
            Path(str(old) + ".json").unlink(missing_ok=True)


def run_callbacks(callbacks: Sequence[Callback], hook: str, *args: Any) -> None:
    for cb in callbacks:
        getattr(cb, hook)(*args)
