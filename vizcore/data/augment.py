"""Data augmentation for training: flip + crop, RandAugment, TrivialAugment, and MixUp / CutMix.

Presets (``AugmentConfig.preset``):
- ``"none"``: images pass unchanged.
- ``"flip"``: random horizontal flip (p = 0.5) only -- the fast recipe's augmentation (airbench).
- ``"flip_crop"``: random horizontal flip (p = 0.5) and a random crop from the image reflect-padded by
  ``crop_padding`` pixels -- the standard CIFAR recipe (He et al., "Deep residual learning", CVPR 2016).
- ``"randaugment"``: flip + crop, then ``randaugment_n`` operations drawn uniformly from the 14 of RandAugment at
  magnitude ``randaugment_m`` of 30 (Cubuk et al., "RandAugment", CVPR Workshops 2020).
- ``"trivialaugment"``: flip + crop, then one operation of the wide space at a uniformly drawn magnitude
  (Muller & Hutter, "TrivialAugment", ICCV 2021).
Batch mixing (independent of the preset): MixUp (Zhang et al., ICLR 2018) and CutMix (Yun et al., ICCV 2019)
through ``torchvision.transforms.v2.MixUp`` / ``CutMix``, one of the two per batch when both are on.

As in ``torchvision/transforms/v2/_augment.py``, random parameters are drawn (:func:`draw_params`,
:func:`draw_mix_params`) apart from their deterministic application (:func:`apply_params`, :func:`apply_mix`),
so a preview can show exactly what was drawn, and all randomness comes from an explicit ``torch.Generator``.
The operations themselves are torchvision's (``v2.RandAugment`` / ``v2.TrivialAugmentWide`` operation tables and
kernels), applied batched on uint8 tensors: flips and crops in one indexing operation for the whole batch,
RandAugment/TrivialAugment operations once per group of samples that drew the same operation and magnitude.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from vizcore.data.auto_ops import NUM_MAGNITUDE_BINS, apply_op, op_names, ops_draws, policy

if TYPE_CHECKING:
    from torchvision.transforms import v2

Preset = Literal["none", "flip", "flip_crop", "randaugment", "trivialaugment"]
PRESETS: tuple[str, ...] = ("none", "flip", "flip_crop", "randaugment", "trivialaugment")
# torchvision's operation tables (name -> (magnitudes(num_bins, height, width) or None, signed)) and MixUp / CutMix
# are made at first use (vizcore.data.auto_ops.policy): the default flips and crops are plain tensor indexing, and a
# training worker that uses nothing else imports no torchvision.


def __getattr__(name: str) -> tuple[str, ...]:
    """RANDAUGMENT_OPS, TRIVIALAUGMENT_OPS: the operation names of RandAugment and TrivialAugment, read at first use."""
    if name in ("RANDAUGMENT_OPS", "TRIVIALAUGMENT_OPS"):
        return op_names("ra" if name == "RANDAUGMENT_OPS" else "ta")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation of a training batch. Derive variants with ``dataclasses.replace``."""

    preset: Preset = "flip_crop"  # none | flip | flip_crop | randaugment | trivialaugment (the last two include flip_crop)
    crop_padding: int = 4  # reflect padding (pixels) before the random crop; 0 = flip only
    randaugment_n: int = 2  # RandAugment: operations per image (N)
    randaugment_m: int = 9  # RandAugment: magnitude bin 0..30 (M)
    mixup_alpha: float = 0.0  # MixUp Beta(alpha, alpha); 0 = off (0.2 in the Bag of Tricks paper)
    cutmix_alpha: float = 0.0  # CutMix Beta(alpha, alpha); 0 = off (1.0 in the CutMix paper)
    mix_prob: float = 1.0  # probability that a batch is mixed when MixUp or CutMix is on

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"expected preset in {', '.join(PRESETS)}, got {self.preset!r}")
        if not isinstance(self.crop_padding, int) or not 0 <= self.crop_padding <= 32:
            raise ValueError(f"expected crop_padding between 0 and 32 pixels, got {self.crop_padding!r}")
        if not isinstance(self.randaugment_n, int) or not 1 <= self.randaugment_n <= 10:
            raise ValueError(f"expected randaugment_n (operations per image) between 1 and 10, got {self.randaugment_n!r}")
        if not isinstance(self.randaugment_m, int) or not 0 <= self.randaugment_m < NUM_MAGNITUDE_BINS:
            raise ValueError(f"expected randaugment_m (magnitude) between 0 and {NUM_MAGNITUDE_BINS - 1}, "
                             f"got {self.randaugment_m!r}")
        for name in ("mixup_alpha", "cutmix_alpha"):
            a = getattr(self, name)
            if not isinstance(a, (int, float)) or not 0.0 <= a <= 10.0:
                raise ValueError(f"expected {name} between 0 (off) and 10, got {a!r}")
        if not isinstance(self.mix_prob, (int, float)) or not 0.0 <= self.mix_prob <= 1.0:
            raise ValueError(f"expected mix_prob between 0 and 1, got {self.mix_prob!r}")

    @property
    def mixes(self) -> bool:
        """True when batches may be mixed (MixUp or CutMix on)."""
        return (self.mixup_alpha > 0 or self.cutmix_alpha > 0) and self.mix_prob > 0


