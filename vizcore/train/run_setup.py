"""A run's setup: the data, the model (fresh, transferred or linear-probed), the distillation teacher, and the
optimizer, schedule, loss and precision, all on the device the preflight check chose.

Initialisation tricks (zero-gamma, whitened stem) apply only to a model trained from scratch: applied to loaded
(transfer) weights they would erase learned layers. :class:`vizcore.train.engine.Run` calls :func:`setup_state`
once before its first step; the result is the :class:`~vizcore.train.loop.TrainState` its loop carries.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vizcore.models import registry as zoo
from vizcore.models.preprocess import for_model
from vizcore.models.weights import checkpoint_meta, get_model, load_checkpoint
from vizcore.train.config import TrainConfig
from vizcore.train.data import augment_config, augment_pipeline, load_data, split_pool, to_tensor_data
from vizcore.train.ema import WeightEMA
from vizcore.train.loop import TrainState
from vizcore.train.preflight import preflight
from vizcore.train.schedule import make_scheduler
from vizcore.train.ssl import make_ssl_state
from vizcore.train.ssl import steps_per_epoch as ssl_steps_per_epoch
from vizcore.train.timing import PastRun
from vizcore.train.tricks import make_criterion, make_optimizer, param_groups, whiten_stem_, zero_gamma_

WHITEN_IMAGES = 512  # training images whose patches set the whitened stem (a 12x12 covariance needs few)

Resolver = Callable[[str], tuple[Path, dict[str, Any]]]  # run id -> (checkpoint path, its meta)


def build_train_model(name: str, num_classes: int, seed: int = 0) -> nn.Module:
    """A zoo model with ``num_classes`` outputs and its own weights (never a shared, cached instance)."""
    return zoo.build_model(name, num_classes=num_classes, seed=seed)


def source_checkpoint(ref: str, resolve_run: Resolver | None) -> tuple[Path, dict[str, Any]]:
    """A run id or a checkpoint path -> (path, meta)."""
    p = Path(ref).expanduser()
    if p.is_file():
        return p, checkpoint_meta(p) or {}
    if resolve_run is not None:
        return resolve_run(ref)
    raise ValueError(f"expected a checkpoint file or a stored run id, got {ref!r}")


def build_model(cfg: TrainConfig, num_classes: int, resolve_run: Resolver | None) -> tuple[nn.Module, str | None]:
    """The student: fresh, or loaded from pretrained weights / a checkpoint with a new classifier.
    Returns (model, classifier module path or None for a fresh model)."""
    if cfg.transfer == "none":
        return build_train_model(cfg.model, num_classes, cfg.seed), None
    if cfg.transfer_from == "pretrained":
        model = get_model(cfg.model, weights="pretrained")
    else:
        path, meta = source_checkpoint(str(cfg.transfer_from), resolve_run)
        src_model = meta.get("model", cfg.model)
        if src_model != cfg.model:
            raise ValueError(f"expected a {cfg.model} checkpoint to transfer from, got one of {src_model}")
        model = zoo.build_model(cfg.model, num_classes=meta.get("num_classes"), seed=cfg.seed)
        load_checkpoint(model, path)
    zoo.replace_classifier(model, num_classes, seed=cfg.seed)
    return model, zoo.classifier_path(model)


def load_teacher(cfg: TrainConfig, num_classes: int, device: torch.device, resolve_run: Resolver | None,
                 info: dict[str, Any]) -> nn.Module | None:
    """The distillation teacher (frozen, eval mode, on ``device``), or None without one; names it in
    ``info["teacher"]``."""
    if cfg.distill_teacher is None:
        return None
    path, meta = source_checkpoint(cfg.distill_teacher, resolve_run)
    name = meta.get("model", cfg.model)
    nc = meta.get("num_classes", num_classes)
    if nc != num_classes:
        raise ValueError(f"expected a teacher with {num_classes} classes, got one with {nc}")
    teacher = zoo.build_model(name, num_classes=nc)
    load_checkpoint(teacher, path)
    teacher.eval().requires_grad_(False)
    info["teacher"] = {"model": name, "checkpoint": str(path)}
    return teacher.to(device)


def _init_model(cfg: TrainConfig, model: nn.Module, head: str | None, train_images: torch.Tensor
                ) -> tuple[list[str], str | None, bool]:
    """Zero-gamma, whitened stem (from scratch only) and the linear probe's freezing, in place.
    Returns (zero-gamma layers, whitening summary or None, frozen backbone?)."""
    zeroed = zero_gamma_(model) if cfg.zero_gamma and cfg.transfer == "none" else []
    whitened = None
    if cfg.whiten_stem and cfg.transfer == "none":
        pre = for_model(cfg.model)
        sample = train_images[:WHITEN_IMAGES].float().div_(255.0)
        whitened = whiten_stem_(model, pre.normalize(sample))
    frozen = cfg.transfer == "linear_probe"
    if frozen:
        for n, p in model.named_parameters():
            p.requires_grad_(n == head or n.startswith(str(head) + "."))
    return zeroed, whitened, frozen


class SetupStopped(Exception):
    """Raised by :func:`setup_state` when its ``stopped`` check says the run was cancelled while it prepared."""


def setup_state(cfg: TrainConfig, data: tuple[Any, Any] | None, history: Sequence[PastRun],
                resolve_run: Resolver | None, info: dict[str, Any],
                stopped: Callable[[], bool] | None = None) -> TrainState:
    """Data, model, optimizer, schedule, loss and precision for a run of ``cfg``, all on the chosen device.

    ``data`` (train, val) skips loading the data set; ``history``: finished runs the time estimate rests on.
    ``info`` (the run's info) is filled as setup goes: the teacher once loaded, then classes, device, parameter
    counts, param groups, notes and estimates. ``stopped`` is asked between the stages (data, checks and time
    estimate, model, teacher): when it says True, :class:`SetupStopped` ends the setup there (a cancel pressed
    while a large data set is generated takes effect within a stage, not after the whole setup)."""

    def check_stop() -> None:
        if stopped is not None and stopped():
            raise SetupStopped

    t_start = time.perf_counter()
    check_stop()
    train_raw, val_raw = data if data is not None else load_data(cfg)
    check_stop()
    train_set, val_set = to_tensor_data(train_raw), to_tensor_data(val_raw)
    train_set, pool, hidden = split_pool(cfg, train_set)  # a label budget: the rest loses its labels
    num_classes = len(train_set.classes)
    check = preflight(cfg, num_classes, history)
    device = torch.device(check.device)
    check_stop()

    model, head = build_model(cfg, num_classes, resolve_run)
    zeroed, whitened, frozen = _init_model(cfg, model, head, train_set.images)
    model = model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    check_stop()
    teacher = load_teacher(cfg, num_classes, device, resolve_run, info)
    check_stop()
    if teacher is not None and cfg.channels_last:
        teacher = teacher.to(memory_format=torch.channels_last)

    spe = (cfg.steps_per_epoch(len(train_set.labels)) if pool is None
           else ssl_steps_per_epoch(len(pool), cfg.batch_size, cfg.ssl_mu))
    groups = param_groups(model, cfg.weight_decay, cfg.no_bias_decay, cfg.effective_lr,
                          cfg.backbone_lr_mult if cfg.transfer == "finetune_lower_lr" else 1.0,
                          head, frozen_backbone=frozen)
    optimizer = make_optimizer(groups, cfg)
    state = TrainState(
        config=cfg, model=model, optimizer=optimizer, scheduler=make_scheduler(optimizer, cfg, spe),
        criterion=make_criterion(cfg), device=device,
        # data lives on the device as uint8 (4x smaller than float); normalised per batch
        x_train=train_set.images.to(device), y_train=train_set.labels.to(device),
        x_val=val_set.images.to(device), y_val=val_set.labels.to(device),
        num_classes=num_classes, steps_per_epoch=spe, student=for_model(cfg.model), aug=augment_config(cfg),
        pipeline=augment_pipeline(cfg),
        gen=torch.Generator(device=device).manual_seed(cfg.seed),
        aug_gen=torch.Generator().manual_seed(cfg.seed + 1),  # augmentation and mixing draws (CPU)
        head=head, frozen=frozen, teacher=teacher,
        # the teacher sees the same (augmented, mixed) images, in its own input format
        teacher_pre=for_model(info["teacher"]["model"]) if teacher is not None else None,
        scaler=torch.amp.GradScaler("cuda") if cfg.precision == "fp16" else None,
        amp_dtype={"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision),
        channels_last=cfg.channels_last, t_start=t_start)
    if cfg.ema_decay > 0:
        state.ema = WeightEMA(model, cfg.ema_decay)
    if pool is not None:
        state.ssl = make_ssl_state(state, pool, hidden)
        info.update({"labelled": len(train_set), "unlabelled": len(pool),
                     "hidden_labels_known": state.ssl.hidden is not None})
    info.update({
        "classes": list(train_set.classes), "num_classes": num_classes, "device": str(device),
        "params": sum(p.numel() for p in model.parameters()),
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "steps_per_epoch": spe, "zero_gamma_layers": zeroed, "whitened_stem": whitened,
        "notes": list(check.notes),
        "memory_estimate_bytes": check.memory_bytes, "time_estimate_s": check.time_estimate_s,
        "param_groups": [{"name": g["name"], "lr": g["lr"], "weight_decay": g["weight_decay"],
                          "params": sum(p.numel() for p in g["params"])} for g in groups],
    })
    return state
