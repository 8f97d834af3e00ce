"""Semi-supervised training steps: pseudo-labels, FixMatch and Noisy Student, on a labelled set and a pool.

* pseudo_label — Lee, *Pseudo-Label: The Simple and Efficient Semi-Supervised Learning Method*, ICML-W 2013,
  in its online form: the network's own confident predictions (top probability ≥ τ) on the weakly augmented
  unlabelled images are their targets, with weight λ_u (ramped up over ``ssl_rampup_epochs``, Lee's α(t)).
* fixmatch — Sohn et al., *FixMatch: Simplifying Semi-Supervised Learning with Consistency and Confidence*,
  NeurIPS 2020: the weak view (flip, crop) of an unlabelled image gives the pseudo-label when its top
  probability ≥ τ; the loss is cross-entropy on a strong view (flip, crop, RandAugment, Cutout; or any pipeline,
  ``TrainConfig.ssl_strong_pipeline``, such as :func:`invariant_strong_pipeline`) of the same image; μ unlabelled
  images per labelled one. With ``ssl_ema_teacher`` the weight average (:mod:`vizcore.train.ema`) labels the weak
  view instead (a mean teacher; on shapes with 4 labels per class 42.6% against 48.0% without, one seed). Labelled, weak and strong views share one forward pass, as in the
  paper's code (a separate forward of the weak view, normalised by its own batch, cost 9.7 points on shapes with 4
  labels per class: 28.1% against 37.8%, one seed).
* noisy_student — Xie, Luong, Hovy, Le, *Self-training with Noisy Student improves ImageNet classification*,
  CVPR 2020: a frozen teacher labels the clean unlabelled images (hard or soft labels, kept where confident),
  and an equal-or-larger student learns them under noise: the strong view, dropout on the classifier's input,
  and stochastic depth where the model has it.

All views come from the project's one augmentation pipeline (:mod:`vizcore.data.pipeline`). The pool carries
no labels (:class:`vizcore.data.unlabelled.UnlabelledPool`); its hidden labels, when known, only count how
often pseudo-labels are right for the per-epoch ``ssl`` log and never enter a loss.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from vizcore.data.pipeline import Pipeline, Step, load_pipeline, preset_pipeline
from vizcore.data.unlabelled import HiddenLabels, UnlabelledPool
from vizcore.train.loop import TrainState
from vizcore.train.ssl_thresholds import Threshold


def weak_pipeline(image_size: int) -> Pipeline:
    """The weak view: random flip and a reflect-padded random crop (1/8 of the side: 4 px at 32)."""
    return preset_pipeline("flip_crop", crop_padding=max(1, image_size // 8))


ALIGN_MOMENTUM = 0.999  # measured on shapes, 4 labels per class: 40.7% against 33.0% with 0.99 (one seed)
CUTOUT_FRACTION = 0.25  # Cutout side / image side: half the side (FixMatch's largest) often hid a whole shape


def strong_pipeline(image_size: int, randaugment_n: int = 2, randaugment_m: int = 9) -> Pipeline:
    """The strong view: the weak view, RandAugment (N ops at magnitude M) and a grey Cutout square."""
    weak = weak_pipeline(image_size)
    side = max(1, round(CUTOUT_FRACTION * image_size))
    return Pipeline((*weak.steps, Step("randaugment", 1.0, {"n": randaugment_n, "m": randaugment_m}),
                     Step("cutout", 1.0, {"size": side, "value": 127})), "strong")


def invariant_strong_pipeline(image_size: int) -> Pipeline:
    """A strong view made of the nuisances of a data set whose objects come at any angle and in any colours (the
    embedded shapes): the weak view, a rotation by up to ±180°, colour jitter with any hue, then shear, sharpness,
    posterize, solarize and autocontrast each with probability 0.2 or 0.3, and a grey Cutout square. On shapes,
    RandAugment's Equalize turns the faint background grain into the 'noise' texture, and its ±9° rotation teaches
    little of the invariance to rotation that the classes have."""
    weak = weak_pipeline(image_size)
    side = max(1, round(CUTOUT_FRACTION * image_size))
    return Pipeline((*weak.steps, Step("rotation", 1.0, {"degrees": 180.0, "fill_mode": "reflect"}),
                     Step("color_jitter", 0.8, {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.5}),
                     Step("shear", 0.3, {"degrees": 15.0, "fill_mode": "reflect"}), Step("sharpness", 0.2, {"factor": 2.0}),
                     Step("posterize", 0.2, {"bits": 4}), Step("solarize", 0.2, {"threshold": 128}),
                     Step("autocontrast", 0.2), Step("cutout", 1.0, {"size": side, "value": 127})), "invariant strong")


@dataclass
class SSLMeter:
    """Per-epoch sums of the unlabelled branch, on the device (no sync per step)."""

    num_classes: int
    device: torch.device
    seen: torch.Tensor = field(init=False)  # unlabelled images seen, per pseudo-class
    passed: torch.Tensor = field(init=False)  # of those, passed the threshold
    correct: torch.Tensor = field(init=False)  # passed and equal to the hidden label
    loss_sum: torch.Tensor = field(init=False)
    steps: int = 0

    def __post_init__(self) -> None:
        z = lambda: torch.zeros(self.num_classes, dtype=torch.long, device=self.device)  # noqa: E731
        self.seen, self.passed, self.correct = z(), z(), z()
        self.loss_sum = torch.zeros((), device=self.device)


@dataclass
class SSLState:
    """What a semi-supervised run carries besides :class:`~vizcore.train.loop.TrainState`."""

    method: str  # none (supervised on the label budget), pseudo_label, fixmatch, noisy_student
    pool: torch.Tensor  # (M, C, H, W) uint8 unlabelled images on the device (no labels)
    hidden: torch.Tensor | None  # (M,) int64 true labels for reports only, or None when unknown
    labelled_batch: int
    unlabelled_batch: int
    threshold: Threshold
    weak: Pipeline
    strong: Pipeline
    meter: SSLMeter
    mean_probs: torch.Tensor | None = None  # running mean of the weak-view probabilities (distribution alignment)
    l_perm: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))
    u_perm: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))

    @torch.no_grad()
    def align(self, probs: torch.Tensor) -> torch.Tensor:
        """Distribution alignment (ReMixMatch): probs (B, K) × (1/K) / running mean of probs, renormalised. The
        running mean (momentum :data:`ALIGN_MOMENTUM`) starts at the uniform prior."""
        k = probs.shape[1]
        if self.mean_probs is None:
            self.mean_probs = torch.full((k,), 1.0 / k, device=probs.device)
        self.mean_probs = ALIGN_MOMENTUM * self.mean_probs + (1 - ALIGN_MOMENTUM) * probs.mean(0)
        out = probs / (k * self.mean_probs)
        return out / out.sum(1, keepdim=True)

    def take(self, n: int, which: str, total: int, gen: torch.Generator) -> torch.Tensor:
        """The next ``n`` indices of a shuffled cycle over ``total`` items (a new permutation when one runs out)."""
        perm = self.l_perm if which == "l" else self.u_perm
        while len(perm) < n:
            perm = torch.cat([perm, torch.randperm(total, generator=gen, device=gen.device).to(perm.device)])
        out, rest = perm[:n], perm[n:]
        if which == "l":
            self.l_perm = rest
        else:
            self.u_perm = rest
        return out


def steps_per_epoch(pool_size: int, batch_size: int, mu: int) -> int:
    """One epoch = one pass over the unlabelled pool at μ·B images per step (for every method, so they compare
    at equal steps); at least one step."""
    return max(1, pool_size // (mu * batch_size))


def make_ssl_state(state: TrainState, pool: UnlabelledPool, hidden: HiddenLabels | None) -> SSLState:
    """The :class:`SSLState` of a run whose TrainState is ready; moves the pool to the device."""
    cfg = state.config
    dev = state.device
    known = hidden is not None and hidden.known
    if cfg.ssl == "noisy_student":
        _check_student(state)
        _add_dropout(state, cfg.ssl_dropout)
    return SSLState(
        method=cfg.ssl, pool=pool.images.to(dev), hidden=hidden.labels.to(dev) if known and hidden else None,
        labelled_batch=cfg.batch_size, unlabelled_batch=cfg.ssl_mu * cfg.batch_size,
        threshold=Threshold(cfg.ssl_threshold, cfg.ssl_tau, state.num_classes, len(pool), dev),
        weak=weak_pipeline(cfg.image_size),
        strong=(load_pipeline(cfg.ssl_strong_pipeline) if cfg.ssl_strong_pipeline is not None
                else strong_pipeline(cfg.image_size, cfg.randaugment_n, cfg.randaugment_m)),
        meter=SSLMeter(state.num_classes, dev),
        l_perm=torch.empty(0, dtype=torch.long, device=dev), u_perm=torch.empty(0, dtype=torch.long, device=dev))


def _check_student(state: TrainState) -> None:
    if state.teacher is None:
        raise ValueError("expected a teacher (distill_teacher) for ssl='noisy_student', got none")
    n_s = sum(p.numel() for p in state.model.parameters())
    n_t = sum(p.numel() for p in state.teacher.parameters())
    if n_s < n_t:
        raise ValueError(f"expected a student of equal or larger size than its teacher ({n_t:,} parameters), got "
                         f"{state.config.model} with {n_s:,}")


def _add_dropout(state: TrainState, p: float) -> None:
    """Dropout on the classifier's input while training (Noisy Student's model noise, for every zoo model)."""
    from vizcore.models import registry as zoo

    if p <= 0:
        return
    head = state.model.get_submodule(zoo.classifier_path(state.model))
    head.register_forward_pre_hook(lambda m, args: (F.dropout(args[0], p, m.training), *args[1:]))


def _views(state: TrainState, x: torch.Tensor, pipe: Pipeline) -> torch.Tensor:
    """uint8 images -> the pipeline's view in [0, 1]."""
    if pipe.steps:
        x, _ = pipe.run(x, state.aug_gen)
    return x.float().div_(255.0)


