"""Squeeze-and-excitation attention: the channel gates of every SE block, their class dependence and ablation.

Hu, Shen, Albanie, Sun, Wu. Squeeze-and-Excitation Networks, TPAMI 2019 (CVPR 2018). An SE block squeezes a
(C, H, W) map to C numbers by global average pooling, excites them through a bottleneck (C -> C/r -> C, ReLU
or SiLU, then a sigmoid or hard-sigmoid gate s in [0, 1]) and scales channel c by s_c. §7.2 (Figs. 6-7) looks
at the gates per class: early blocks are class-agnostic, later ones class-specific, and the last block is
near-saturated (most gates close to 1) so it acts almost as the identity.

Gates are read by hooking ``scale_activation`` of torchvision's ``SqueezeExcitation`` (EfficientNet,
MobileNetV3, RegNetY and ConvScope's SE-ResNet all use it); ablation replaces that output in the forward.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from torchvision.ops import SqueezeExcitation

from vizcore.inspect.capture import Capture, eval_mode
from vizcore.models.registry import se_modules

SATURATED = 0.9  # a gate above this passes its channel almost unchanged
MAX_IMAGES = 5_000
AblateMode = Literal["one", "mean"]


@dataclass(frozen=True)
class SEBlock:
    """One SE block: where it is and what it costs."""

    path: str  # module path of the SqueezeExcitation
    channels: int  # C, channels gated
    squeeze: int  # C/r, bottleneck width
    gate: str  # Sigmoid or Hardsigmoid
    params: int  # weights + biases of the two 1x1 convolutions

    @property
    def reduction(self) -> float:
        return self.channels / self.squeeze


def blocks(model: nn.Module) -> list[SEBlock]:
    """Every SE block of ``model`` in definition (= forward, for the zoo) order."""
    out = []
    for path in se_modules(model):
        m = model.get_submodule(path)
        assert isinstance(m, SqueezeExcitation)
        params = sum(p.numel() for p in m.parameters())
        out.append(SEBlock(path, m.fc1.in_channels, m.fc1.out_channels, type(m.scale_activation).__name__, params))
    if not out:
        raise ValueError(f"expected a model with squeeze-and-excitation blocks, got {type(model).__name__} "
                         "without any")
    return out


def _gate(path: str) -> str:
    return f"{path}.scale_activation"


@dataclass(frozen=True)
class Excitations:
    """Gates of every SE block for a batch: ``gates[path]`` (N, C) in [0, 1], ``input_hw[path]`` its map size."""

    gates: dict[str, torch.Tensor]
    input_hw: dict[str, tuple[int, int]]
    logits: torch.Tensor  # (N, classes) the model's output for the batch


def excitations(model: nn.Module, x: torch.Tensor, replace: dict[str, Callable] | None = None) -> Excitations:
    """One forward pass of x (N, C, H, W) with every gate captured (and ``replace`` applied, for ablations)."""
    bl = [b.path for b in blocks(model)]
    with eval_mode(model), Capture(model, [_gate(p) for p in bl] + bl, inputs=True, replace=replace) as cap, \
            torch.no_grad():
        logits = cap.run(x)
    gates = {p: cap.outputs[_gate(p)].flatten(1).float().cpu() for p in bl}
    hw = {p: (int(cap.inputs[p].shape[-2]), int(cap.inputs[p].shape[-1])) for p in bl}
    return Excitations(gates, hw, logits.detach().float().cpu())


def before_after(model: nn.Module, x: torch.Tensor, path: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For one image x (1, C, H, W): block ``path``'s input map (C, h, w), its output (C, h, w) and gates (C,)."""
    with eval_mode(model), Capture(model, [path, _gate(path)], inputs=True, stop_early=True) as cap, torch.no_grad():
        cap.run(x)
    return cap.inputs[path][0].float().cpu(), cap.outputs[path][0].float().cpu(), \
        cap.outputs[_gate(path)].flatten()[: cap.outputs[path].shape[1]].float().cpu()


# ---------------------------------------------------------------------------------------- by class (§7.2)


@dataclass(frozen=True)
class BlockAnalysis:
    path: str
    stage: int  # 1-based stage (run of equal input size) the block belongs to
    input_hw: tuple[int, int]
    class_means: NDArray[np.float64]  # (K, C) mean gate per class and channel (the paper's Fig. 6 curves)
    specificity: float  # share of the gates' variance explained by the class (chance-adjusted eta²), in [0, 1]
    mean_gate: float
    saturated: float  # fraction of gates above SATURATED
    off: float  # fraction of gates below 1 - SATURATED

    def to_dict(self) -> dict[str, object]:
        return {"block": self.path, "stage": self.stage, "input_hw": list(self.input_hw),
                "specificity": round(self.specificity, 4), "mean_gate": round(self.mean_gate, 4),
                "saturated": round(self.saturated, 4), "off": round(self.off, 4),
                "class_means": np.round(self.class_means, 4).tolist()}


def specificity(gates: torch.Tensor, labels: torch.Tensor, adjusted: bool = True) -> float:
    """Share of the variance of gates (N, C) explained by the class labels (N,): between-class over total sum
    of squares, summed over channels (eta squared). 0: every class gets the same gates; 1: gates are a function
    of the class alone.

    With K classes, gates that ignore the class still score (K-1)/(N-1) on average; ``adjusted`` removes that
    chance level like an adjusted R²: 1 - (1 - eta²)(N-1)/(N-K), floored at 0."""
    g = gates.double()
    total = ((g - g.mean(0)) ** 2).sum()
    if float(total) == 0.0:
        return 0.0
    between = g.new_zeros(())
    for k in labels.unique():
        sel = g[labels == k]
        between = between + len(sel) * ((sel.mean(0) - g.mean(0)) ** 2).sum()
    eta2 = float(between / total)
    n, k = g.shape[0], int(labels.unique().numel())
    if not adjusted or n <= k:
        return eta2
    return max(0.0, 1.0 - (1.0 - eta2) * (n - 1) / (n - k))


