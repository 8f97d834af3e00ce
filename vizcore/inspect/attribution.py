"""Attribution maps: which pixels (or which places of a layer) made the model give its score for a class.

Class activation maps of a layer's feature maps A (N, K, h, w) and the gradients G = dy_c/dA of the class score:

- Grad-CAM (Selvaraju et al., ICCV 2017): w_k = mean_ij G_kij; map = ReLU(sum_k w_k A_k) — captum ``LayerGradCam``,
  upsampled to the input with ``LayerAttribution.interpolate`` (bilinear).
- Grad-CAM++ (Chattopadhay et al., WACV 2018): w_k = sum_ij alpha_kij ReLU(G_kij) with
  alpha = G^2 / (2 G^2 + sum_ab A_kab G^3) (the closed form for an exponential score); map = ReLU(sum_k w_k A_k).
- Layer-CAM (Jiang et al., IEEE TIP 2021): map = ReLU(sum_k ReLU(G_k) * A_k), a weight per place, not per channel.
- Guided Grad-CAM (Selvaraju et al.): upsampled Grad-CAM x guided backpropagation (Springenberg et al., 2015) —
  captum ``GuidedGradCam``.

Pixel-space methods (captum): Saliency (Simonyan et al., 2014), Integrated Gradients (Sundararajan et al., ICML
2017) from a zero baseline (the normalised mean colour), and Occlusion (Zeiler & Fergus, ECCV 2014), the slow
model-agnostic reference. Every map returned is non-negative, (N, H, W) at the input's resolution; how each
method's signed or per-channel output becomes one such map is stated in :data:`METHODS`.

Sharing a model: captum attaches hooks to the model for the duration of a call, so one model object must not
serve two calls at once. :func:`prepare` makes a private copy (eval mode, no in-place activations, frozen
parameters) and :func:`attribute` takes an optional lock to hold while it works.
"""
from __future__ import annotations

import copy
import math
import threading
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from captum.attr import GuidedGradCam, IntegratedGradients, LayerAttribution, LayerGradCam, Occlusion, Saliency
from torch import nn

from vizcore.core.hooks import forward_hooks

Method = Literal["gradcam", "guided_gradcam", "gradcam_pp", "layercam", "integrated_gradients", "saliency",
                 "occlusion"]
LAYER_METHODS: tuple[str, ...] = ("gradcam", "guided_gradcam", "gradcam_pp", "layercam")


@dataclass(frozen=True)
class MethodInfo:
    title: str  # display name
    paper: str  # where it comes from
    reduce: str  # how its output becomes one non-negative (H, W) map


METHODS: dict[str, MethodInfo] = {
    "gradcam": MethodInfo("Grad-CAM", "Selvaraju et al., ICCV 2017", "ReLU of the weighted sum, bilinear upsampling"),
    "guided_gradcam": MethodInfo("Guided Grad-CAM", "Selvaraju et al., ICCV 2017",
                                 "|Grad-CAM x guided backprop|, maximum over colour channels"),
    "gradcam_pp": MethodInfo("Grad-CAM++", "Chattopadhay et al., WACV 2018",
                             "ReLU of the weighted sum, bilinear upsampling"),
    "layercam": MethodInfo("Layer-CAM", "Jiang et al., IEEE TIP 2021", "ReLU of the sum, bilinear upsampling"),
    "integrated_gradients": MethodInfo("Integrated Gradients", "Sundararajan et al., ICML 2017",
                                       "|sum over colour channels|, zero (mean colour) baseline"),
    "saliency": MethodInfo("Saliency", "Simonyan et al., ICLR 2014 workshop",
                           "|gradient|, maximum over colour channels"),
    "occlusion": MethodInfo("Occlusion", "Zeiler & Fergus, ECCV 2014",
                            "score drop when a square is greyed out, ReLU (slow: one forward per square)"),
}
assert set(METHODS) == set(get_args(Method))


@dataclass(frozen=True, eq=False)
class Attribution:
    """Maps of one method for a batch. Tensors stay on the model's device until drawn."""

    method: str  # key of METHODS
    layer: str | None  # module path of the layer (layer methods), None for pixel-space methods
    targets: torch.Tensor  # (N,) int64 class explained per image
    maps: torch.Tensor  # (N, H, W) float (the input's dtype), non-negative, at the input's resolution
    low_res: torch.Tensor | None  # (N, h, w) the layer-resolution map (layer methods), else None
    seconds: float = math.nan  # wall time of the computation, lock held (not the wait for it)


