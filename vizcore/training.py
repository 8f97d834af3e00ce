"""The training engine: one config describing a run, and a run object that trains in the background.

Puts the "Bag of Tricks" in the user's hands — He, Zhang, Zhang, Zhang, Xie, Li. *Bag of Tricks for Image
Classification with Convolutional Neural Networks*, CVPR 2019 — each trick a named field of
:class:`TrainConfig`, each built from what torch/torchvision already provide:

================  ==========================================================================================
trick             built on
================  ==========================================================================================
linear scaling    ``lr * batch_size / 256`` (Goyal et al., *Accurate, Large Minibatch SGD*, 2017)
LR warmup         ``torch.optim.lr_scheduler.LinearLR`` inside ``SequentialLR`` (Goyal et al., 2017)
cosine / step LR  ``CosineAnnealingLR`` (Loshchilov & Hutter, *SGDR*, ICLR 2017) / ``StepLR``
zero-gamma        last BN of each residual block starts at γ = 0 (Goyal et al., 2017; He et al., 2019 §3.1)
no bias decay     weight decay only on conv/linear weights (Jia et al., 2018; He et al., 2019 §3.1)
label smoothing   ``nn.CrossEntropyLoss(label_smoothing=)`` (Szegedy et al., *Rethinking Inception*, 2016)
mixup / cutmix    ``torchvision.transforms.v2.MixUp`` / ``CutMix`` (Zhang et al., 2018; Yun et al., 2019)
mixed precision   ``torch.autocast`` + ``torch.amp.GradScaler`` for fp16 (Micikevicius et al., 2018)
augmentation      ``torchvision.transforms.v2`` flip+crop, ``RandAugment`` (Cubuk et al., 2020),
                  ``TrivialAugmentWide`` (Müller & Hutter, 2021)
distillation      KL on softened outputs · T² · α + (1 − α) · CE (Hinton, Vinyals, Dean, 2015)
transfer          linear probe / fine-tune / lower backbone LR (Kornblith, Shlens, Le, CVPR 2019)
================  ==========================================================================================

A :class:`Run` trains its own model instance in a background thread, streams events to subscribers and
ends in one of ``done | cancelled | diverged | failed``; :mod:`vizcore.runs` stores and queues runs.

Example (CPU, a few seconds)::

    cfg = TrainConfig(model="small_cnn", dataset="shapes", train_size=512, val_size=256, epochs=1)
    run = Run(cfg); run.subscribe(print); run.start(); run.wait()
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vizcore import zoo

Status = Literal["queued", "running", "done", "cancelled", "diverged", "failed", "interrupted"]
FINAL_STATUSES: frozenset[str] = frozenset({"done", "cancelled", "diverged", "failed", "interrupted"})
OptimizerName = Literal["sgd", "nesterov", "adamw"]
ScheduleName = Literal["constant", "step", "cosine"]
Precision = Literal["fp32", "bf16", "fp16"]
AugmentName = Literal["none", "flip_crop", "randaugment", "trivialaugment"]
TransferMode = Literal["none", "linear_probe", "finetune", "finetune_lower_lr"]

BASE_BATCH = 256  # linear scaling reference batch: lr_used = lr * batch_size / BASE_BATCH (Goyal et al., 2017)

# Documented upper bounds (the UI's sliders stay inside them; the engine refuses anything beyond).
MAX_EPOCHS = 200
MAX_BATCH = 4096
MAX_TRAIN_SIZE = 200_000
MAX_VAL_SIZE = 50_000
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 8, 256
MAX_LR = 10.0
MAX_TIME_BUDGET_S = 24 * 3600
MAX_MEMORY_BUDGET_MB = 256 * 1024

OPTIMIZERS: tuple[str, ...] = ("sgd", "nesterov", "adamw")
SCHEDULES: tuple[str, ...] = ("constant", "step", "cosine")
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
AUGMENTS: tuple[str, ...] = ("none", "flip_crop", "randaugment", "trivialaugment")
TRANSFERS: tuple[str, ...] = ("none", "linear_probe", "finetune", "finetune_lower_lr")


def _check_range(name: str, value: Any, lo: float, hi: float, *, integer: bool = False,
                 lo_open: bool = False) -> None:
    ok_type = isinstance(value, int) and not isinstance(value, bool) if integer else (
        isinstance(value, (int, float)) and not isinstance(value, bool))
    if not ok_type or (isinstance(value, float) and not math.isfinite(value)):
        kind = "an integer" if integer else "a number"
        raise ValueError(f"expected {name} to be {kind} in [{lo}, {hi}], got {value!r}")
    if value > hi or value < lo or (lo_open and value <= lo):
        left = "(" if lo_open else "["
        raise ValueError(f"expected {name} in {left}{lo}, {hi}], got {value!r}")


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"expected {name} to be one of {', '.join(choices)}, got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Derive variants with ``dataclasses.replace``.

    Upper bounds: epochs ≤ 200, batch_size ≤ 4096, train_size ≤ 200 000, val_size ≤ 50 000,
    8 ≤ image_size ≤ 256, lr ≤ 10, time budget ≤ 24 h, memory budget ≤ 256 GiB.
    """

    model: str = "small_cnn"  # zoo name (vizcore.zoo.list_models())
    dataset: str = "shapes"  # data set name (vizcore.data.DATASETS)
    data_root: str | None = None  # folder of the "folder" data set (or of downloaded torchvision files)
    train_size: int = 4000  # training images drawn from the data set (fewer if it has fewer)
    val_size: int = 1000  # validation images (held out split)
    image_size: int = 32  # side of the square input in pixels; images are resized to it
    epochs: int = 5  # passes over the training images
    batch_size: int = 128  # images per optimizer step
    optimizer: OptimizerName = "nesterov"  # sgd (heavy-ball momentum), nesterov (Sutskever et al., 2013), adamw
    lr: float = 0.1  # base learning rate (the peak after warmup)
    momentum: float = 0.9  # SGD momentum; AdamW uses it as beta1
    linear_scaling: bool = False  # use lr * batch_size / 256 instead of lr (Goyal et al., 2017)
    schedule: ScheduleName = "cosine"  # LR decay after warmup: constant, step (StepLR), cosine (CosineAnnealingLR)
    warmup_epochs: float = 0.0  # linear warmup from lr/W to lr over this many epochs (W warmup steps)
    step_size: float = 2.0  # step schedule: epochs between decays, counted from the end of warmup
    gamma: float = 0.1  # step schedule: LR multiplier at each decay
    weight_decay: float = 5e-4  # L2 penalty (decoupled for AdamW)
    no_bias_decay: bool = False  # no weight decay on biases and BN γ/β (He et al., 2019 §3.1)
    label_smoothing: float = 0.0  # ε of label smoothing: target = (1-ε)·onehot + ε/K (Szegedy et al., 2016)
    mixup_alpha: float = 0.0  # Beta(α, α) of mixup; 0 = off (Zhang et al., 2018)
    cutmix_alpha: float = 0.0  # Beta(α, α) of cutmix; 0 = off (Yun et al., 2019)
    mix_prob: float = 1.0  # probability a batch is mixed (when both are on, each is picked half the time)
    zero_gamma: bool = False  # γ = 0 for the last BN of each residual block: blocks start as identities
    precision: Precision = "fp32"  # fp32, bf16 autocast (CPU/GPU), fp16 autocast + GradScaler (GPU only)
    augment: AugmentName = "none"  # augmentation preset: none, flip_crop, randaugment, trivialaugment
    randaugment_n: int = 2  # RandAugment: ops per image
    randaugment_m: int = 9  # RandAugment: magnitude, 0..30
    distill_teacher: str | None = None  # knowledge distillation teacher: a run id or a checkpoint path
    distill_T: float = 4.0  # distillation temperature T
    distill_alpha: float = 0.5  # weight α of the distillation term; (1-α) goes to the hard-label loss
    transfer: TransferMode = "none"  # none, linear_probe (frozen backbone), finetune, finetune_lower_lr
    transfer_from: str | None = None  # source weights: "pretrained" (ImageNet), a run id or a checkpoint path
    backbone_lr_mult: float = 0.1  # finetune_lower_lr: backbone LR = lr * this
    seed: int = 0  # seeds data order, augmentation, mixing and the model's initial weights
    device: str | None = None  # "cpu", "cuda", "mps" or None for the best available
    time_budget_s: float = 600.0  # wall-clock budget: refused before start if the estimate exceeds it; stopped at it
    memory_budget_mb: int = 4096  # refused before start if the estimated training memory exceeds it
    log_every: int = 5  # steps between "step" events (each costs one device sync)

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"expected model to be a zoo name, got {self.model!r}")
        zoo.get_entry(self.model)  # raises "expected a model name from ..."
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"expected dataset to be a data set name, got {self.dataset!r}")
        _check_range("train_size", self.train_size, 1, MAX_TRAIN_SIZE, integer=True)
        _check_range("val_size", self.val_size, 1, MAX_VAL_SIZE, integer=True)
        _check_range("image_size", self.image_size, MIN_IMAGE_SIZE, MAX_IMAGE_SIZE, integer=True)
        _check_range("epochs", self.epochs, 1, MAX_EPOCHS, integer=True)
        _check_range("batch_size", self.batch_size, 1, MAX_BATCH, integer=True)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_range("lr", self.lr, 0.0, MAX_LR, lo_open=True)
        _check_range("momentum", self.momentum, 0.0, 0.999)
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_range("warmup_epochs", self.warmup_epochs, 0.0, float(self.epochs))
        _check_range("step_size", self.step_size, 0.0, float(MAX_EPOCHS), lo_open=True)
        _check_range("gamma", self.gamma, 0.0, 1.0, lo_open=True)
        _check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        _check_range("label_smoothing", self.label_smoothing, 0.0, 0.99)
        _check_range("mixup_alpha", self.mixup_alpha, 0.0, 10.0)
        _check_range("cutmix_alpha", self.cutmix_alpha, 0.0, 10.0)
        _check_range("mix_prob", self.mix_prob, 0.0, 1.0)
        _check_choice("precision", self.precision, PRECISIONS)
        _check_choice("augment", self.augment, AUGMENTS)
        _check_range("randaugment_n", self.randaugment_n, 1, 10, integer=True)
        _check_range("randaugment_m", self.randaugment_m, 0, 30, integer=True)
        if self.distill_teacher is not None and (not isinstance(self.distill_teacher, str) or not self.distill_teacher):
            raise ValueError(f"expected distill_teacher to be a run id or checkpoint path, got {self.distill_teacher!r}")
        _check_range("distill_T", self.distill_T, 0.0, 100.0, lo_open=True)
        _check_range("distill_alpha", self.distill_alpha, 0.0, 1.0)
        _check_choice("transfer", self.transfer, TRANSFERS)
        if self.transfer != "none" and not self.transfer_from:
            raise ValueError(f"expected transfer_from (\"pretrained\", a run id or a checkpoint path) with "
                             f"transfer={self.transfer!r}, got {self.transfer_from!r}")
        if self.transfer == "none" and self.transfer_from:
            raise ValueError(f"expected transfer linear_probe, finetune or finetune_lower_lr with "
                             f"transfer_from={self.transfer_from!r}, got transfer='none'")
        _check_range("backbone_lr_mult", self.backbone_lr_mult, 0.0, 1.0, lo_open=True)
        _check_range("seed", self.seed, 0, 2**31 - 1, integer=True)
        if self.device is not None and self.device not in ("cpu", "cuda", "mps") and not str(self.device).startswith("cuda:"):
            raise ValueError(f"expected device 'cpu', 'cuda', 'cuda:N', 'mps' or None, got {self.device!r}")
        _check_range("time_budget_s", self.time_budget_s, 0.0, MAX_TIME_BUDGET_S, lo_open=True)
        _check_range("memory_budget_mb", self.memory_budget_mb, 1, MAX_MEMORY_BUDGET_MB, integer=True)
        _check_range("log_every", self.log_every, 1, 10_000, integer=True)

    # ---- derived values
    @property
    def effective_lr(self) -> float:
        """Peak LR actually used: ``lr`` or ``lr * batch_size / 256`` with linear scaling."""
        return self.lr * self.batch_size / BASE_BATCH if self.linear_scaling else self.lr

    def steps_per_epoch(self, n_train: int | None = None) -> int:
        """Optimizer steps per epoch for ``n_train`` images (default ``train_size``); the last partial batch is
        dropped when there is at least one full batch (BN statistics of a 1-image batch are meaningless)."""
        n = self.train_size if n_train is None else n_train
        return max(1, n // self.batch_size)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict (e.g. a run.json); unknown keys are refused with their names."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object of config fields, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"expected config fields from {', '.join(sorted(names))}, got unknown {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"expected a JSON config, got invalid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_dict(data)


def field_docs() -> dict[str, str]:
    """Each TrainConfig field's one-line comment (for CLI help and widget tooltips), read from the source."""
    import inspect
    import re

    docs: dict[str, str] = {}
    for line in inspect.getsource(TrainConfig).splitlines():
        m = re.match(r"\s+(\w+): [^=]+=.*?#\s*(.+)$", line)
        if m:
            docs[m.group(1)] = m.group(2).strip()
    return docs


# ---------------------------------------------------------------------------------------- LR schedule


def _warmup_steps(config: TrainConfig, steps_per_epoch: int) -> int:
    return int(round(config.warmup_epochs * steps_per_epoch))


def lr_at(step: int, config: TrainConfig, steps_per_epoch: int) -> float:
    """Closed-form LR used by optimizer step ``step`` (0-based) of a run; the head's LR in transfer runs.

    With η = ``config.effective_lr``, W warmup steps, N = epochs · steps_per_epoch total steps and
    m = max(W − 1, 0) the step the decay starts at:

    * warmup (t < m): η · (t + 1) / W — the "gradual warmup" of Goyal et al. (2017), reaching η at t = W − 1;
    * cosine: η · (1 + cos(π · (t − m) / (N − m))) / 2 (SGDR without restarts, Loshchilov & Hutter, 2017);
    * step:   η · γ^⌊(t − m) / (step_size · steps_per_epoch)⌋;
    * constant: η.

    This is exactly what :func:`make_scheduler` (``SequentialLR`` of ``LinearLR`` and ``CosineAnnealingLR`` /
    ``StepLR``) makes the optimizer use, which the tests check.
    """
    if steps_per_epoch < 1:
        raise ValueError(f"expected steps_per_epoch >= 1, got {steps_per_epoch}")
    total = config.epochs * steps_per_epoch
    if not 0 <= step < total:
        raise ValueError(f"expected a step in [0, {total}), got {step}")
    eta = config.effective_lr
    w = _warmup_steps(config, steps_per_epoch)
    m = max(w - 1, 0)
    if step < m:
        return eta * (step + 1) / w
    k = step - m
    if config.schedule == "cosine":
        return eta * (1.0 + math.cos(math.pi * k / (total - m))) / 2.0
    if config.schedule == "step":
        size = max(1, int(round(config.step_size * steps_per_epoch)))
        return eta * config.gamma ** (k // size)
    return eta


def lr_schedule(config: TrainConfig, steps_per_epoch: int | None = None) -> np.ndarray:
    """Per-step LRs of a run, shape (epochs · steps_per_epoch,), float64 — for previews and plots."""
    spe = config.steps_per_epoch() if steps_per_epoch is None else steps_per_epoch
    return np.array([lr_at(t, config, spe) for t in range(config.epochs * spe)], dtype=np.float64)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig,
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The scheduler that realises :func:`lr_at`; call ``.step()`` after every optimizer step.

    Groups may have different base LRs (transfer with a lower backbone LR): each is scaled by the same factor.
    """
    from torch.optim import lr_scheduler as S

    total = config.epochs * steps_per_epoch
    w = _warmup_steps(config, steps_per_epoch)
    m = max(w - 1, 0)
    if config.schedule == "cosine":
        main: S.LRScheduler | None = S.CosineAnnealingLR(optimizer, T_max=total - m, eta_min=0.0)
    elif config.schedule == "step":
        main = S.StepLR(optimizer, step_size=max(1, int(round(config.step_size * steps_per_epoch))),
                        gamma=config.gamma)
    else:
        main = None
    if m == 0:
        return main
    warm = S.LinearLR(optimizer, start_factor=1.0 / w, end_factor=1.0, total_iters=m)
    if main is None:
        return warm  # LinearLR holds factor 1 after total_iters: warmup then constant
    return S.SequentialLR(optimizer, [warm, main], milestones=[m])


# ---------------------------------------------------------------------------------------- tricks


def zero_gamma_(model: nn.Module) -> list[str]:
    """Set γ = 0 in the last BatchNorm of every residual block, in place; returns the BN module paths.

    A block computing relu(x + bn(branch(x))) then starts as relu(x): the network begins shallow and
    residual branches grow in (Goyal et al., 2017; He et al., 2019 §3.1). Blocks recognised: torchvision's
    ``BasicBlock.bn2`` and ``Bottleneck.bn3`` (ResNet), the zoo's ``SEBasicBlock.bn2`` (SE-ResNet; the SE gate
    multiplies the zero), and MobileNetV2/V3 inverted residuals with a skip (their last BN). Models without
    residual blocks (small_cnn, VGG, LeNet) are left unchanged and the list is empty.
    """
    from torchvision.models.resnet import BasicBlock, Bottleneck

    targets: list[str] = []
    for name, mod in model.named_modules():
        bn: nn.Module | None = None
        attr = ""
        if isinstance(mod, (BasicBlock, zoo.SEBasicBlock)):
            bn, attr = mod.bn2, "bn2"
        elif isinstance(mod, Bottleneck):
            bn, attr = mod.bn3, "bn3"
        elif getattr(mod, "use_res_connect", False) and hasattr(mod, "block" if hasattr(mod, "block") else "conv"):
            seq = mod.block if hasattr(mod, "block") else mod.conv  # MobileNetV3 / MobileNetV2
            bns = [(n, m) for n, m in seq.named_modules() if isinstance(m, nn.BatchNorm2d)]
            if bns:
                attr = ("block." if hasattr(mod, "block") else "conv.") + bns[-1][0]
                bn = bns[-1][1]
        if isinstance(bn, nn.BatchNorm2d) and bn.weight is not None:
            with torch.no_grad():
                bn.weight.zero_()
            targets.append(f"{name}.{attr}" if name else attr)
    return targets


def param_groups(model: nn.Module, weight_decay: float, no_bias_decay: bool, lr: float,
                 backbone_lr_mult: float = 1.0, head: str | None = None,
                 frozen_backbone: bool = False) -> list[dict[str, Any]]:
    """Optimizer parameter groups, each tagged with a ``"name"``.

    * ``no_bias_decay``: biases and BN γ/β (every parameter with ≤ 1 dimension) go to a group with
      weight_decay 0; conv and linear weights keep ``weight_decay`` (He et al., 2019 §3.1).
    * ``head`` (module path of the classifier) with ``backbone_lr_mult`` < 1: the backbone's groups get
      ``lr * backbone_lr_mult``; with ``frozen_backbone`` they are left out entirely (linear probe).
    Groups with no parameters are dropped. ``"initial_lr"`` is what the LR schedule scales.
    """
    buckets: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for pname, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_head = head is not None and (pname == head or pname.startswith(head + "."))
        if frozen_backbone and not is_head:
            continue
        decays = not (no_bias_decay and p.ndim <= 1)
        buckets.setdefault((is_head or head is None, decays), []).append(p)
    groups = []
    for (is_head, decays), params in sorted(buckets.items(), key=lambda kv: (not kv[0][0], not kv[0][1])):
        part = "head" if head is not None and is_head else ("backbone" if head is not None else "all")
        groups.append({
            "params": params,
            "name": f"{part}/{'decay' if decays else 'no_decay'}",
            "weight_decay": weight_decay if decays else 0.0,
            "lr": lr if is_head else lr * backbone_lr_mult,
        })
    return groups


def make_optimizer(groups: list[dict[str, Any]], config: TrainConfig) -> torch.optim.Optimizer:
    """SGD (heavy-ball), SGD with Nesterov momentum, or AdamW over ``groups`` (from :func:`param_groups`)."""
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.effective_lr, betas=(config.momentum, 0.999),
                                 weight_decay=config.weight_decay)
    return torch.optim.SGD(groups, lr=config.effective_lr, momentum=config.momentum,
                           nesterov=config.optimizer == "nesterov" and config.momentum > 0,
                           weight_decay=config.weight_decay)


def make_criterion(config: TrainConfig) -> nn.Module:
    """The hard-label loss: cross-entropy against (1 − ε)·onehot + ε/K (Szegedy et al., 2016, §7).

    ``nn.CrossEntropyLoss(label_smoothing=ε)``; takes class indices (N,) or probabilities (N, K) from mixup.
    """
    return nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor,
            T: float, alpha: float, label_smoothing: float = 0.0) -> torch.Tensor:
    """Knowledge distillation loss (Hinton, Vinyals, Dean. *Distilling the Knowledge in a Neural Network*, 2015).

    ``α · T² · KL(softmax(teacher/T) ‖ softmax(student/T)) + (1 − α) · CE(student, target)``, KL averaged over
    the batch. T² keeps the soft term's gradients on the scale of the hard term's as T grows.
    student_logits, teacher_logits: (N, K); target: (N,) class indices or (N, K) probabilities (mixup).
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"expected teacher logits of shape {tuple(student_logits.shape)}, "
                         f"got {tuple(teacher_logits.shape)}")
    soft = F.kl_div(F.log_softmax(student_logits / T, dim=1), F.log_softmax(teacher_logits / T, dim=1),
                    reduction="batchmean", log_target=True)
    hard = F.cross_entropy(student_logits, target, label_smoothing=label_smoothing)
    return alpha * T * T * soft + (1.0 - alpha) * hard