def by_class(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, classes: Sequence[str],
             prepare: Callable[[torch.Tensor], torch.Tensor], batch_size: int = 64,
             progress: Callable[[float, str], None] | None = None) -> tuple[list[BlockAnalysis], dict[str, torch.Tensor]]:
    """The §7.2 analysis over images (N, C, H, W) with labels (N,): per block, mean gate per class, class
    specificity and saturation. Returns (one BlockAnalysis per block in forward order, the data-set mean gate
    per block (C,), for :func:`ablate` with mode "mean")."""
    n = int(images.shape[0])
    if not 1 <= n <= MAX_IMAGES:
        raise ValueError(f"expected between 1 and {MAX_IMAGES} images, got {n}")
    if labels.shape != (n,):
        raise ValueError(f"expected labels of shape ({n},), got {tuple(labels.shape)}")
    parts: dict[str, list[torch.Tensor]] = {}
    hw: dict[str, tuple[int, int]] = {}
    for s in range(0, n, batch_size):
        ex = excitations(model, prepare(images[s:s + batch_size]))
        for p, g in ex.gates.items():
            parts.setdefault(p, []).append(g)
        hw = ex.input_hw
        if progress:
            progress(min(s + batch_size, n) / n, f"gates of {min(s + batch_size, n):,} of {n:,} images")
    lab = labels.cpu()
    out, means, stage, prev = [], {}, 0, None
    for p, chunks in parts.items():
        g = torch.cat(chunks)
        stage += hw[p] != prev
        prev = hw[p]
        cm = np.stack([g[lab == k].double().mean(0).numpy() if bool((lab == k).any()) else np.full(g.shape[1], np.nan)
                       for k in range(len(classes))])
        out.append(BlockAnalysis(p, stage, hw[p], cm, specificity(g, lab), float(g.mean()),
                                 float((g > SATURATED).double().mean()), float((g < 1 - SATURATED).double().mean())))
        means[p] = g.mean(0)
    return out, means


def describe(analysis: Sequence[BlockAnalysis], last: Sequence[str], untrained: bool = False) -> str:
    """A few sentences comparing the model's gates with the paper's finding (§7.2); ``untrained``: random weights."""
    rows = [a for a in analysis if a.path in last]
    if not rows:
        return ""
    spec = [a.specificity for a in rows]
    trend = "rises" if spec[-1] > spec[0] + 0.05 else "falls" if spec[-1] < spec[0] - 0.05 else "stays flat"
    first, final = rows[0], rows[-1]
    text = (f"Class specificity (share of gate variance explained by the class) {trend} with depth: "
            f"{first.specificity:.0%} at the end of stage {first.stage}, {final.specificity:.0%} at the end of "
            f"stage {final.stage}. ")
    text += ("As in the paper, early gates are shared by all classes and later ones depend on the class. "
             if trend == "rises" else
             "The paper found early gates class-agnostic and later ones class-specific; this model does not show "
             "that rise. ")
    sat = final.saturated
    text += (f"In the last stage's final block {sat:.0%} of gates exceed {SATURATED} (mean gate {final.mean_gate:.2f})"
             + (": near-saturated, close to an identity, as the paper found for SE_5_2. " if sat > 0.5 else
                "; the paper found its last block near-saturated (gates ≈ 1, an identity), this one is not. "))
    if untrained:
        text += "These are random weights: the gates sit near 0.5 and say nothing about the data."
    return text


# ---------------------------------------------------------------------------------------- ablation


def ablation(paths: Sequence[str], mode: AblateMode = "one",
             means: dict[str, torch.Tensor] | None = None) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Replacements for :func:`excitations` / :func:`predict`: the gates of ``paths`` become 1 (the block is an
    identity) or, with mode "mean", their data-set mean per channel (the input no longer matters)."""
    if mode not in ("one", "mean"):
        raise ValueError(f"expected ablation mode 'one' or 'mean', got {mode!r}")
    if mode == "mean" and (means is None or any(p not in means for p in paths)):
        raise ValueError("expected data-set mean gates for every ablated block (run the by-class analysis), got none")
    out: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
    for p in paths:
        if mode == "one":
            out[_gate(p)] = torch.ones_like
        else:
            out[_gate(p)] = _constant(means[p])  # type: ignore[index]
    return out


def _constant(mean: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    def fill(s: torch.Tensor) -> torch.Tensor:
        return mean.to(s.device, s.dtype).view(1, -1, 1, 1).expand_as(s).contiguous()
    return fill


def predict(model: nn.Module, x: torch.Tensor, replace: dict[str, Callable] | None = None,
            batch_size: int = 128) -> torch.Tensor:
    """Logits (N, classes) of x (N, C, H, W) with gate replacements applied (hooks removed afterwards)."""
    outs = []
    with eval_mode(model), Capture(model, [], replace=replace) as cap, torch.no_grad():
        for s in range(0, x.shape[0], batch_size):
            outs.append(cap.run(x[s:s + batch_size]).float().cpu())
    return torch.cat(outs)