@dataclass(frozen=True, eq=False)  # holds tensors: identity equality
class AugmentParams:
    """What was drawn for one batch of N images."""

    flip: torch.Tensor  # (N,) bool: flipped horizontally
    crop: torch.Tensor  # (N, 2) int64: (top, left) of the crop in the padded image; (pad, pad) = no shift
    ops: tuple[tuple[tuple[str, float], ...], ...]  # per image: (operation, signed magnitude) applied in order
    padding: int  # the reflect padding used for the crop

    def describe(self, i: int) -> str:
        """A short caption of what image ``i`` got, e.g. 'flip, shift (+2, -1), Rotate -12.0'."""
        parts = []
        if bool(self.flip[i]):
            parts.append("flip")
        dy, dx = (int(v) - self.padding for v in self.crop[i])
        if dy or dx:
            parts.append(f"shift ({dx:+d}, {dy:+d})")
        for name, mag in self.ops[i]:
            parts.append(name if name in ("Identity", "AutoContrast", "Equalize") else f"{name} {mag:.3g}")
        return ", ".join(parts) if parts else "unchanged"

    def short(self, i: int) -> str:
        """A caption for a small cell: the operations first (the geometry shows in the picture)."""
        ops = [name if name in ("Identity", "AutoContrast", "Equalize") else f"{name} {mag:.2g}"
               for name, mag in self.ops[i] if name != "Identity"]
        if ops:
            return ", ".join(ops)
        return "flip" if bool(self.flip[i]) else ("shift" if self.padding else "unchanged")


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.dtype != torch.uint8:
        got = f"{tuple(images.shape)} {images.dtype}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"expected images (N, C, H, W) uint8, got {got}")
    if images.shape[1] not in (1, 3):
        raise ValueError(f"expected 1 or 3 channels, got {images.shape[1]}")


def _coin(n: int, p: float, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
    return torch.rand(n, generator=generator, device=device) < p


def draw_params(cfg: AugmentConfig, n: int, height: int, width: int, generator: torch.Generator) -> AugmentParams:
    """Draw the random choices for a batch of ``n`` images of ``height`` x ``width`` (CPU generator)."""
    geometric = cfg.preset != "none"
    pad = cfg.crop_padding if geometric and cfg.preset != "flip" else 0
    flip = _coin(n, 0.5, generator) if geometric else torch.zeros(n, dtype=torch.bool)
    crop = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator) if pad else torch.zeros(n, 2, dtype=torch.int64)
    ops: list[tuple[tuple[str, float], ...]] = [() for _ in range(n)]
    if cfg.preset == "randaugment":
        space = policy("ra")._AUGMENTATION_SPACE
        names = op_names("ra")
        idx = torch.randint(0, len(names), (n, cfg.randaugment_n), generator=generator)
        sign = _coin(n * cfg.randaugment_n, 0.5, generator).view(n, cfg.randaugment_n)
        bins = torch.full((n, cfg.randaugment_n), cfg.randaugment_m)
    elif cfg.preset == "trivialaugment":
        space = policy("ta")._AUGMENTATION_SPACE
        names = op_names("ta")
        idx = torch.randint(0, len(names), (n, 1), generator=generator)
        sign = _coin(n, 0.5, generator).view(n, 1)
        bins = torch.randint(0, NUM_MAGNITUDE_BINS, (n, 1), generator=generator)
    else:
        return AugmentParams(flip, crop, tuple(ops), pad)
    drawn = ops_draws(space, names, idx, sign, bins, height, width)
    ops = [tuple((name, mag) for name, mag in d["ops"]) for d in drawn]
    return AugmentParams(flip, crop, tuple(ops), pad)