@dataclass(frozen=True)
class LayerInfo:
    path: str  # module path, e.g. "layer4" or "features.10"
    kind: str  # module class name
    out_shape: tuple[int, int, int]  # (C, h, w) of its output for one input


# ------------------------------------------------------------------------------------------- sharing a model

def prepare(model: nn.Module, *, in_place: bool = False) -> nn.Module:
    """A private copy of ``model`` for attribution: eval mode, in-place activations off, parameters frozen.

    The original is left untouched (a model cached for other pages keeps its in-place ReLUs) unless ``in_place``
    (the caller owns the model and hands it over: no copy, which for VGG-16 is half a gigabyte and a second of
    CPU). Frozen parameters keep every backward pass down to the gradients the method needs (no weight
    gradients), which is what makes Grad-CAM cost about one forward pass.
    """
    private = (model if in_place else copy.deepcopy(model)).eval()
    for m in private.modules():
        if getattr(m, "inplace", False) is True:
            m.inplace = False  # type: ignore[assignment]
    private.requires_grad_(False)
    return private


def shared(model: nn.Module) -> tuple[nn.Module, threading.Lock]:
    """``(prepare(model, in_place=True), Lock())``: what a cache serving many users should hold (pass the lock to
    attribute). The model is handed over: it is prepared in place, not copied (a cache holds it once)."""
    return prepare(model, in_place=True), threading.Lock()


def _check_prepared(model: nn.Module) -> None:
    for path, m in model.named_modules():
        if getattr(m, "inplace", False) is True:
            raise ValueError(f"expected a model from prepare() (no in-place activations), got an in-place "
                             f"{type(m).__name__} at {path!r}")


def num_outputs(model: nn.Module) -> int | None:
    """Outputs of the model's last Linear layer or classifier head (its classes; LeNet-5's RBF output counts), None
    when it has none."""
    last: int | None = None
    for m in model.modules():
        if isinstance(m, nn.Linear) or callable(getattr(m, "with_classes", None)):
            last = int(getattr(m, "out_features"))  # noqa: B009  (a head that is not Linear: typed as Module)
    return last


def class_names(name: str, weights: str, n_out: int) -> list[str]:
    """Names of the ``n_out`` outputs (:func:`vizcore.models.weights.class_names`)."""
    from vizcore.models import weights as mweights

    return mweights.class_names(name, weights, n_out)


