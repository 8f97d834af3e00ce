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
whitened stem     first conv = ± eigenvectors of the training patches' covariance / √λ, frozen (airbench, 2024)
flip TTA          validation logits averaged over each image and its mirror (airbench, 2024)
channels_last     ``torch.channels_last`` images, weights and activations (oneDNN on CPU, tensor cores on GPU)
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
ends in one of ``done | cancelled | diverged | failed``; :mod:`vizcore.lab.store` stores and queues runs.

Example (CPU, a few seconds)::

    cfg = TrainConfig(model="small_cnn", dataset="shapes", train_size=512, val_size=256, epochs=1)
    run = Run(cfg); run.subscribe(print); run.start(); run.wait()
"""
from __future__ import annotations

import math
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vizcore.core.device import load_per_core
from vizcore.models import registry as zoo
from vizcore.models.preprocess import for_model
from vizcore.models.weights import checkpoint_meta, get_model, load_checkpoint, save_checkpoint
from vizcore.train.config import FINAL_STATUSES, Status, TrainConfig
from vizcore.train.data import augment_config, augment_pipeline, load_data, to_tensor_data
from vizcore.train.loop import (
    Callback,
    EpochCheckpoints,
    EpochMeter,
    Event,
    TrainState,
    evaluate,
    run_callbacks,
    set_train_mode,
    train_step,
)
from vizcore.train.preflight import preflight
from vizcore.train.schedule import make_scheduler
from vizcore.train.timing import PastRun
from vizcore.train.tricks import make_criterion, make_optimizer, param_groups, whiten_stem_, zero_gamma_

WHITEN_IMAGES = 512  # training images whose patches set the whitened stem (a 12x12 covariance needs few)


def build_train_model(name: str, num_classes: int, seed: int = 0) -> nn.Module:
    """A zoo model with ``num_classes`` outputs and its own weights (never a shared, cached instance)."""
    return zoo.build_model(name, num_classes=num_classes, seed=seed)


# ---------------------------------------------------------------------------------------- run



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

    The final weights (after the last completed epoch) go to ``checkpoint_path`` when given. With
    ``config.keep_epochs`` = E > 0 the weights of the last E epochs also go to ``epochs_dir`` (default: the folder
    ``<checkpoint_path without .pt>_epochs`` beside the final checkpoint) as ``epoch_<k>.pt``, in the same format
    (:class:`~vizcore.train.loop.EpochCheckpoints`); :attr:`kept_epochs` lists them. ``data``
    (train, val) skips loading the data set (tests, benchmarks); ``resolve_run`` maps a run id to its
    checkpoint for distillation teachers and transfer sources. ``callbacks`` (:class:`~vizcore.train.loop.Callback`)
    see the live training state after setup, every step and every epoch, and the run's end.
    """

    def __init__(self, config: TrainConfig, run_id: str | None = None, *,
                 checkpoint_path: str | Path | None = None,
                 data: tuple[Any, Any] | None = None,
                 resolve_run: Resolver | None = None,
                 callbacks: Sequence[Callback] = (),
                 epochs_dir: str | Path | None = None,
                 history: Sequence[PastRun] = ()) -> None:
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
        self._history = tuple(history)  # finished runs on this machine: the time estimate rests on them
        self._resolve_run = resolve_run
        self._subscribers: list[Callable[[Event], None]] = []
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.callbacks: list[Callback] = list(callbacks)
        self.epoch_keeper: EpochCheckpoints | None = None
        if config.keep_epochs:
            if epochs_dir is not None:
                folder = Path(epochs_dir)
            elif self.checkpoint_path is not None:
                folder = epochs_folder(self.checkpoint_path)
            else:
                raise ValueError(f"expected epochs_dir or checkpoint_path for keep_epochs={config.keep_epochs} "
                                 "(where the epoch weights go), got neither")
            self.epoch_keeper = EpochCheckpoints(folder, config.keep_epochs,
                                                 meta_fn=lambda _state, ev: self._checkpoint_meta(ev["epoch"]))
            self.callbacks.append(self.epoch_keeper)
        self._abort_reason: str | None = None
        self._state: TrainState | None = None
        self._meter: EpochMeter | None = None
        self._t_epoch = 0.0

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

    def abort(self, reason: str) -> None:
        """Stop the run after the current step and end it as ``failed`` with ``reason`` (e.g. a subscriber that
        can no longer record it)."""
        self._abort_reason = reason
        self.cancel()

    def wait(self, timeout: float | None = None) -> str:
        """Block until the run ends (or ``timeout`` seconds pass); returns the status."""
        self._done.wait(timeout)
        return self.status

    @property
    def started(self) -> bool:
        """True once :meth:`start` or :meth:`run_sync` was called."""
        return self._thread is not None

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def kept_epochs(self) -> list[int]:
        """Epochs whose weights are kept on disk now (``config.keep_epochs`` > 0), oldest first."""
        return self.epoch_keeper.epochs if self.epoch_keeper is not None else []

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
        except OSError as exc:  # disk full, permission denied: a sentence with the path, not a traceback
            self._set_status("failed", f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
        except Exception as exc:  # noqa: BLE001 — reported as the run's failure, with its type
            traceback.print_exc()
            self._set_status("failed", f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
        finally:
            try:
                run_callbacks(self.callbacks, "on_end", self._state, self.status)
            except Exception:  # noqa: BLE001 - a broken callback must not hide the run's own outcome
                traceback.print_exc()
            self._state = None  # the run keeps no device tensors once it ended
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
            model = get_model(cfg.model, weights="pretrained")
        else:
            path, meta = self._source_checkpoint(str(cfg.transfer_from))
            src_model = meta.get("model", cfg.model)
            if src_model != cfg.model:
                raise ValueError(f"expected a {cfg.model} checkpoint to transfer from, got one of {src_model}")
            model = zoo.build_model(cfg.model, num_classes=meta.get("num_classes"), seed=cfg.seed)
            load_checkpoint(model, path)
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
        load_checkpoint(teacher, path)
        teacher.eval().requires_grad_(False)
        self.info["teacher"] = {"model": name, "checkpoint": str(path)}
        return teacher.to(device)

    def _setup(self) -> TrainState:
        """Data, model, optimizer, schedule, loss and precision for this run, all on the chosen device."""
        cfg = self.config
        t_start = time.perf_counter()
        train_raw, val_raw = self._data if self._data is not None else load_data(cfg)
        train_set, val_set = to_tensor_data(train_raw), to_tensor_data(val_raw)
        num_classes = len(train_set.classes)
        check = preflight(cfg, num_classes, self._history)
        device = torch.device(check.device)

        model, head = self._build_model(num_classes)
        # zero-gamma and whitening are initialisations: applied to loaded (transfer) weights they would erase
        # learned layers
        zeroed = zero_gamma_(model) if cfg.zero_gamma and cfg.transfer == "none" else []
        whitened = None
        if cfg.whiten_stem and cfg.transfer == "none":
            pre = for_model(cfg.model)
            sample = train_set.images[:WHITEN_IMAGES].float().div_(255.0)
            whitened = whiten_stem_(model, pre.normalize(sample))
        frozen = cfg.transfer == "linear_probe"
        if frozen:
            for n, p in model.named_parameters():
                p.requires_grad_(n == head or n.startswith(str(head) + "."))
        model = model.to(device)
        if cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        teacher = self._teacher(num_classes, device)
        if teacher is not None and cfg.channels_last:
            teacher = teacher.to(memory_format=torch.channels_last)

        spe = cfg.steps_per_epoch(len(train_set.labels))
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
            teacher_pre=for_model(self.info["teacher"]["model"]) if teacher is not None else None,
            scaler=torch.amp.GradScaler("cuda") if cfg.precision == "fp16" else None,
            amp_dtype={"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision),
            channels_last=cfg.channels_last, t_start=t_start)
        self.info.update({
            "classes": list(train_set.classes), "num_classes": num_classes, "device": str(device),
            "params": sum(p.numel() for p in model.parameters()),
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "steps_per_epoch": spe, "zero_gamma_layers": zeroed, "whitened_stem": whitened,
            "notes": list(check.notes),
            "memory_estimate_bytes": check.memory_bytes, "time_estimate_s": check.time_estimate_s,
            "param_groups": [{"name": g["name"], "lr": g["lr"], "weight_decay": g["weight_decay"],
                              "params": sum(p.numel() for p in g["params"])} for g in groups],
        })
        if self.epoch_keeper is not None:
            self.info.update({"keep_epochs": cfg.keep_epochs, "epochs_dir": str(self.epoch_keeper.folder),
                              "kept_epochs": []})
        return state

    def _train(self) -> tuple[Status, str]:
        """Setup, then epochs of steps; each epoch ends with validation, a checkpoint and the callbacks."""
        state = self._setup()
        self._state = state
        self._emit({"kind": "info", **self.info})
        run_callbacks(self.callbacks, "on_setup", state)
        cfg = state.config
        for epoch in range(1, cfg.epochs + 1):
            state.epoch = epoch
            stop = self._run_epoch(state)
            if stop is not None:
                return stop
            stop = self._end_epoch(state)
            if stop is not None:
                return stop
        self.model = state.model.to("cpu").to(memory_format=torch.contiguous_format).eval()
        last = self.history[-1]
        return "done", (f"{cfg.epochs} epochs in {time.perf_counter() - state.t_start:.1f} s; "
                        f"val accuracy {100 * last['val_acc']:.1f}%")

    def _run_epoch(self, state: TrainState) -> tuple[Status, str] | None:
        """The steps of one epoch, with a "step" event every ``log_every`` steps; a reason to stop, or None."""
        cfg, epoch = state.config, state.epoch
        self._t_epoch = time.perf_counter()
        set_train_mode(state)
        perm = torch.randperm(len(state.y_train), generator=state.gen, device=state.device)
        self._meter = meter = EpochMeter(state.device)
        win_loss = torch.zeros((), device=state.device)
        win_t, win_n, win_steps = time.perf_counter(), 0, 0
        for i in range(state.steps_per_epoch):
            loss, out, yb = train_step(state, perm[i * cfg.batch_size:(i + 1) * cfg.batch_size])
            lr_used = state.optimizer.param_groups[0]["lr"]
            if state.scheduler is not None:
                state.scheduler.step()
            meter.add(loss, out, yb)
            win_loss += loss.detach()
            win_n += len(yb)
            win_steps += 1
            run_callbacks(self.callbacks, "on_step_end", state, loss)
            if state.step % cfg.log_every == 0 or i == state.steps_per_epoch - 1:
                mean_loss = float(win_loss) / win_steps  # the one sync per window
                if not math.isfinite(mean_loss):
                    return self._stop_diverged(epoch, state.step, mean_loss)
                now = time.perf_counter()
                ev = {"kind": "step", "step": state.step, "epoch": epoch, "loss": mean_loss, "lr": float(lr_used),
                      "throughput": win_n / max(now - win_t, 1e-9), "time": time.time()}
                self.last_step = ev
                self._emit(ev)
                win_loss = torch.zeros((), device=state.device)
                win_t, win_n, win_steps = now, 0, 0
            if self._cancel.is_set():
                if self._abort_reason is not None:
                    return "failed", f"{self._abort_reason} (epoch {epoch}, step {state.step})"
                return "cancelled", f"cancelled in epoch {epoch} at step {state.step}; " + self._keep_note(epoch)
            if time.perf_counter() - state.t_start > cfg.time_budget_s:
                return "cancelled", (f"stopped at the time budget of {cfg.time_budget_s:.0f} s in epoch {epoch}; "
                                     + self._keep_note(epoch))
        return None

    def _end_epoch(self, state: TrainState) -> tuple[Status, str] | None:
        """Validation, the epoch event, the checkpoint and the callbacks; a reason to stop, or None."""
        meter, epoch = self._meter, state.epoch
        assert meter is not None  # set by _run_epoch
        train_loss = float(meter.loss_sum) / max(meter.seen, 1)  # also waits for the device: train_time_s is honest
        train_time = time.perf_counter() - self._t_epoch
        if not math.isfinite(train_loss):
            return self._stop_diverged(epoch, state.step, train_loss)
        val_loss, val_acc = evaluate(state.model, state.x_val, state.y_val, state.prepare, state.autocast,
                                     criterion_batch=512, tta_flip=state.config.tta_flip)
        if not math.isfinite(val_loss):
            return self._stop_diverged(epoch, state.step, val_loss)
        ev = {"kind": "epoch", "epoch": epoch, "train_loss": train_loss,
              "train_acc": int(meter.correct) / max(meter.seen, 1), "val_loss": val_loss, "val_acc": val_acc,
              "lr": float(state.optimizer.param_groups[0]["lr"]), "time_s": time.perf_counter() - self._t_epoch,
              "train_time_s": train_time, "images_per_s": meter.seen / max(train_time, 1e-9),
              "elapsed_s": time.perf_counter() - state.t_start, "time": time.time(), "load": load_per_core()}
        self.history.append(ev)
        self.epochs_done = epoch
        self._save(state.model, epoch)
        run_callbacks(self.callbacks, "on_epoch_end", state, ev)
        self._emit(ev)
        if self._abort_reason is not None:
            return "failed", f"{self._abort_reason} (after epoch {epoch})"
        return None

    def _keep_note(self, epoch: int) -> str:
        done = epoch - 1
        if done == 0:
            return "no epoch completed, no checkpoint"
        return f"checkpoint and metrics of the {done} completed epoch{'s' if done > 1 else ''} kept"

    def _stop_diverged(self, epoch: int, step: int, value: float) -> tuple[Status, str]:
        return "diverged", (f"loss became {value} at step {step} (epoch {epoch}); lower the learning rate "
                            f"(effective {self.config.effective_lr:g}) or add warmup; " + self._keep_note(epoch))

    def _checkpoint_meta(self, epoch: int) -> dict[str, Any]:
        """The sidecar metadata of a checkpoint after ``epoch`` (final and kept epochs alike)."""
        return {"model": self.config.model, "num_classes": self.info.get("num_classes"),
                "classes": self.info.get("classes"), "dataset": self.config.dataset,
                "image_size": self.config.image_size, "epoch": epoch, "run_id": self.id,
                "val_acc": self.history[-1]["val_acc"] if self.history else None,
                "config": self.config.to_dict()}

    def _save(self, model: nn.Module, epoch: int) -> None:
        if self.checkpoint_path is None:
            return
        save_checkpoint(model, self.checkpoint_path, self._checkpoint_meta(epoch))


def epochs_folder(checkpoint_path: str | Path) -> Path:
    """Where a run keeps its epoch weights by default: ``<checkpoint without its suffix>_epochs`` beside it."""
    p = Path(checkpoint_path)
    return p.with_name(p.stem + "_epochs")