def ssl_step(state: TrainState) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One optimizer step on a labelled batch (B) and, with a method, an unlabelled batch (μ·B).

    Returns (loss, labelled logits (B, K), labels (B,)), on the device, as
    :func:`vizcore.train.loop.train_step` does."""
    cfg, s = state.config, state.ssl
    assert s is not None
    li = s.take(s.labelled_batch, "l", len(state.y_train), state.gen)
    xl, yl = state.x_train[li], state.y_train[li]
    xl01 = _views(state, xl, state.pipeline) if state.pipeline is not None else xl.float().div_(255.0)
    nb = len(yl)
    with state.autocast():
        if s.method == "none":
            out_l = state.model(state.to_input(xl01)).float()
            loss = state.criterion(out_l, yl)
        else:
            ui = s.take(s.unlabelled_batch, "u", len(s.pool), state.gen)
            xu = s.pool[ui]
            out_l, loss_u = _unlabelled_loss(state, s, xl01, xu, ui)
            ramp = 1.0
            if cfg.ssl_rampup_epochs > 0:
                ramp = min(1.0, state.step / (cfg.ssl_rampup_epochs * state.steps_per_epoch))
            loss = state.criterion(out_l, yl) + cfg.ssl_lambda * ramp * loss_u
            s.meter.loss_sum += loss_u.detach()
            s.meter.steps += 1
    state.optimizer.zero_grad(set_to_none=True)
    if state.scaler is not None:
        state.scaler.scale(loss).backward()
        state.scaler.step(state.optimizer)
        state.scaler.update()
    else:
        loss.backward()
        state.optimizer.step()
    state.step += 1
    return loss, out_l[:nb], yl


def _unlabelled_loss(state: TrainState, s: SSLState, xl01: torch.Tensor, xu: torch.Tensor, ui: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(labelled logits (B, K), unlabelled loss ()) of one step. xl01: (B, C, H, W) in [0, 1]; xu: (μB, C, H, W)
    uint8 pool images at pool indices ``ui``. No label of the pool is read here."""
    nb, model = len(xl01), state.model
    soft: torch.Tensor | None = None
    if state.config.ssl_ema_teacher and state.ema is not None and s.method in ("fixmatch", "pseudo_label"):
        out_l, out_u, probs = _teacher_forward(state, s, xl01, xu)
    elif s.method == "fixmatch":  # one forward: batch norm normalises all three views with the same statistics
        n_u = len(xu)
        out = model(state.to_input(torch.cat([xl01, _views(state, xu, s.weak), _views(state, xu, s.strong)]))).float()
        out_l, out_u = out[:nb], out[nb + n_u:]
        probs = out[nb:nb + n_u].detach().softmax(1)  # the weak view's prediction is a target, not trained
    elif s.method == "pseudo_label":
        weak = _views(state, xu, s.weak)
        out = model(state.to_input(torch.cat([xl01, weak]))).float()
        out_l, out_u = out[:nb], out[nb:]
        probs = out_u.detach().softmax(1)
    else:  # noisy_student: the teacher sees clean images, in eval mode; the student a strong view
        assert state.teacher is not None
        with torch.no_grad():
            probs = state.teacher(state.to_input(xu.float().div(255.0), state.teacher_pre)).float().softmax(1)
        out = model(state.to_input(torch.cat([xl01, _views(state, xu, s.strong)]))).float()
        out_l, out_u = out[:nb], out[nb:]
        soft = probs if state.config.ssl_soft else None
    if state.config.ssl_align:
        probs = s.align(probs)
    mask, pseudo, _ = s.threshold.mask(probs, ui)
    per = (-(soft * out_u.log_softmax(1)).sum(1) if soft is not None
           else F.cross_entropy(out_u, pseudo, reduction="none"))
    loss_u = (per * mask.float()).mean()
    _count(s, mask, pseudo, ui)
    return out_l, loss_u


