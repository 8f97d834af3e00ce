"""The training config: one frozen dataclass describing a run, every trick a named field.

See :mod:`vizcore.train.engine` for the tricks and the papers they come from. The defaults are the fast CPU
recipe (after Keller Jordan's airbench): ``fast_cnn`` with a whitened, frozen 2x2 stem, 2 epochs of 16,000 fresh
shapes, batch 128, Nesterov SGD at 0.3 with one epoch of linear warmup then cosine decay, no label smoothing (it
cost half a point here), random flips, flip test-time augmentation, channels_last, and one data set shared by
every seed (paired comparisons), validated on 4,000 images. ``python -m vizcore train --json`` trains it to about
99% in about 15 s on 2 idle CPU cores (``bench/default_run.py``). A whole epoch of warmup rather than half: the
same work, but over seeds the final accuracy went from 98.5% with a spread (sd) of 0.56 points (seeds 0-2) to
98.9% with 0.18 (seeds 0-4), so a 3-seed A/B tells apart differences of about 0.6 points.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal

from vizcore.core.checks import check_choice, check_range
from vizcore.models import registry as zoo

Status = Literal["queued", "running", "done", "cancelled", "diverged", "failed", "interrupted"]
FINAL_STATUSES: frozenset[str] = frozenset({"done", "cancelled", "diverged", "failed", "interrupted"})
OptimizerName = Literal["sgd", "nesterov", "adamw"]
ScheduleName = Literal["constant", "step", "cosine"]
Precision = Literal["fp32", "bf16", "fp16"]
AugmentName = Literal["none", "flip", "flip_crop", "randaugment", "trivialaugment"]
TransferMode = Literal["none", "linear_probe", "finetune", "finetune_lower_lr"]
AdvTrainName = Literal["none", "fgsm_rs", "pgd"]
SSLName = Literal["none", "pseudo_label", "fixmatch", "noisy_student"]
ThresholdName = Literal["fixed", "flexmatch", "freematch"]

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
AUGMENTS: tuple[str, ...] = ("none", "flip", "flip_crop", "randaugment", "trivialaugment")
TRANSFERS: tuple[str, ...] = ("none", "linear_probe", "finetune", "finetune_lower_lr")
ADV_TRAINS: tuple[str, ...] = ("none", "fgsm_rs", "pgd")
SSL_METHODS: tuple[str, ...] = ("none", "pseudo_label", "fixmatch", "noisy_student")
SSL_THRESHOLDS: tuple[str, ...] = ("fixed", "flexmatch", "freematch")
MAX_LABELLED_PER_CLASS = 100_000
MAX_SSL_MU = 16  # unlabelled images per labelled one in a step (FixMatch uses 7)
MAX_ADV_STEPS = 50  # PGD steps per training batch (PGD-7 to PGD-10 is the usual; more only multiplies the cost)
ROBUST_EVAL_DEFAULT = 256  # validation images attacked each epoch when adversarial training is on


_NO_LEGACY = object()


def _field(default: Any, help: str, legacy: Any = _NO_LEGACY) -> Any:
    """A dataclass field with its one-line ``help`` in the metadata (CLI help, widget tooltips).

    ``legacy``: for a field added after runs were already stored, the value that reproduces what those runs did
    (a stored config without the field gets it, not the new default: see :meth:`TrainConfig.from_dict`).
    """
    meta: dict[str, Any] = {"help": help}
    if legacy is not _NO_LEGACY:
        meta["legacy"] = legacy
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Derive variants with ``dataclasses.replace``.

    Upper bounds: epochs ≤ 200, batch_size ≤ 4096, train_size ≤ 200 000, val_size ≤ 50 000,
    8 ≤ image_size ≤ 256, lr ≤ 10, time budget ≤ 24 h, memory budget ≤ 256 GiB, keep_epochs ≤ 200 (and the
    kept weights within :data:`vizcore.train.disk.KEPT_EPOCHS_BUDGET_MB` on disk).
    """

    model: str = _field("fast_cnn", "zoo name (vizcore.models.registry.list_models())")
    dataset: str = _field("shapes", "data set name (vizcore.data.datasets.DATASETS)")
    data_root: str | None = _field(None, "folder of the 'folder' data set (or of downloaded torchvision files)")
    train_size: int = _field(16_000, "training images drawn from the data set (fewer if it has fewer)")
    val_size: int = _field(4000, "validation images (held out split); more images, less noise in val accuracy")
    image_size: int = _field(32, "side of the square input in pixels; images are resized to it")
    epochs: int = _field(2, "passes over the training images")
    batch_size: int = _field(128, "images per optimizer step")
    optimizer: OptimizerName = _field("nesterov", "sgd (heavy-ball momentum), nesterov (Sutskever et al., 2013), adamw")
    lr: float = _field(0.3, "base learning rate (the peak after warmup)")
    momentum: float = _field(0.9, "SGD momentum; AdamW uses it as beta1")
    linear_scaling: bool = _field(False, "use lr * batch_size / 256 instead of lr (Goyal et al., 2017)")
    schedule: ScheduleName = _field("cosine", "LR decay after warmup: constant, step (StepLR), cosine (CosineAnnealingLR)")
    warmup_epochs: float = _field(1.0, "linear warmup from lr/W to lr over this many epochs (W warmup steps)")
    step_size: float = _field(2.0, "step schedule: epochs between decays, counted from the end of warmup")
    gamma: float = _field(0.1, "step schedule: LR multiplier at each decay")
    weight_decay: float = _field(5e-4, "L2 penalty (decoupled for AdamW)")
    no_bias_decay: bool = _field(True, "no weight decay on biases and BN γ/β (He et al., 2019 §3.1)")
    label_smoothing: float = _field(0.0, "ε of label smoothing: target = (1-ε)·onehot + ε/K (Szegedy et al., 2016)")
    mixup_alpha: float = _field(0.0, "Beta(α, α) of mixup; 0 = off (Zhang et al., 2018)")
    cutmix_alpha: float = _field(0.0, "Beta(α, α) of cutmix; 0 = off (Yun et al., 2019)")
    mix_prob: float = _field(1.0, "probability a batch is mixed (when both are on, each is picked half the time)")
    zero_gamma: bool = _field(False, "γ = 0 for the last BN of each residual block: blocks start as identities")
    precision: Precision = _field("fp32", "fp32, bf16 autocast (CPU/GPU), fp16 autocast + GradScaler (GPU only)")
    augment: AugmentName = _field("flip", "augmentation preset: none, flip (random horizontal flip), flip_crop, "
                                          "randaugment, trivialaugment")
    randaugment_n: int = _field(2, "RandAugment: ops per image")
    randaugment_m: int = _field(9, "RandAugment: magnitude, 0..30")
    augment_pipeline: str | None = _field(None, "augmentation pipeline in place of the preset: JSON text (object or "
                                                "list of operations) or a JSON file path; stored as JSON")
    distill_teacher: str | None = _field(None, "knowledge distillation teacher: a run id or a checkpoint path")
    distill_T: float = _field(4.0, "distillation temperature T")
    distill_alpha: float = _field(0.5, "weight α of the distillation term; (1-α) goes to the hard-label loss")
    transfer: TransferMode = _field("none", "none, linear_probe (frozen backbone), finetune, finetune_lower_lr")
    transfer_from: str | None = _field(None, "source weights: 'pretrained' (ImageNet), a run id or a checkpoint path")
    backbone_lr_mult: float = _field(0.1, "finetune_lower_lr: backbone LR = lr * this")
    adv_train: AdvTrainName = _field("none", "adversarial training: none, fgsm_rs (FGSM from a random start, step "
                                             "1.25 ε; Wong, Rice & Kolter 2020), pgd (PGD-k; Madry et al. 2018)",
                                     legacy="none")
    adv_eps: float = _field(8 / 255, "adversarial training: L∞ radius ε in pixel units (8/255 ≈ 0.031)", legacy=8 / 255)
    adv_steps: int = _field(7, "adversarial training with pgd: steps per batch, each of 2.5 ε / steps", legacy=7)
    adv_warmup_epochs: float = _field(1.0, "adversarial training: ε grows linearly from 0 to adv_eps over this many "
                                           "epochs (0 = full ε from the first step)", legacy=1.0)
    robust_eval: int = _field(0, "validation images attacked with PGD-10 at adv_eps after every epoch (0 = "
                                 f"{ROBUST_EVAL_DEFAULT} with adversarial training, else none)", legacy=0)
    labelled_per_class: int | None = _field(None, "label budget: keep K labels per class (stratified, from the data "
                                                   "seed); the rest of the training pool becomes the unlabelled pool "
                                                   "(None = every label)", legacy=None)
    ssl: SSLName = _field("none", "semi-supervised method: none, pseudo_label (Lee 2013), fixmatch (Sohn et al. "
                                  "2020), noisy_student (Xie et al. 2020; distill_teacher is the teacher)",
                          legacy="none")
    ssl_tau: float = _field(0.95, "confidence threshold τ in (0, 1]: a pseudo-label counts when its top probability "
                                  "reaches it", legacy=0.95)
    ssl_threshold: ThresholdName = _field("fixed", "threshold: fixed τ, flexmatch (class-wise, Zhang et al. 2021) or "
                                                   "freematch (self-adaptive, Wang et al. 2023)", legacy="fixed")
    ssl_mu: int = _field(7, "μ: unlabelled images per labelled one in a step; an epoch is one pass over the "
                            "unlabelled pool at μ·batch_size per step, for every method", legacy=7)
    ssl_lambda: float = _field(1.0, "λ_u: weight of the unlabelled loss", legacy=1.0)
    ssl_rampup_epochs: float = _field(0.0, "λ_u grows linearly from 0 over this many epochs (Lee 2013's α(t))",
                                      legacy=0.0)
    ssl_soft: bool = _field(False, "noisy_student: soft pseudo-labels (the teacher's probabilities) instead of "
                                   "hard ones", legacy=False)
    ssl_dropout: float = _field(0.5, "noisy_student: dropout on the classifier's input (student noise)", legacy=0.5)
    ssl_strong_pipeline: str | None = _field(None, "the strong view as an augmentation pipeline (JSON text or a "
                                                    "JSON file path, stored as JSON) in place of flip, crop, "
                                                    "RandAugment and Cutout", legacy=None)
    ssl_align: bool = _field(False, "distribution alignment (Berthelot et al., ReMixMatch, 2020): weak-view "
                                    "probabilities × uniform prior / their running mean, renormalised, before the "
                                    "threshold; keeps pseudo-labels from collapsing onto a few classes", legacy=False)
    ema_decay: float = _field(0.0, "decay of an exponential moving average of the weights (0 = off); when on, "
                                   "validation and the saved weights are the average's (FixMatch: 0.999)", legacy=0.0)
    ssl_ema_teacher: bool = _field(False, "pseudo-labels from the weight average's prediction on the weak view "
                                          "(a mean teacher, Tarvainen & Valpola 2017) instead of the trained "
                                          "model's; needs ema_decay", legacy=False)
    seed: int = _field(0, "seeds data order, augmentation, mixing and the model's initial weights")
    data_seed: int | None = _field(0, "seeds the data set itself (generated shapes, splits of real data); None = "
                                      "seed, so every seed sees other images (noisier comparisons)", legacy=None)
    whiten_stem: bool = _field(True, "set the first conv to a patch-whitening filter bank (± eigenvectors of the "
                                     "training patches' covariance / √eigenvalue) and freeze it (airbench)",
                               legacy=False)
    tta_flip: bool = _field(True, "validation averages the logits of each image and its mirror image (flip "
                                  "test-time augmentation, airbench)", legacy=False)
    channels_last: bool = _field(True, "keep images and activations in channels_last (NHWC) memory: faster "
                                       "convolutions on CPU (oneDNN) and on GPU tensor cores", legacy=False)
    device: str | None = _field(None, "'cpu', 'cuda', 'mps' or None for the best available")
    time_budget_s: float = _field(600.0, "wall-clock budget: refused before start if the estimate exceeds it; stopped at it")
    memory_budget_mb: int = _field(4096, "refused before start if the estimated training memory exceeds it")
    log_every: int = _field(5, "steps between 'step' events (each costs one device sync)")
    keep_epochs: int = _field(0, "keep the weights of the last E epochs (0 = off) for CAM over training")

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"expected model to be a zoo name, got {self.model!r}")
        zoo.get_entry(self.model)  # raises "expected a model name from ..."
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"expected dataset to be a data set name, got {self.dataset!r}")
        check_range("train_size", self.train_size, 1, MAX_TRAIN_SIZE, integer=True)
        check_range("val_size", self.val_size, 1, MAX_VAL_SIZE, integer=True)
        check_range("image_size", self.image_size, MIN_IMAGE_SIZE, MAX_IMAGE_SIZE, integer=True)
        check_range("epochs", self.epochs, 1, MAX_EPOCHS, integer=True)
        check_range("batch_size", self.batch_size, 1, MAX_BATCH, integer=True)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_range("lr", self.lr, 0.0, MAX_LR, lo_open=True)
        check_range("momentum", self.momentum, 0.0, 0.999)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_range("warmup_epochs", self.warmup_epochs, 0.0, float(self.epochs))
        check_range("step_size", self.step_size, 0.0, float(MAX_EPOCHS), lo_open=True)
        check_range("gamma", self.gamma, 0.0, 1.0, lo_open=True)
        check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        check_range("label_smoothing", self.label_smoothing, 0.0, 0.99)
        check_range("mixup_alpha", self.mixup_alpha, 0.0, 10.0)
        check_range("cutmix_alpha", self.cutmix_alpha, 0.0, 10.0)
        check_range("mix_prob", self.mix_prob, 0.0, 1.0)
        check_choice("precision", self.precision, PRECISIONS)
        check_choice("augment", self.augment, AUGMENTS)
        check_range("randaugment_n", self.randaugment_n, 1, 10, integer=True)
        check_range("randaugment_m", self.randaugment_m, 0, 30, integer=True)
        for name in ("augment_pipeline", "ssl_strong_pipeline"):
            if getattr(self, name) is not None:
                from vizcore.data.pipeline import load_pipeline

                # a file path or a dict becomes canonical JSON text: the stored run holds the pipeline itself
                pipe = load_pipeline(getattr(self, name)).to_dict()
                object.__setattr__(self, name, json.dumps(pipe, sort_keys=True, separators=(",", ":")))
        if self.augment_pipeline is not None and self.augment != "none":
            raise ValueError(f"expected augment='none' with an augment_pipeline (the pipeline replaces the "
                             f"preset), got augment={self.augment!r}")
        if self.distill_teacher is not None and (not isinstance(self.distill_teacher, str) or not self.distill_teacher):
            raise ValueError(f"expected distill_teacher to be a run id or checkpoint path, got {self.distill_teacher!r}")
        check_range("distill_T", self.distill_T, 0.0, 100.0, lo_open=True)
        check_range("distill_alpha", self.distill_alpha, 0.0, 1.0)
        check_choice("transfer", self.transfer, TRANSFERS)
        if self.transfer != "none" and not self.transfer_from:
            raise ValueError(f"expected transfer_from (\"pretrained\", a run id or a checkpoint path) with "
                             f"transfer={self.transfer!r}, got {self.transfer_from!r}")
        if self.transfer == "none" and self.transfer_from:
            raise ValueError(f"expected transfer linear_probe, finetune or finetune_lower_lr with "
                             f"transfer_from={self.transfer_from!r}, got transfer='none'")
        check_range("backbone_lr_mult", self.backbone_lr_mult, 0.0, 1.0, lo_open=True)
        check_choice("adv_train", self.adv_train, ADV_TRAINS)
        check_range("adv_eps", self.adv_eps, 0.0, 0.5, lo_open=True)
        check_range("adv_steps", self.adv_steps, 1, MAX_ADV_STEPS, integer=True)
        check_range("adv_warmup_epochs", self.adv_warmup_epochs, 0.0, float(self.epochs))
        check_range("robust_eval", self.robust_eval, 0, MAX_VAL_SIZE, integer=True)
        if self.adv_train != "none" and (self.mixup_alpha > 0 or self.cutmix_alpha > 0):
            raise ValueError(f"expected mixup_alpha and cutmix_alpha 0 with adversarial training (the attack needs "
                             f"one true class per image), got adv_train={self.adv_train!r} with mixing on")
        self._check_ssl()
        check_range("seed", self.seed, 0, 2**31 - 1, integer=True)
        if self.data_seed is not None:
            check_range("data_seed", self.data_seed, 0, 2**31 - 1, integer=True)
        for name in ("whiten_stem", "tta_flip", "channels_last"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"expected {name} to be true or false, got {getattr(self, name)!r}")
        if self.device is not None and self.device not in ("cpu", "cuda", "mps") and not str(self.device).startswith("cuda:"):
            raise ValueError(f"expected device 'cpu', 'cuda', 'cuda:N', 'mps' or None, got {self.device!r}")
        check_range("time_budget_s", self.time_budget_s, 0.0, MAX_TIME_BUDGET_S, lo_open=True)
        check_range("memory_budget_mb", self.memory_budget_mb, 1, MAX_MEMORY_BUDGET_MB, integer=True)
        check_range("log_every", self.log_every, 1, 10_000, integer=True)
        check_range("keep_epochs", self.keep_epochs, 0, MAX_EPOCHS, integer=True)

    def _check_ssl(self) -> None:
        if self.labelled_per_class is not None:
            check_range("labelled_per_class", self.labelled_per_class, 1, MAX_LABELLED_PER_CLASS, integer=True)
        check_choice("ssl", self.ssl, SSL_METHODS)
        check_range("ssl_tau", self.ssl_tau, 0.0, 1.0, lo_open=True)
        check_choice("ssl_threshold", self.ssl_threshold, SSL_THRESHOLDS)
        check_range("ssl_mu", self.ssl_mu, 1, MAX_SSL_MU, integer=True)
        if self.batch_size * (1 + self.ssl_mu) > MAX_BATCH and (self.ssl != "none" or self.labelled_per_class):
            raise ValueError(f"expected batch_size × (1 + ssl_mu) ≤ {MAX_BATCH} (images in one step), got "
                             f"{self.batch_size} × {1 + self.ssl_mu}")
        check_range("ssl_lambda", self.ssl_lambda, 0.0, 100.0)
        check_range("ssl_rampup_epochs", self.ssl_rampup_epochs, 0.0, float(self.epochs))
        if not isinstance(self.ssl_soft, bool):
            raise ValueError(f"expected ssl_soft to be true or false, got {self.ssl_soft!r}")
        check_range("ssl_dropout", self.ssl_dropout, 0.0, 0.9)
        if not isinstance(self.ssl_align, bool):
            raise ValueError(f"expected ssl_align to be true or false, got {self.ssl_align!r}")
        check_range("ema_decay", self.ema_decay, 0.0, 0.9999)
        if not isinstance(self.ssl_ema_teacher, bool):
            raise ValueError(f"expected ssl_ema_teacher to be true or false, got {self.ssl_ema_teacher!r}")
        if self.ssl_ema_teacher and (self.ema_decay == 0 or self.ssl not in ("pseudo_label", "fixmatch")):
            raise ValueError(f"expected ema_decay > 0 and ssl pseudo_label or fixmatch with ssl_ema_teacher, got "
                             f"ema_decay={self.ema_decay!r}, ssl={self.ssl!r}")
        if self.ssl == "noisy_student" and not self.distill_teacher:
            raise ValueError("expected distill_teacher (the teacher's run id or checkpoint) with ssl='noisy_student', "
                             "got none")
        if self.ssl != "none" and (self.mixup_alpha > 0 or self.cutmix_alpha > 0 or self.adv_train != "none"):
            raise ValueError(f"expected no mixup, cutmix or adversarial training with ssl={self.ssl!r} (pseudo-labels "
                             "need one class per image), got one of them on")

    # ---- derived values
    @property
    def effective_data_seed(self) -> int:
        """The seed the data set is generated (or split) from: ``data_seed``, or ``seed`` when it is None."""
        return self.seed if self.data_seed is None else self.data_seed

    @property
    def robust_eval_size(self) -> int:
        """Validation images attacked after every epoch: ``robust_eval``, or :data:`ROBUST_EVAL_DEFAULT` when it is
        0 and adversarial training is on (at most ``val_size``)."""
        n = self.robust_eval or (ROBUST_EVAL_DEFAULT if self.adv_train != "none" else 0)
        return min(n, self.val_size)

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
    def from_dict(cls, data: dict[str, Any], stored: bool = False) -> TrainConfig:
        """Build from a dict (e.g. a run.json); unknown keys are refused with their names.

        Missing fields take their defaults, except with ``stored=True`` (a config recorded by an earlier version:
        the run store, a checkpoint's metadata), where fields added since take their :func:`legacy_values`, so an
        old run is described as it ran, not as the current defaults would run it.
        """
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object of config fields, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"expected config fields from {', '.join(sorted(names))}, got unknown {', '.join(unknown)}")
        if stored:
            data = {**{k: v for k, v in legacy_values().items() if k not in data}, **data}
        return cls(**data)

    @classmethod
    def from_json(cls, text: str, stored: bool = False) -> TrainConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"expected a JSON config, got invalid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_dict(data, stored=stored)


def field_docs() -> dict[str, str]:
    """Each TrainConfig field's one-line help (for CLI help and widget tooltips), from the field's metadata."""
    return {f.name: f.metadata["help"] for f in dataclasses.fields(TrainConfig)}


def legacy_values() -> dict[str, Any]:
    """Fields added after runs were first stored, with the value that reproduces runs recorded without them."""
    return {f.name: f.metadata["legacy"] for f in dataclasses.fields(TrainConfig) if "legacy" in f.metadata}