def apply_params(images: torch.Tensor, params: AugmentParams) -> torch.Tensor:
    """Apply drawn parameters to a uint8 batch (N, C, H, W) -> uint8 (N, C, H, W); deterministic."""
    _check_images(images)
    n, c, h, w = images.shape
    if params.flip.shape != (n,):
        raise ValueError(f"expected parameters for {n} images, got {params.flip.shape[0]}")
    out = torch.where(params.flip.to(images.device)[:, None, None, None], images.flip(-1), images)
    pad = params.padding
    if pad:
        # One gather for the whole batch: per-image row/column indices into the image, reflected at the border
        # (the same pixels as reflect padding then cropping, without building the padded batch).
        crop = params.crop.to(images.device)
        rows = _reflect(crop[:, 0, None] - pad + torch.arange(h, device=images.device), h)  # (N, H)
        cols = _reflect(crop[:, 1, None] - pad + torch.arange(w, device=images.device), w)  # (N, W)
        b = torch.arange(n, device=images.device)[:, None, None]
        out = out.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()
    if any(params.ops):
        out = out.clone()
        n_layers = max(len(o) for o in params.ops)
        for layer in range(n_layers):
            groups: dict[tuple[str, float], list[int]] = {}
            for i, ops in enumerate(params.ops):
                if layer < len(ops) and ops[layer][0] != "Identity":
                    groups.setdefault(ops[layer], []).append(i)
            for (name, mag), members in groups.items():
                idx = torch.tensor(members, device=images.device)
                out[idx] = apply_op(out[idx], name, mag)
    return out


def _reflect(i: torch.Tensor, size: int) -> torch.Tensor:
    """Reflect indices into [0, size) like ``F.pad(mode="reflect")`` (edge not repeated); |overshoot| < size."""
    i = torch.where(i < 0, -i, i)
    return torch.where(i >= size, 2 * (size - 1) - i, i)