def adapt_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Match the model's input channels: grey -> RGB repeats the channel; RGB -> grey takes ITU-R BT.601 luma.

    x: (N, C, H, W) float. Any other mismatch raises ValueError.
    """
    c = x.shape[1]
    if c == channels:
        return x
    if c == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1)
    if c == 3 and channels == 1:
        w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x * w).sum(dim=1, keepdim=True)
    raise ValueError(f"expected images with 1 or 3 channels for a {channels}-channel model, got {c}")


def model_channels(name: str) -> int:
    return zoo.get_entry(name).input_size[0]


def build_train_model(name: str, num_classes: int, seed: int = 0) -> nn.Module:
    """A zoo model with ``num_classes`` outputs and its own weights (never a shared, cached instance)."""
    return zoo.build_model(name, num_classes=num_classes, seed=seed)


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


def estimate_memory(config: TrainConfig, num_classes: int = 10) -> int:
    """Estimated peak training memory in bytes (see :func:`estimate_memory_detail`)."""
    return estimate_memory_detail(config, num_classes).total_bytes


# Rough sustained training throughput in FLOP/s for the time estimate (measured order of magnitude for small
# CNNs: 2 shared CPU cores ~ 2e10, one modern GPU ~ 2e12 for these tiny models' kernel sizes).
_DEVICE_FLOPS = {"cpu": 2e10, "cuda": 2e12, "mps": 2e11}


def estimate_flops(config: TrainConfig, num_classes: int = 10) -> int:
    """FLOPs of one forward pass of one image (``torch.utils.flop_counter``, counted on the meta device)."""
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


def estimate_time_s(config: TrainConfig, device: str = "cpu", num_classes: int = 10) -> float:
    """Rough wall-clock estimate: 3 × forward FLOPs (forward + backward) × images × epochs ÷ device FLOP/s."""
    kind = torch.device(device).type
    flops = estimate_flops(config, num_classes)
    train = 3 * flops * config.steps_per_epoch() * config.batch_size * config.epochs
    val = flops * config.val_size * config.epochs
    return (train + val) / _DEVICE_FLOPS.get(kind, 2e10)


@dataclass(frozen=True)
class Preflight:
    device: str  # resolved device ("cpu", "cuda:0", ...)
    memory_bytes: int  # estimate_memory
    time_estimate_s: float  # estimate_time_s
    notes: tuple[str, ...]  # things the user should know (e.g. "zero_gamma: no residual blocks in small_cnn")


def preflight(config: TrainConfig, num_classes: int = 10) -> Preflight:
    """Checks before a run starts: device, precision on it, input size, memory and time budgets.

    Raises ValueError with a sentence saying what to change.
    """
    from vizcore.device import pick_device

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
    t = estimate_time_s(config, str(dev), num_classes)
    if t > config.time_budget_s:
        raise ValueError(
            f"expected a run that fits the time budget of {config.time_budget_s:.0f} s, got an estimate of "
            f"{t:.0f} s on {dev.type.upper()}; lower epochs, train_size or image_size, or raise time_budget_s")
    notes = []
    if config.precision != "fp32" and dev.type == "cpu":
        notes.append("on CPU, bf16 autocast is usually slower than fp32 for small convolutions (about 20x on a "
                     "2-core CPU without bf16 instructions, bench/trainer_overhead.py)")
    if config.zero_gamma and config.transfer != "none":
        notes.append("zero_gamma is an initialisation: ignored when transferring learned weights")
    elif config.zero_gamma:
        probe = zoo.build_model(config.model, num_classes=num_classes) if mem.params < 5_000_000 else None
        if probe is not None and not zero_gamma_(probe):
            notes.append(f"zero_gamma has no effect: {config.model} has no residual blocks")
    return Preflight(str(dev), mem.total_bytes, t, tuple(notes))


# ---------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class TensorData:
    """Images and labels ready for the engine: images (N, C, H, W) uint8, labels (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    name: str = "tensors"

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != torch.uint8:
            raise ValueError(f"expected images (N, C, H, W) uint8, got {tuple(self.images.shape)} {self.images.dtype}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"expected labels ({self.images.shape[0]},), got {tuple(self.labels.shape)}")


def _to_tensor_data(obj: Any) -> TensorData:
    if isinstance(obj, TensorData):
        return obj
    images = torch.as_tensor(np.asarray(obj.images))
    labels = torch.as_tensor(np.asarray(obj.labels)).long()
    return TensorData(images, labels, tuple(obj.classes), getattr(obj, "name", "data"))


_DATA_CACHE: dict[tuple, tuple[TensorData, TensorData]] = {}
_DATA_CACHE_LOCK = threading.Lock()
_DATA_CACHE_SIZE = 4  # a comparison of tricks reuses the same data; four 10k-image 32x32 sets are ~120 MB


def load_data(config: TrainConfig) -> tuple[TensorData, TensorData]:
    """Train and validation sets of ``config.dataset`` at ``config.image_size`` (vizcore.data.load_dataset).

    The last few distinct requests are kept in memory (read-only tensors), so runs that differ only in
    tricks do not generate or decode the same images again.
    """
    from vizcore import data as vdata

    key = (config.dataset, config.train_size, config.val_size, config.image_size, config.seed, config.data_root)
    with _DATA_CACHE_LOCK:
        hit = _DATA_CACHE.get(key)
    if hit is not None:
        return hit
    train = vdata.load_dataset(config.dataset, split="train", n=config.train_size, size=config.image_size,
                               seed=config.seed, root=config.data_root)
    val = vdata.load_dataset(config.dataset, split="val", n=config.val_size, size=config.image_size,
                             seed=config.seed, root=config.data_root)
    out = (_to_tensor_data(train), _to_tensor_data(val))
    with _DATA_CACHE_LOCK:
        _DATA_CACHE[key] = out
        while len(_DATA_CACHE) > _DATA_CACHE_SIZE:
            _DATA_CACHE.pop(next(iter(_DATA_CACHE)))
    return out


def augment_config(config: TrainConfig) -> Any:
    """The :class:`vizcore.augment.AugmentConfig` of a run (preset, RandAugment N/M, mixup/cutmix)."""
    from vizcore.augment import AugmentConfig

    return AugmentConfig(preset=config.augment, randaugment_n=config.randaugment_n,
                         randaugment_m=config.randaugment_m, mixup_alpha=config.mixup_alpha,
                         cutmix_alpha=config.cutmix_alpha, mix_prob=config.mix_prob)


# ---------------------------------------------------------------------------------------- checkpoints


def save_checkpoint(model: nn.Module, path: str | Path, meta: dict[str, Any]) -> Path:
    """Write the model's ``state_dict`` to ``path`` and ``meta`` (model name, classes...) to ``path + .json``.

    Written to a temporary file then renamed, so a reader never sees half a checkpoint.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    torch.save(state, tmp)
    tmp.replace(p)
    meta_path = p.with_name(p.name + ".json")
    tmp_meta = meta_path.with_name(meta_path.name + ".tmp")
    tmp_meta.write_text(json.dumps(meta, sort_keys=True, default=str))
    tmp_meta.replace(meta_path)
    return p


def checkpoint_meta(path: str | Path) -> dict[str, Any] | None:
    """The sidecar metadata written by :func:`save_checkpoint`, or None for a bare state_dict file."""
    meta = Path(str(path) + ".json")
    if not meta.is_file():
        return None
    try:
        data = json.loads(meta.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def load_trained(path: str | Path, model: str | None = None, num_classes: int | None = None) -> nn.Module:
    """A model from a checkpoint: architecture and classes from its sidecar metadata unless given. Eval mode."""
    meta = checkpoint_meta(path) or {}
    name = model or meta.get("model")
    if not name:
        raise ValueError(f"expected a model name for checkpoint {Path(path).name} (it has no metadata), got none")
    nc = num_classes if num_classes is not None else meta.get("num_classes")
    m = zoo.build_model(name, num_classes=nc)
    return zoo.load_checkpoint(m, path).eval()


# ---------------------------------------------------------------------------------------- run


Event = dict[str, Any]
Resolver = Callable[[str], tuple[Path, dict[str, Any]]]  # run id -> (checkpoint path, its meta)


class Run:
    """One training run in a background thread, with its own model instance.

    Events go to every subscriber (called from the worker thread; keep callbacks quick and never call
    Streamlit from them):

    * ``{"kind": "step", "step", "epoch", "loss", "lr", "throughput"}`` every ``log_every`` steps
      (loss: mean over those steps; throughput: images/s over those steps);
    * ``{"kind": "epoch", "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "time_s",
      "train_time_s", "images_per_s", "elapsed_s"}`` (epoch counts from 1; accuracies in [0, 1]; train accuracy
      against the unmixed labels; time_s includes validation, train_time_s does not);
    * ``{"kind": "info", ...}`` once before the first step: classes, device, parameter counts, param groups,
      zero-gamma layers, notes;
    * ``{"kind": "status", "status", "message"}`` on every status change.

    The final weights (after the last completed epoch) go to ``checkpoint_path`` when given. ``data``
    (train, val) skips loading the data set (tests, benchmarks); ``resolve_run`` maps a run id to its
    checkpoint for distillation teachers and transfer sources.
    """

    def __init__(self, config: TrainConfig, run_id: str | None = None, *,
                 checkpoint_path: str | Path | None = None,
                 data: tuple[Any, Any] | None = None,
                 resolve_run: Resolver | None = None) -> None:
        if not isinstance(config, TrainConfig):
            raise TypeError(f"expected a TrainConfig, got {type(config).__name__}")
        self.id: str = run_id or uuid.uuid4().hex[:12]
        self.config = config
        self.status: Status = "queued"
        self.message: str = ""
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        self.history: list[Event] = []  # epoch events so far
        self.last_step: Event | None = None
        self.epochs_done = 0
        self.info: dict[str, Any] = {}  # classes, device, parameter count, notes... filled when training starts
        self.model: nn.Module | None = None  # the trained model once the run ended (eval mode, on CPU)
        self._data = data
        self._resolve_run = resolve_run
        self._subscribers: list[Callable[[Event], None]] = []
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # ---- public API
    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback(event)`` for every future event (from the worker thread)."""
        with self._lock:
            self._subscribers.append(callback)

    def start(self) -> None:
        """Start training in a daemon thread; returns at once."""
        with self._lock:
            if self._thread is not None:
                raise ValueError(f"expected a run that has not started, got one with status {self.status!r}")
            self._thread = threading.Thread(target=self._main, name=f"convscope-run-{self.id}", daemon=True)
            self._thread.start()

    def run_sync(self) -> str:
        """Train in the calling thread (CLI, tests); returns the final status."""
        with self._lock:
            if self._thread is not None:
                raise ValueError(f"expected a run that has not started, got one with status {self.status!r}")
            self._thread = threading.current_thread()
        self._main()
        return self.status

    def cancel(self) -> None:
        """Ask the run to stop after the current step; a queued run is cancelled at once."""
        self._cancel.set()
        if self._thread is None and self.status == "queued":
            self._set_status("cancelled", "cancelled before it started")
            self._done.set()

    def wait(self, timeout: float | None = None) -> str:
        """Block until the run ends (or ``timeout`` seconds pass); returns the status."""
        self._done.wait(timeout)
        return self.status

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    # ---- internals
    def _emit(self, event: Event) -> None:
        with self._lock:
            subs = list(self._subscribers)
        for cb in subs:
            try:
                cb(event)
            except Exception:  # a broken subscriber must not kill the run; the others still get events
                traceback.print_exc()

    def _set_status(self, status: Status, message: str = "") -> None:
        self.status = status
        self.message = message
        self._emit({"kind": "status", "status": status, "message": message, "time": time.time()})

    def _main(self) -> None:
        try:
            if self._cancel.is_set():
                self._set_status("cancelled", "cancelled before it started")
                return
            self._set_status("running", "")
            status, message = self._train()
            self._set_status(status, message)
        except ValueError as exc:
            self._set_status("failed", str(exc))
        except Exception as exc:  # noqa: BLE001 — reported as the run's failure, with its type
            traceback.print_exc()
            self._set_status("failed", f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
        finally:
            self._done.set()

    def _source_checkpoint(self, ref: str) -> tuple[Path, dict[str, Any]]:
        """A run id or a checkpoint path -> (path, meta)."""
        p = Path(ref).expanduser()
        if p.is_file():
            return p, checkpoint_meta(p) or {}
        if self._resolve_run is not None:
            return self._resolve_run(ref)
        raise ValueError(f"expected a checkpoint file or a stored run id, got {ref!r}")

    def _build_model(self, num_classes: int) -> tuple[nn.Module, str | None]:
        cfg = self.config
        if cfg.transfer == "none":
            return build_train_model(cfg.model, num_classes, cfg.seed), None
        if cfg.transfer_from == "pretrained":
            model = zoo.get_model(cfg.model, weights="pretrained")
        else:
            path, meta = self._source_checkpoint(str(cfg.transfer_from))
            src_model = meta.get("model", cfg.model)
            if src_model != cfg.model:
                raise ValueError(f"expected a {cfg.model} checkpoint to transfer from, got one of {src_model}")
            model = zoo.build_model(cfg.model, num_classes=meta.get("num_classes"), seed=cfg.seed)
            zoo.load_checkpoint(model, path)
        zoo.replace_classifier(model, num_classes, seed=cfg.seed)
        return model, zoo.classifier_path(model)

    def _teacher(self, num_classes: int, device: torch.device) -> nn.Module | None:
        cfg = self.config
        if cfg.distill_teacher is None:
            return None
        path, meta = self._source_checkpoint(cfg.distill_teacher)
        name = meta.get("model", cfg.model)
        nc = meta.get("num_classes", num_classes)
        if nc != num_classes:
            raise ValueError(f"expected a teacher with {num_classes} classes, got one with {nc}")
        teacher = zoo.build_model(name, num_classes=nc)
        zoo.load_checkpoint(teacher, path)
        teacher.eval().requires_grad_(False)
        self.info["teacher"] = {"model": name, "checkpoint": str(path)}
        return teacher.to(device)

    def _train(self) -> tuple[Status, str]:  # noqa: C901 — the training loop reads best in one place
        cfg = self.config
        t_start = time.perf_counter()
        train_raw, val_raw = self._data if self._data is not None else load_data(cfg)
        train_set, val_set = _to_tensor_data(train_raw), _to_tensor_data(val_raw)
        num_classes = len(train_set.classes)
        check = preflight(cfg, num_classes)
        device = torch.device(check.device)
        on_gpu = device.type == "cuda"
        entry = zoo.get_entry(cfg.model)
        channels = entry.input_size[0]

        model, head = self._build_model(num_classes)
        # zero-gamma is an initialisation: applied to loaded (transfer) weights it would erase learned blocks
        zeroed = zero_gamma_(model) if cfg.zero_gamma and cfg.transfer == "none" else []
        frozen = cfg.transfer == "linear_probe"
        if frozen:
            for n, p in model.named_parameters():
                p.requires_grad_(n == head or n.startswith(str(head) + "."))
        model = model.to(device)
        if on_gpu:
            model = model.to(memory_format=torch.channels_last)
        teacher = self._teacher(num_classes, device)
        if teacher is not None and on_gpu:
            teacher = teacher.to(memory_format=torch.channels_last)

        spe = cfg.steps_per_epoch(len(train_set.labels))
        groups = param_groups(model, cfg.weight_decay, cfg.no_bias_decay, cfg.effective_lr,
                              cfg.backbone_lr_mult if cfg.transfer == "finetune_lower_lr" else 1.0,
                              head, frozen_backbone=frozen)
        optimizer = make_optimizer(groups, cfg)
        scheduler = make_scheduler(optimizer, cfg, spe)
        criterion = make_criterion(cfg)
        amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision)
        scaler = torch.amp.GradScaler("cuda") if cfg.precision == "fp16" else None
        autocast = (lambda: torch.autocast(device.type, dtype=amp_dtype)) if amp_dtype else nullcontext
        aug_cfg = augment_config(cfg)

        # Data lives on the device as uint8 (4x smaller than float); normalised per batch.
        mean = torch.tensor(entry.mean, device=device).view(1, -1, 1, 1)
        std = torch.tensor(entry.std, device=device).view(1, -1, 1, 1)
        x_train = train_set.images.to(device)
        y_train = train_set.labels.to(device)
        x_val = val_set.images.to(device)
        y_val = val_set.labels.to(device)

        def normalise(x01: torch.Tensor, c: int = channels, mu: torch.Tensor = mean,
                      sd: torch.Tensor = std) -> torch.Tensor:
            x = (adapt_channels(x01, c) - mu) / sd
            return x.contiguous(memory_format=torch.channels_last) if on_gpu else x

        def prepare(xb: torch.Tensor) -> torch.Tensor:  # uint8 batch -> the student's normalised input
            return normalise(xb.float().div_(255.0))

        if teacher is not None:  # the teacher sees the same (augmented, mixed) images, in its own input format
            t_entry = zoo.get_entry(self.info["teacher"]["model"])
            t_mean = torch.tensor(t_entry.mean, device=device).view(1, -1, 1, 1)
            t_std = torch.tensor(t_entry.std, device=device).view(1, -1, 1, 1)

        self.info.update({
            "classes": list(train_set.classes), "num_classes": num_classes, "device": str(device),
            "params": sum(p.numel() for p in model.parameters()),
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "steps_per_epoch": spe, "zero_gamma_layers": zeroed, "notes": list(check.notes),
            "memory_estimate_bytes": check.memory_bytes, "time_estimate_s": check.time_estimate_s,
            "param_groups": [{"name": g["name"], "lr": g["lr"], "weight_decay": g["weight_decay"],
                              "params": sum(p.numel() for p in g["params"])} for g in groups],
        })
        self._emit({"kind": "info", **self.info})
        gen = torch.Generator(device=device).manual_seed(cfg.seed)  # data order
        aug_gen = torch.Generator().manual_seed(cfg.seed + 1)  # augmentation and mixing draws (CPU, like augment.py)
        from vizcore.augment import augment, mix_batch
        step = 0
        n_train = len(y_train)
        for epoch in range(1, cfg.epochs + 1):
            t_epoch = time.perf_counter()
            model.train()
            if frozen:  # a linear probe keeps the backbone's BN statistics too
                for name, mod in model.named_modules():
                    if name and head is not None and not (name == head or name.startswith(head + ".")):
                        mod.eval()
            perm = torch.randperm(n_train, generator=gen, device=device)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            seen = 0
            win_loss = torch.zeros((), device=device)
            win_t, win_n, win_steps = time.perf_counter(), 0, 0
            for i in range(spe):
                idx = perm[i * cfg.batch_size:(i + 1) * cfg.batch_size]
                xb, yb = x_train[idx], y_train[idx]
                if aug_cfg.preset != "none":
                    xb, _ = augment(xb, aug_cfg, aug_gen)
                x01 = xb.float().div_(255.0)
                target: torch.Tensor = yb
                if aug_cfg.mixes:  # mixed in [0, 1] pixel space, before normalisation
                    x01, target, _ = mix_batch(x01, yb, num_classes, aug_cfg, aug_gen)
                x = normalise(x01)
                with autocast():
                    out = model(x)
                    if teacher is not None:
                        with torch.no_grad():
                            t_out = teacher(normalise(x01, t_entry.input_size[0], t_mean, t_std))
                        loss = kd_loss(out.float(), t_out.float(), target, cfg.distill_T, cfg.distill_alpha,
                                       cfg.label_smoothing)
                    else:
                        loss = criterion(out.float(), target)
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
                lr_used = optimizer.param_groups[0]["lr"]
                if scheduler is not None:
                    scheduler.step()
                d = loss.detach()
                loss_sum += d * len(yb)
                win_loss += d
                correct += (out.detach().argmax(1) == yb).sum()
                seen += len(yb)
                win_n += len(yb)
                win_steps += 1
                step += 1
                if step % cfg.log_every == 0 or i == spe - 1:
                    mean_loss = float(win_loss) / win_steps  # the one sync per window
                    if not math.isfinite(mean_loss):
                        return self._stop_diverged(model, epoch, step, mean_loss)
                    now = time.perf_counter()
                    ev = {"kind": "step", "step": step, "epoch": epoch, "loss": mean_loss, "lr": float(lr_used),
                          "throughput": win_n / max(now - win_t, 1e-9)}
                    self.last_step = ev
                    self._emit(ev)
                    win_loss = torch.zeros((), device=device)
                    win_t, win_n, win_steps = now, 0, 0
                if self._cancel.is_set():
                    return "cancelled", f"cancelled in epoch {epoch} at step {step}; " + self._keep_note(epoch)
                if time.perf_counter() - t_start > cfg.time_budget_s:
                    return "cancelled", (f"stopped at the time budget of {cfg.time_budget_s:.0f} s in epoch {epoch}; "
                                         + self._keep_note(epoch))
            train_loss = float(loss_sum) / max(seen, 1)  # also waits for the device: train_time_s is honest
            train_time = time.perf_counter() - t_epoch
            if not math.isfinite(train_loss):
                return self._stop_diverged(model, epoch, step, train_loss)
            val_loss, val_acc = evaluate(model, x_val, y_val, prepare, autocast, criterion_batch=512)
            if not math.isfinite(val_loss):
                return self._stop_diverged(model, epoch, step, val_loss)
            ev = {"kind": "epoch", "epoch": epoch, "train_loss": train_loss, "train_acc": int(correct) / max(seen, 1),
                  "val_loss": val_loss, "val_acc": val_acc, "lr": float(optimizer.param_groups[0]["lr"]),
                  "time_s": time.perf_counter() - t_epoch, "train_time_s": train_time,
                  "images_per_s": seen / max(train_time, 1e-9), "elapsed_s": time.perf_counter() - t_start}
            self.history.append(ev)
            self.epochs_done = epoch
            self._save(model, epoch)
            self._emit(ev)
        self.model = model.to("cpu").to(memory_format=torch.contiguous_format).eval()
        last = self.history[-1]
        return "done", (f"{cfg.epochs} epochs in {time.perf_counter() - t_start:.1f} s; "
                        f"val accuracy {100 * last['val_acc']:.1f}%")

    def _keep_note(self, epoch: int) -> str:
        done = epoch - 1
        if done == 0:
            return "no epoch completed, no checkpoint"
        return f"checkpoint and metrics of the {done} completed epoch{'s' if done > 1 else ''} kept"

    def _stop_diverged(self, model: nn.Module, epoch: int, step: int, value: float) -> tuple[Status, str]:
        return "diverged", (f"loss became {value} at step {step} (epoch {epoch}); lower the learning rate "
                            f"(effective {self.config.effective_lr:g}) or add warmup; " + self._keep_note(epoch))

    def _save(self, model: nn.Module, epoch: int) -> None:
        if self.checkpoint_path is None:
            return
        meta = {"model": self.config.model, "num_classes": self.info.get("num_classes"),
                "classes": self.info.get("classes"), "dataset": self.config.dataset,
                "image_size": self.config.image_size, "epoch": epoch, "run_id": self.id,
                "val_acc": self.history[-1]["val_acc"] if self.history else None,
                "config": self.config.to_dict()}
        save_checkpoint(model, self.checkpoint_path, meta)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, prepare: Callable[[torch.Tensor], torch.Tensor],
             autocast: Callable[[], Any] = nullcontext, criterion_batch: int = 512) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on uint8 images ``x`` (N, C, H, W) with labels ``y`` (N,)."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    for i in range(0, len(y), criterion_batch):
        xb, yb = x[i:i + criterion_batch], y[i:i + criterion_batch]
        with autocast():
            out = model(prepare(xb)).float()
        loss_sum += F.cross_entropy(out, yb, reduction="sum")
        correct += (out.argmax(1) == yb).sum()
    model.train(was_training)
    n = max(len(y), 1)
    return float(loss_sum) / n, int(correct) / n