def _teacher_forward(state: TrainState, s: SSLState, xl01: torch.Tensor, xu: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(labelled logits, unlabelled logits, targets' probabilities) with a mean teacher: the weight average, in eval
    mode, predicts the weak view; the trained model sees the labelled images and the strong view (FixMatch) or the
    weak view (pseudo-labels) in one forward. The weak view then costs a forward without a backward."""
    assert state.ema is not None
    weak = _views(state, xu, s.weak)
    with torch.no_grad():
        probs = state.ema.module(state.to_input(weak)).float().softmax(1)
    trained = _views(state, xu, s.strong) if s.method == "fixmatch" else weak
    out = state.model(state.to_input(torch.cat([xl01, trained]))).float()
    nb = len(xl01)
    return out[:nb], out[nb:], probs


@torch.no_grad()
def _count(s: SSLState, mask: torch.Tensor, pseudo: torch.Tensor, ui: torch.Tensor) -> None:
    k = s.meter.num_classes
    s.meter.seen += torch.bincount(pseudo, minlength=k)
    s.meter.passed += torch.bincount(pseudo[mask], minlength=k)
    if s.hidden is not None:  # reports only: how many passed pseudo-labels are right
        right = mask & (pseudo == s.hidden[ui])
        s.meter.correct += torch.bincount(pseudo[right], minlength=k)


def epoch_log(s: SSLState) -> dict[str, Any]:
    """The epoch's ``ssl`` record, then a fresh meter: pass_rate, pseudo_label_accuracy (None without hidden
    labels or without a passed image), per_class_pass_rate (None for a class never predicted), threshold (mean
    of the per-class thresholds), per_class_threshold, unlabelled_loss."""
    m = s.meter
    seen, passed, correct = m.seen.cpu(), m.passed.cpu(), m.correct.cpu()
    thr = s.threshold.per_class().float().cpu()
    total_seen, total_passed = int(seen.sum()), int(passed.sum())
    out = {
        "method": s.method,
        "pass_rate": total_passed / total_seen if total_seen else None,
        "pseudo_label_accuracy": (int(correct.sum()) / total_passed
                                  if s.hidden is not None and total_passed else None),
        "per_class_pass_rate": [int(p) / int(n) if int(n) else None for p, n in zip(passed, seen)],
        "threshold": float(thr.mean()),
        "per_class_threshold": [float(t) for t in thr],
        "unlabelled_loss": float(m.loss_sum) / m.steps if m.steps else None,
        "unlabelled_seen": total_seen,
    }
    s.meter = SSLMeter(m.num_classes, m.device)
    return out
