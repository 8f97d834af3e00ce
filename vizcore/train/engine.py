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
few labels        a label budget and an unlabelled pool; pseudo-labels (Lee 2013), FixMatch (Sohn et al., 2020),
                  Noisy Student (Xie et al., 2020): :mod:`vizcore.train.ssl`
================  ==========================================================================================

A :class:`Run` trains its own model instance in a background thread, streams events to subscribers and
ends in one of ``done | cancelled | diverged | failed``; :mod:`vizcore.lab.store` stores and queues runs.
Its setup (data, model, teacher, optimizer, schedule, precision) is :mod:`vizcore.train.run_setup`; one
optimizer step and the validation pass (with flip TTA) are :mod:`vizcore.train.loop`'s.

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

from vizcore.core.device import load_with_me
from vizcore.models.weights import save_checkpoint
from vizcore.train.config import FINAL_STATUSES, Status, TrainConfig
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
from vizcore.train.run_setup import (  # noqa: F401 — WHITEN_IMAGES and build_train_model importable from here as before
    WHITEN_IMAGES,
    Resolver,
    SetupStopped,
    build_train_model,
    setup_state,
)
from vizcore.train.ssl import epoch_log, ssl_step
from vizcore.train.timing import PastRun


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

    def _setup(self) -> TrainState:
        """This run's :func:`~vizcore.train.run_setup.setup_state`, its info filled in as setup goes."""
        state = setup_state(self.config, self._data, self._history, self._resolve_run, self.info,
                            stopped=self._cancel.is_set)
        if self.epoch_keeper is not None:
            self.info.update({"keep_epochs": self.config.keep_epochs, "epochs_dir": str(self.epoch_keeper.folder),
                              "kept_epochs": []})
        return state

    def _train(self) -> tuple[Status, str]:
        """Setup, then epochs of steps; each epoch ends with validation, a checkpoint and the callbacks."""
        try:
            state = self._setup()
        except SetupStopped:
            if self._abort_reason is not None:
                return "failed", f"{self._abort_reason} (while preparing the data and the model)"
            return "cancelled", "cancelled while preparing the data and the model; no epoch completed, no checkpoint"
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
        self.model = state.eval_model.to("cpu").to(memory_format=torch.contiguous_format).eval()
        last = self.history[-1]
        robust = (f"; PGD-10 accuracy at ε {255 * cfg.adv_eps:.3g}/255 {100 * last['robust_acc']:.1f}%"
                  if "robust_acc" in last else "")
        collapsed = f"; {last['catastrophic_overfitting']}" if "catastrophic_overfitting" in last else ""
        return "done", (f"{cfg.epochs} epochs in {time.perf_counter() - state.t_start:.1f} s; "
                        f"val accuracy {100 * last['val_acc']:.1f}%{robust}{collapsed}")

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
            loss, out, yb = (ssl_step(state) if state.ssl is not None
                             else train_step(state, perm[i * cfg.batch_size:(i + 1) * cfg.batch_size]))
            if state.ema is not None:
                state.ema.update(state.model)
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
            stop = self._stop_reason(state)
            if stop is not None:
                return stop
        return None

    def _stop_reason(self, state: TrainState) -> tuple[Status, str] | None:
        """Cancelled, aborted or past the time budget: why to stop after this step, or None."""
        cfg, epoch = state.config, state.epoch
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
        val_loss, val_acc = evaluate(state.eval_model, state.x_val, state.y_val, state.prepare, state.autocast,
                                     criterion_batch=512, tta_flip=state.config.tta_flip)
        if not math.isfinite(val_loss):
            return self._stop_diverged(epoch, state.step, val_loss)
        robust = self._robust(state)
        ev = {"kind": "epoch", "epoch": epoch, "train_loss": train_loss,
              "train_acc": int(meter.correct) / max(meter.seen, 1), "val_loss": val_loss, "val_acc": val_acc,
              "lr": float(state.optimizer.param_groups[0]["lr"]), "time_s": time.perf_counter() - self._t_epoch,
              "train_time_s": train_time, "images_per_s": meter.seen / max(train_time, 1e-9),
              "elapsed_s": time.perf_counter() - state.t_start, "time": time.time(), "load": load_with_me(), **robust}
        if state.ssl is not None and state.ssl.method != "none":
            ev["ssl"] = epoch_log(state.ssl)
        self.history.append(ev)
        if robust:
            from vizcore.train.adversarial import catastrophic_overfitting

            note = catastrophic_overfitting(self.history)
            if note:
                ev["catastrophic_overfitting"] = note
        self.epochs_done = epoch
        self._save(state.eval_model, epoch)
        run_callbacks(self.callbacks, "on_epoch_end", state, ev)
        self._emit(ev)
        if self._abort_reason is not None:
            return "failed", f"{self._abort_reason} (after epoch {epoch})"
        return None

    def _robust(self, state: TrainState) -> dict[str, Any]:
        """{"robust_acc", "robust_eps", "robust_n"}: PGD-10 accuracy on the first ``robust_eval_size`` validation
        images (the same images every epoch), or {} when the config asks for none."""
        n = state.config.robust_eval_size
        if not n:
            return {}
        from vizcore.train.adversarial import robust_accuracy

        acc = robust_accuracy(state.eval_model, state.x_val[:n], state.y_val[:n], state.to_input, state.config.adv_eps,
                              state.autocast)
        return {"robust_acc": acc, "robust_eps": state.config.adv_eps, "robust_n": n}

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
