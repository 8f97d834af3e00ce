"""Tricks built on torch: zero-gamma, no bias decay, optimizers, label smoothing, distillation, a whitened stem.

He, Zhang, Zhang, Zhang, Xie, Li. *Bag of Tricks for Image Classification with Convolutional Neural Networks*,
CVPR 2019, §3–§5; the whitened first layer of Keller Jordan's airbench (2024), after the ZCA/PCA whitening of
image patches in Coates & Ng, *Learning Feature Representations with K-means* (2012).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vizcore.models.small import SEBasicBlock
from vizcore.train.config import TrainConfig

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
        if isinstance(mod, (BasicBlock, SEBasicBlock)):
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


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """The first ``nn.Conv2d`` of ``model`` in module order (the stem), with its path."""
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Conv2d):
            return name, mod
    raise ValueError(f"expected a model with a Conv2d layer, got {type(model).__name__} without one")


@torch.no_grad()
def patch_whitening_filters(x: torch.Tensor, kernel_size: tuple[int, ...], out_channels: int,
                            eps: float = 5e-4, dilation: tuple[int, ...] = (1, 1), chunk: int = 64) -> torch.Tensor:
    """Conv filters that whiten the ``kernel_size`` patches of ``x``: ± eigenvectors of their covariance / √(λ + eps).

    x: (N, C, H, W) float, the model's normalised input. With d = C · kh · kw, the d eigenvectors v_i of the
    patch covariance (largest eigenvalue λ_i first; patches taken with ``dilation``, as the conv sees them) give filters v_i / √(λ_i + eps) and their negatives,
    interleaved (+v_1, −v_1, +v_2, ...) and cut to ``out_channels`` ≤ 2d: a conv with these weights maps the
    patches to decorrelated, unit-variance responses (both signs, so a following ReLU/GELU keeps all of them).
    Returns (out_channels, C, kh, kw) float32.
    """
    n, c = x.shape[:2]
    kh, kw = kernel_size
    d = c * kh * kw
    if not 1 <= out_channels <= 2 * d:
        raise ValueError(f"expected a first conv with at most 2·C·kh·kw = {2 * d} output channels to whiten, "
                         f"got {out_channels}")
    total = torch.zeros(d, dtype=torch.float64)
    outer = torch.zeros(d, d, dtype=torch.float64)
    count = 0
    for i in range(0, n, chunk):
        p = F.unfold(x[i:i + chunk].double(), (kh, kw), dilation=tuple(dilation))  # (b, d, L): patches inside
        p = p.transpose(1, 2).reshape(-1, d)
        total += p.sum(0)
        outer += p.T @ p
        count += p.shape[0]
    if count == 0:
        raise ValueError(f"expected images of at least {kh}x{kw} pixels to whiten, got none")
    mean = total / count
    cov = outer / count - torch.outer(mean, mean)
    eigvals, eigvecs = torch.linalg.eigh(cov)  # ascending
    eigvals, eigvecs = eigvals.flip(0), eigvecs.flip(1)
    filt = (eigvecs / torch.sqrt(eigvals.clamp(min=0) + eps)).T  # row i: v_i / sqrt(lambda_i + eps)
    both = torch.stack([filt, -filt], 1).reshape(2 * d, d)  # +v1, -v1, +v2, -v2, ...
    return both[:out_channels].reshape(out_channels, c, kh, kw).float()


def whiten_stem_(model: nn.Module, x: torch.Tensor, eps: float = 5e-4) -> str:
    """Set the first conv of ``model`` to :func:`patch_whitening_filters` of images ``x`` and freeze it, in place.

    The bias (if any) is zeroed; weight and bias stop requiring gradients, so no optimizer step moves them and
    backpropagation stops at the stem (it has nothing to train and its input needs no gradient). This is
    airbench's whitened first layer: the next layers see decorrelated patches from the first step on, which
    speeds up early training. Returns the conv's module path.
    """
    name, conv = first_conv(model)
    if conv.groups != 1:
        raise ValueError(f"expected a first conv without groups to whiten, got groups={conv.groups} in {name}")
    if x.ndim != 4 or x.shape[1] != conv.in_channels:
        raise ValueError(f"expected images (N, {conv.in_channels}, H, W) for the first conv, got {tuple(x.shape)}")
    w = patch_whitening_filters(x.detach().to("cpu"), conv.kernel_size, conv.out_channels, eps, conv.dilation)
    with torch.no_grad():
        conv.weight.copy_(w.to(conv.weight.device, conv.weight.dtype))
        if conv.bias is not None:
            conv.bias.zero_()
    conv.weight.requires_grad_(False)
    if conv.bias is not None:
        conv.bias.requires_grad_(False)
    return name