def augment(images: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> tuple[torch.Tensor, AugmentParams]:
    """Draw and apply the preset to a uint8 batch (N, C, H, W); returns the augmented uint8 batch and the draw."""
    _check_images(images)
    n, _, h, w = images.shape
    params = draw_params(cfg, n, h, w, generator)
    return apply_params(images, params), params


# ------------------------------------------------------------------------------------------- mixing


@dataclass(frozen=True)
class MixParams:
    """What was drawn to mix one batch: each image i is mixed with image i-1 (``roll(1, 0)``, torchvision's pairing)."""

    kind: Literal["none", "mixup", "cutmix"]  # which mixing was applied
    lam: float  # weight of each image's own label; cutmix: 1 - pasted area / image area
    box: tuple[int, int, int, int] | None = None  # cutmix: (x1, y1, x2, y2) pasted from the partner image

    def describe(self) -> str:
        if self.kind == "none":
            return "not mixed"
        if self.kind == "mixup":
            return f"MixUp, lambda = {self.lam:.2f}"
        x1, y1, x2, y2 = self.box or (0, 0, 0, 0)
        return f"CutMix, box x {x1}-{x2}, y {y1}-{y2}, lambda = {self.lam:.2f}"


def _transform_for(kind: str, cfg: AugmentConfig, num_classes: int) -> v2.Transform:
    from torchvision.transforms import v2

    if kind == "mixup":
        return v2.MixUp(alpha=float(cfg.mixup_alpha), num_classes=num_classes)
    return v2.CutMix(alpha=float(cfg.cutmix_alpha), num_classes=num_classes)


def draw_mix_params(cfg: AugmentConfig, height: int, width: int, generator: torch.Generator) -> MixParams:
    """Draw whether and how to mix a batch: the probability, MixUp or CutMix (even odds when both are on), then
    the parameters exactly as ``v2.MixUp.make_params`` / ``v2.CutMix.make_params`` define them -- lambda from
    Beta(alpha, alpha); for CutMix a box of side ``sqrt(1 - lambda)`` times the image's, centred at a uniform
    pixel and clipped to the image, and lambda re-computed from the clipped area. All randomness comes from
    ``generator`` (the Beta draw through NumPy seeded from it): the global RNG that torchvision's own
    ``make_params`` uses is never touched, so concurrent runs stay independent and repeatable."""
    kinds = [k for k, a in (("mixup", cfg.mixup_alpha), ("cutmix", cfg.cutmix_alpha)) if a > 0]
    if not kinds or float(torch.rand((), generator=generator)) >= cfg.mix_prob:
        return MixParams("none", 1.0)
    kind = kinds[int(torch.randint(0, len(kinds), (), generator=generator))]
    alpha = float(cfg.mixup_alpha if kind == "mixup" else cfg.cutmix_alpha)
    seed = int(torch.randint(0, 2**62, (), generator=generator))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    if kind == "mixup":
        return MixParams("mixup", lam)
    r_x = int(torch.randint(width, (), generator=generator))
    r_y = int(torch.randint(height, (), generator=generator))
    box, lam_adjusted = cutmix_box(lam, r_x, r_y, height, width)
    return MixParams("cutmix", lam_adjusted, box)


def cutmix_box(lam: float, r_x: int, r_y: int, height: int, width: int) -> tuple[tuple[int, int, int, int], float]:
    """CutMix's box for a drawn lambda and centre (r_x, r_y), as ``v2.CutMix.make_params`` computes it:
    -> ((x1, y1, x2, y2), lambda adjusted to the clipped area)."""
    r = 0.5 * math.sqrt(1.0 - lam)
    r_w_half, r_h_half = int(r * width), int(r * height)
    x1, y1 = max(r_x - r_w_half, 0), max(r_y - r_h_half, 0)
    x2, y2 = min(r_x + r_w_half, width), min(r_y + r_h_half, height)
    return (x1, y1, x2, y2), float(1.0 - (x2 - x1) * (y2 - y1) / (width * height))


def apply_mix(images: torch.Tensor, labels: torch.Tensor, num_classes: int,
              params: MixParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix a batch with drawn parameters through torchvision's MixUp/CutMix ``transform``.

    images: (N, C, H, W) uint8 or float; labels: (N,) int64 or (N, K) float. Returns float32 images (in [0, 1]
    when the input was uint8) and soft labels (N, K) float32 whose rows sum to 1.
    """
    if images.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W), got {tuple(images.shape)}")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"expected one label per image ({images.shape[0]}), got {labels.shape[0]}")
    if num_classes < 2:
        raise ValueError(f"expected num_classes >= 2, got {num_classes}")
    x = images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()
    if labels.ndim == 1:
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise ValueError(f"expected labels in [0, {num_classes}), got values outside")
        soft = torch.nn.functional.one_hot(labels, num_classes).float()
    else:
        soft = labels.float()
    if params.kind == "none":
        return x, soft
    cfg = AugmentConfig(mixup_alpha=1.0, cutmix_alpha=1.0)  # alpha only matters for drawing, not applying
    t = _transform_for(params.kind, cfg, num_classes)
    p = {"labels": soft, "batch_size": x.shape[0]}
    if params.kind == "mixup":
        p["lam"] = params.lam
    else:
        p["box"], p["lam_adjusted"] = params.box, params.lam
    return t.transform(x, p), t.transform(soft, p)


def mix_batch(images: torch.Tensor, labels: torch.Tensor, num_classes: int, cfg: AugmentConfig,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, MixParams]:
    """Draw and apply MixUp/CutMix to a batch: -> (float images, soft labels (N, K), what was drawn)."""
    params = draw_mix_params(cfg, images.shape[-2], images.shape[-1], generator)
    x, y = apply_mix(images, labels, num_classes, params)
    return x, y, params


# ------------------------------------------------------------------------------------------- preview


@dataclass(frozen=True, eq=False)  # holds tensors: identity equality
class Preview:
    """Originals next to augmented copies, with a caption of what each copy drew."""

    originals: torch.Tensor  # (K, C, H, W) uint8
    augmented: torch.Tensor  # (K, R, C, H, W) uint8: R augmented copies of each original
    captions: tuple[tuple[str, ...], ...]  # (K, R) what each copy drew
    short_captions: tuple[tuple[str, ...], ...]  # (K, R) the same, short (operations first)
    mixed: torch.Tensor | None = None  # (K, C, H, W) uint8: one mixed batch of the first copies, if mixing is on
    mix_caption: str = ""  # what that mix drew
    mixed_labels: torch.Tensor | None = None  # (K, num_classes) soft labels of the mixed batch


def preview(images: torch.Tensor, cfg: AugmentConfig, seed: int = 0, repeats: int = 3,
            labels: torch.Tensor | None = None, num_classes: int | None = None) -> Preview:
    """Augment each of ``images`` (K, C, H, W) uint8 ``repeats`` times with ``cfg``; if mixing is on and labels are
    given, also mix the first copies once. Deterministic in ``seed``."""
    _check_images(images)
    if not 1 <= repeats <= 16:
        raise ValueError(f"expected repeats between 1 and 16, got {repeats!r}")
    if images.shape[0] > 256:
        raise ValueError(f"expected at most 256 images to preview, got {images.shape[0]}")
    g = torch.Generator().manual_seed(int(seed))
    outs, caps, shorts = [], [], []
    for _ in range(repeats):
        out, params = augment(images, cfg, g)
        outs.append(out)
        caps.append([params.describe(i) for i in range(images.shape[0])])
        shorts.append([params.short(i) for i in range(images.shape[0])])
    augmented = torch.stack(outs, dim=1)
    captions = tuple(tuple(caps[r][i] for r in range(repeats)) for i in range(images.shape[0]))
    short_captions = tuple(tuple(shorts[r][i] for r in range(repeats)) for i in range(images.shape[0]))
    mixed = mixed_labels = None
    mix_caption = ""
    if cfg.mixes and labels is not None and num_classes is not None and images.shape[0] >= 2:
        mcfg = AugmentConfig(mixup_alpha=cfg.mixup_alpha, cutmix_alpha=cfg.cutmix_alpha, mix_prob=1.0)
        x, mixed_labels, mp = mix_batch(outs[0], labels, num_classes, mcfg, g)
        mixed = x.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
        mix_caption = mp.describe()
    return Preview(images, augmented, captions, short_captions, mixed, mix_caption, mixed_labels)