def layer_gradients(model: nn.Module, layer: nn.Module, x: torch.Tensor, targets: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(d score / d activation, activation) of ``layer`` for inputs ``x`` (N, C, H, W), the score of image i being
    its logit for class ``targets[i]``: one forward with a hook keeping the layer's output, one ``autograd.grad``
    (plain autograd, in place of captum's private ``compute_layer_gradients_and_eval``). Both (N, *layer output);
    the layer's first output when it runs more than once in a forward."""
    kept: list[torch.Tensor] = []

    def keep(_m: nn.Module, _i: object, out: object) -> None:
        if not kept and isinstance(out, torch.Tensor):
            kept.append(out)

    with torch.enable_grad(), forward_hooks([(layer, keep)]):
        logits = model(x.detach().clone().requires_grad_())  # a graph even when every weight is frozen
    if not kept:
        raise ValueError("expected the layer to produce a tensor in the forward pass, got none")
    idx = targets.reshape(-1, 1).to(logits.device).expand(logits.shape[0], 1)
    grad, = torch.autograd.grad(logits.gather(1, idx).sum(), kept[0])
    return grad.detach(), kept[0].detach()


# ------------------------------------------------------------------------------------------- layers

def spatial_layers(model: nn.Module, input_size: tuple[int, int, int]) -> list[LayerInfo]:
    """Modules whose output is a spatial map (C, h, w) with h x w > 1, in execution order.

    Modules called more than once per forward (a ReLU reused inside a ResNet block) are left out: a hook on them
    would see several outputs. One forward of zeros (1, *input_size) on the model's device.
    """
    seen: dict[str, list] = {}

    def hook_for(path: str):
        def hook(_m: nn.Module, _inp: object, out: object) -> None:
            shape = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else ()
            seen.setdefault(path, [type(_m).__name__, shape, 0])[2] += 1
        return hook

    device = next(iter(model.parameters()), torch.zeros(0)).device
    with forward_hooks((m, hook_for(path)) for path, m in model.named_modules() if path), torch.no_grad():
        model(torch.zeros(1, *input_size, device=device))
    return [LayerInfo(p, kind, shape) for p, (kind, shape, calls) in seen.items()
            if calls == 1 and len(shape) == 3 and shape[1] * shape[2] > 1]


def zoo_spatial_layers(name: str) -> list[LayerInfo]:
    """:func:`spatial_layers` of zoo model ``name`` at its own input size, built on the meta device: geometry only,
    so no weights are drawn and the forward is shapes only (VGG-16 drew 138 M random weights and ran 15 GFLOPs
    for this list). A builder that reads its own initial values is built for real."""
    from vizcore.core.meta import shape_only
    from vizcore.models import registry as zoo

    size = zoo.get_entry(name).input_size
    model = zoo.build_for_shapes(name)
    try:
        with shape_only():
            return spatial_layers(model, size)
    except (RuntimeError, NotImplementedError):  # a forward that needs values (RegNet's stochastic depth)
        return spatial_layers(zoo.build_model(name), size)


def default_layer_reason(layer: LayerInfo) -> str:
    """Why the zoo's default CAM layer is the default, in one sentence."""
    c, h, w = layer.out_shape
    return (f"{layer.path} is the last convolutional stage ({c} maps of {h}×{w}): the deepest features, which "
            f"carry the most class information, on a grid that still says where (Selvaraju et al., 2017, Sec. 3)")


def _layer(model: nn.Module, path: str | None, method: str) -> nn.Module:
    if path is None:
        raise ValueError(f"expected a layer for {METHODS[method].title}, got none")
    try:
        return model.get_submodule(path)
    except AttributeError:
        raise ValueError(f"expected a module path of this model (e.g. from spatial_layers), got {path!r}") from None


# ------------------------------------------------------------------------------------------- targets

@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` softmax probabilities and classes: x (N, C, H, W) -> (N, k) float, (N, k) int64."""
    probs = model(x).softmax(1)
    k = max(1, min(int(k), probs.shape[1]))
    p, i = probs.topk(k, dim=1)
    return p, i


def _targets(targets: torch.Tensor | int | list[int], n: int, n_out: int | None, device: torch.device) -> torch.Tensor:
    t = torch.as_tensor(targets, dtype=torch.int64).reshape(-1).to(device)
    if t.numel() == 1 and n > 1:
        t = t.expand(n)
    if t.numel() != n:
        raise ValueError(f"expected one target class per image ({n}), got {t.numel()}")
    if t.numel() and (int(t.min()) < 0 or (n_out is not None and int(t.max()) >= n_out)):
        raise ValueError(f"expected target classes in [0, {n_out}), got {t.tolist()}")
    return t


# ------------------------------------------------------------------------------------------- methods

def _cam_from(acts: torch.Tensor, grads: torch.Tensor, method: str) -> torch.Tensor:
    """(N, K, h, w) activations and gradients -> (N, h, w) map for Grad-CAM++ or Layer-CAM."""
    if method == "layercam":
        return (grads.clamp(min=0) * acts).sum(1).clamp(min=0)
    g2, g3 = grads.pow(2), grads.pow(3)
    denom = 2 * g2 + acts.sum(dim=(2, 3), keepdim=True) * g3
    alpha = torch.where(grads != 0, g2 / torch.where(denom != 0, denom, torch.ones_like(denom)),
                        torch.zeros_like(grads))
    w = (alpha * grads.clamp(min=0)).sum(dim=(2, 3), keepdim=True)
    return (w * acts).sum(1).clamp(min=0)


def occlusion_window(size: int) -> tuple[int, int]:
    """(window, stride) of occlusion for an input side of ``size`` pixels: an eighth of the side, half overlap."""
    win = max(2, size // 8)
    return win, max(1, win // 2)


def attribute(model: nn.Module, x: torch.Tensor, method: Method, targets: torch.Tensor | int | list[int],
              layer: str | None = None, *, lock: threading.Lock | None = None, ig_steps: int = 32,
              batch_size: int = 32) -> Attribution:
    """Attribution maps of ``method`` for ``targets`` on a batch.

    model: from :func:`prepare`, on x's device. x: (N, C, H, W) float, normalised as the model expects.
    targets: (N,) class per image (or one int for all). layer: module path (required for the Grad-CAM family).
    lock: held while the model carries captum's hooks (a model shared between users). ig_steps: Riemann steps of
    Integrated Gradients. batch_size: forwards per batch for Integrated Gradients and Occlusion.
    Returns maps (N, H, W) non-negative; for layer methods also the (N, h, w) map before upsampling.
    """
    if method not in METHODS:
        raise ValueError(f"expected a method from {', '.join(METHODS)}, got {method!r}")
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"expected x as a float tensor (N, C, H, W), got {getattr(x, 'shape', type(x))}")
    if ig_steps < 1 or batch_size < 1:
        raise ValueError(f"expected positive ig_steps and batch_size, got {ig_steps} and {batch_size}")
    _check_prepared(model)
    t = _targets(targets, x.shape[0], num_outputs(model), x.device)
    mod = _layer(model, layer, method) if method in LAYER_METHODS else None
    size = tuple(x.shape[2:])
    x = x.detach()
    low = None
    with (lock if lock is not None else nullcontext()), warnings.catch_warnings():
        began = time.perf_counter()
        # captum announces the hooks it sets on ReLUs and that it enables input gradients: both expected here
        warnings.filterwarnings("ignore", message=".*(backward hooks on ReLU|did not already require grad).*")
        if method == "gradcam":
            low4 = LayerGradCam(model, mod).attribute(x, target=t, relu_attributions=True)
            _check_spatial(low4, layer)
            low = low4[:, 0]
            maps = LayerAttribution.interpolate(low4, size, interpolate_mode="bilinear")[:, 0]
        elif method in ("gradcam_pp", "layercam"):
            assert mod is not None  # a layer method
            grads, acts = layer_gradients(model, mod, x, t)
            _check_spatial(acts, layer)
            low = _cam_from(acts, grads, method)
            maps = F.interpolate(low[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
        elif method == "guided_gradcam":
            out = GuidedGradCam(model, mod).attribute(x.clone().requires_grad_(), target=t,
                                                      interpolate_mode="bilinear")
            _check_spatial(out, layer)
            maps = out.abs().amax(1)
        elif method == "saliency":
            maps = Saliency(model).attribute(x.clone().requires_grad_(), target=t, abs=True).amax(1)
        elif method == "integrated_gradients":
            ig = IntegratedGradients(model).attribute(x.clone().requires_grad_(), target=t, n_steps=ig_steps,
                                                      internal_batch_size=batch_size)
            maps = ig.sum(1).abs()
        else:
            win, stride = occlusion_window(min(size))
            occ = Occlusion(model).attribute(x, sliding_window_shapes=(x.shape[1], win, win),
                                             strides=(x.shape[1], stride, stride), baselines=0.0, target=t,
                                             perturbations_per_eval=batch_size)
            maps = occ.mean(1).clamp(min=0)
        maps = maps.detach()
        if maps.device.type == "cuda":
            torch.cuda.synchronize(maps.device)  # the time of the work, not of queueing it
        seconds = time.perf_counter() - began
    return Attribution(method, layer if method in LAYER_METHODS else None, t, maps,
                       None if low is None else low.detach(), seconds)


def _check_spatial(t: torch.Tensor, layer: str | None) -> None:
    if t.ndim != 4:
        raise ValueError(f"expected a layer with spatial feature maps (N, C, h, w), got {layer!r} with output "
                         f"shape {tuple(t.shape)}")


def normalise(maps: torch.Tensor) -> torch.Tensor:
    """Each map scaled to [0, 1] by its own maximum: (N, H, W) -> (N, H, W). An all-zero map stays zero."""
    peak = maps.flatten(1).amax(1).clamp(min=1e-12).view(-1, 1, 1)
    return maps.clamp(min=0) / peak


def peak_location(maps: torch.Tensor) -> list[tuple[int, int]]:
    """(row, column) of each map's maximum (the first one in row-major order): (N, H, W) -> N pairs."""
    w = maps.shape[-1]
    idx = maps.flatten(1).argmax(1).tolist()
    return [(i // w, i % w) for i in idx]


def shown_peak(cam_map, shown_size: int) -> tuple[float, float] | None:
    """Where one map (H, W), numpy or tensor, peaks on an image shown ``shown_size`` pixels high: the peak
    pixel's centre scaled from the map's pixels to the shown ones (x_shown = (x + 0.5) · scale − 0.5); None for a
    map with no positive value (nothing to point at)."""
    m = torch.as_tensor(cam_map)
    if not float(m.max()) > 0:
        return None
    r, c = peak_location(m[None])[0]
    scale = shown_size / m.shape[0]
    return ((r + 0.5) * scale - 0.5, (c + 0.5) * scale - 0.5)
