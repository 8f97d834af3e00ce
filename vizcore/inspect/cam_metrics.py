"""Is an attribution map right? Numbers against ground truth, faithfulness, and a sanity check.

- Localisation on the embedded shapes' object masks: the *pointing game* (Zhang et al., "Top-down neural attention
  by excitation backprop", ECCV 2016: is the map's maximum inside the object?) and the *energy in the mask*
  (the share of the map's mass inside the object, as in Score-CAM, Wang et al., CVPR-W 2020). A map that knows
  nothing scores the mask's area fraction on both: that is the chance level shown next to them.
- Faithfulness: deletion and insertion curves (Petsiuk et al., "RISE", BMVC 2018): the class probability as the
  pixels are removed (set to the mean colour), or inserted into a blurred copy, most important first; the area
  under each curve (low for deletion, high for insertion is good). Average drop and increase in confidence
  (Chattopadhay et al., WACV 2018) on the image multiplied by its normalised map.
- Sanity check by cascading randomisation (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018):
  re-initialise the weighted layers from the logits downward, recompute the map after each step and compare it
  with the original by Spearman rank correlation and SSIM. A map that survives the destruction of the weights
  does not explain the model.
- Shape or texture: maps for the outline's class and for the fill texture's class on cue-conflict images
  (Geirhos et al., ICLR 2019), with the cue the model's decision followed.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity
from torch import nn
from torchvision.transforms.v2.functional import gaussian_blur

from vizcore.arch.summary import forward_flops
from vizcore.core.hooks import forward_hooks
from vizcore.data import shapes
from vizcore.data.imageset import MAX_SHAPES_SIZE
from vizcore.inspect.attribution import Method, attribute, normalise, occlusion_window, prepare
from vizcore.models.preprocess import for_model
from vizcore.models.registry import get_entry

SANITY_THRESHOLD = 0.5  # rank correlation with the original map after full randomisation below which a method passes
Progress = Callable[[float, str], None]


def _check_maps_masks(maps: torch.Tensor, masks: torch.Tensor) -> None:
    if maps.ndim != 3 or tuple(maps.shape) != tuple(masks.shape):
        raise ValueError(f"expected maps and masks of the same shape (N, H, W), got {tuple(maps.shape)} and "
                         f"{tuple(masks.shape)}")
    if masks.dtype != torch.bool:
        raise ValueError(f"expected boolean masks, got {masks.dtype}")


# ------------------------------------------------------------------------------------------- localisation

@dataclass(frozen=True)
class Localisation:
    """Pointing game and energy in the mask over N images, with their chance levels."""

    n: int  # images scored
    pointing: float  # share of images whose map maximum lies inside the (tolerance-widened) mask
    pointing_chance: float  # mean area fraction of the (widened) masks: a random point's hit rate
    energy: float  # mean share of the map's mass inside the mask (images with an all-zero map left out)
    energy_chance: float  # mean area fraction of the masks: a uniform map's share
    empty: int  # images whose map is zero everywhere (no maximum, no mass): counted as misses, no energy


def pointing_hits(maps: torch.Tensor, masks: torch.Tensor, tolerance: int = 0) -> torch.Tensor:
    """(N,) bool: the first maximum (row-major) of each map lies inside its mask widened by ``tolerance`` pixels
    (a square neighbourhood). An all-zero map has no maximum and misses. maps (N, H, W) >= 0, masks (N, H, W)."""
    _check_maps_masks(maps, masks)
    wide = _widen(masks, tolerance)
    idx = maps.flatten(1).argmax(1)
    hit = wide.flatten(1).gather(1, idx[:, None])[:, 0]
    return hit & (maps.flatten(1).amax(1) > 0)


def _widen(masks: torch.Tensor, tolerance: int) -> torch.Tensor:
    if tolerance < 0:
        raise ValueError(f"expected a non-negative tolerance in pixels, got {tolerance}")
    if tolerance == 0:
        return masks
    k = 2 * tolerance + 1
    return F.max_pool2d(masks[:, None].float(), k, stride=1, padding=tolerance)[:, 0] > 0


def energy_in_mask(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """(N,) share of each map's mass inside its mask; NaN for an all-zero map. maps (N, H, W) >= 0."""
    _check_maps_masks(maps, masks)
    if bool((maps < 0).any()):
        raise ValueError("expected non-negative maps for the energy share, got negative values")
    m = maps.double()
    total = m.flatten(1).sum(1)
    inside = (m * masks).flatten(1).sum(1)
    return torch.where(total > 0, inside / total.clamp(min=1e-300), torch.full_like(total, float("nan")))


def localisation(maps: torch.Tensor, masks: torch.Tensor, tolerance: int = 0) -> Localisation:
    """Pointing game and energy in the mask, with chance levels, for maps (N, H, W) >= 0 and masks (N, H, W)."""
    hits = pointing_hits(maps, masks, tolerance)
    energy = energy_in_mask(maps, masks)
    ok = ~torch.isnan(energy)
    return Localisation(
        n=int(maps.shape[0]), pointing=float(hits.double().mean()),
        pointing_chance=float(_widen(masks, tolerance).double().mean()),
        energy=float(energy[ok].mean()) if bool(ok.any()) else float("nan"),
        energy_chance=float(masks.double().mean()), empty=int((~ok).sum()))


def shapes_for_model(name: str, n: int, seed: int = 1, cue_conflict: bool = False):
    """Embedded shapes at zoo model ``name``'s input size: (x normalised (N, C, H, W), masks (N, H, W) bool, set).

    Rendered at the model's size (at most 128 pixels, then resized bilinearly; masks by nearest neighbour).
    """
    c, h, _ = get_entry(name).input_size
    ds = shapes.make_shapes(n, size=min(h, MAX_SHAPES_SIZE), seed=seed, cue_conflict=cue_conflict)
    x = for_model(name).batch(ds.images)
    masks = ds.masks
    assert masks is not None  # the shapes renderer always draws masks
    if x.shape[-1] != h:
        x = F.interpolate(x, size=(h, h), mode="bilinear", align_corners=False, antialias=True)
        masks = F.interpolate(masks[:, None].float(), size=(h, h), mode="nearest")[:, 0] > 0.5
    return x, masks, ds


def passes(method: Method, size: int) -> float:
    """Forward passes one map of ``method`` costs for one image of side ``size``, at most (the weights are frozen,
    so a backward pass computes input gradients only, about one forward's work): 2 for the Grad-CAM family (a
    forward, and a backward that stops at the layer) and saliency, 3 for guided Grad-CAM (a second, guided
    backward to the pixels), 64 for Integrated Gradients (32 steps), one forward per occluded square for
    occlusion."""
    if method == "guided_gradcam":
        return 3.0
    if method == "integrated_gradients":
        return 2.0 * 32
    if method == "occlusion":
        win, stride = occlusion_window(size)
        return float((1 + (size - win) // stride) ** 2 + 1)
    return 2.0


def knows_the_shapes(class_names: Sequence[str]) -> bool:
    """Whether a model with these output names was trained on the embedded shapes: its maps are then scored for
    each image's true class, other models' for their prediction."""
    return tuple(class_names) == shapes.SHAPE_CLASSES


def localisation_flops(name: str, n: int, methods: Sequence[Method], *, predicted: bool) -> float:
    """FLOPs of :func:`localisation_of` for zoo model ``name`` on ``n`` shapes images: every method's maps, plus
    one forward per image when the targets are the model's predictions (``predicted``)."""
    entry = get_entry(name)
    size = entry.input_size[1]
    per_forward = forward_flops(name, size, entry.num_classes)
    return n * per_forward * (sum(passes(m, size) for m in methods) + (1.0 if predicted else 0.0))


def localisation_seconds(seconds_per_image: Mapping[str, float], n: int, *, predicted: bool, size: int,
                         warm: tuple[str, float] | None = None) -> float:
    """Estimated wall time of :func:`localisation_of` on ``n`` images, from each method's seconds for one image
    measured here (:attr:`vizcore.inspect.attribution.Attribution.seconds`), plus one forward per image (one
    :func:`passes` share of the cheapest method's time) when the targets are predictions. Batches of images run
    a little faster per image than one alone.

    A model's first map also pays one-time costs (a light model's first Grad-CAM: 100 ms, the next 15-25 ms), so
    alone it can make the estimate several times too long. ``warm`` is (method, seconds) of one image's map of
    that method timed again: each method's time is then at most its :func:`passes` at that pace."""
    if n < 1 or not seconds_per_image:
        raise ValueError(f"expected at least one image and one method's timing, got {n} and "
                         f"{dict(seconds_per_image)}")
    per = dict(seconds_per_image)
    if warm is not None:
        pace = warm[1] / passes(warm[0], size)  # type: ignore[arg-type]
        per = {m: min(s, pace * passes(m, size)) for m, s in per.items()}  # type: ignore[arg-type]
    forward = min(s / passes(m, size) for m, s in per.items())  # type: ignore[arg-type]
    return n * (sum(per.values()) + (forward if predicted else 0.0))


def localisation_of(model: nn.Module, x: torch.Tensor, masks: torch.Tensor, targets: torch.Tensor,
                    methods: Sequence[Method], layer: str | None, *, lock: threading.Lock | None = None,
                    batch_size: int = 32, progress: Progress | None = None) -> dict[str, Localisation]:
    """Localisation of each method explaining ``targets`` (N,) on x (N, C, H, W) against masks (N, H, W)."""
    out: dict[str, Localisation] = {}
    steps = len(methods) * (-(-x.shape[0] // batch_size))
    done = 0
    for method in methods:
        maps = []
        for s in range(0, x.shape[0], batch_size):
            maps.append(attribute(model, x[s:s + batch_size], method, targets[s:s + batch_size], layer,
                                  lock=lock).maps.cpu())
            done += 1
            if progress:
                progress(done / steps, f"{method}: images {min(s + batch_size, x.shape[0])}/{x.shape[0]}")
        out[method] = localisation(torch.cat(maps), masks.cpu())
    return out


# ------------------------------------------------------------------------------------------- faithfulness

@dataclass(frozen=True)
class Faithfulness:
    fractions: NDArray[np.float64]  # (S+1,) share of pixels removed / inserted
    deletion: NDArray[np.float64]  # (S+1,) mean probability of the target as the top pixels are removed
    insertion: NDArray[np.float64]  # (S+1,) mean probability as the top pixels are put into a blurred copy
    deletion_auc: float  # area under the deletion curve (lower is better)
    insertion_auc: float  # area under the insertion curve (higher is better)
    average_drop: float  # mean of max(0, Y - O) / Y in percent, O on the image x normalised map
    increase: float  # percent of images where O > Y


def _ranks(maps: torch.Tensor) -> torch.Tensor:
    """(N, H, W) -> (N, H*W) position of each pixel in descending map order (ties by index)."""
    order = maps.flatten(1).argsort(dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    return ranks


@torch.no_grad()
def faithfulness(model: nn.Module, x: torch.Tensor, maps: torch.Tensor, targets: torch.Tensor, steps: int = 16,
                 *, lock: threading.Lock | None = None) -> Faithfulness:
    """Deletion / insertion curves and their AUC, average drop and increase in confidence.

    x: (N, C, H, W) normalised input; maps: (N, H, W) >= 0; targets: (N,). Deletion sets pixels to 0 (the mean
    colour after normalisation); insertion starts from a Gaussian blur (sigma = side / 16) of the image.
    """
    if maps.shape != (x.shape[0], *x.shape[2:]):
        raise ValueError(f"expected maps of shape {(x.shape[0], *x.shape[2:])}, got {tuple(maps.shape)}")
    if steps < 1:
        raise ValueError(f"expected at least one step, got {steps}")
    n, _, h, w = x.shape
    ranks = _ranks(maps.to(x.device)).view(n, 1, h, w)
    sigma = max(h, w) / 16
    blurred = gaussian_blur(x, kernel_size=[2 * int(3 * sigma) + 1] * 2, sigma=[sigma, sigma])
    fr = np.linspace(0.0, 1.0, steps + 1)
    t = targets.to(x.device)[:, None]

    def prob(batch: torch.Tensor) -> torch.Tensor:
        return model(batch).softmax(1).gather(1, t)[:, 0]

    dele, ins = [], []
    with lock if lock is not None else nullcontext():
        for f in fr:
            top = ranks < int(round(f * h * w))
            dele.append(float(prob(torch.where(top, torch.zeros_like(x), x)).mean()))
            ins.append(float(prob(torch.where(top, x, blurred)).mean()))
        y = prob(x)
        o = prob(x * normalise(maps.to(x.device))[:, None])
    drop = float((torch.clamp(y - o, min=0) / y.clamp(min=1e-12)).mean() * 100)
    d, i = np.array(dele), np.array(ins)
    return Faithfulness(fr, d, i, float(np.trapezoid(d, fr)), float(np.trapezoid(i, fr)), drop,
                        float((o > y).double().mean() * 100))


# ------------------------------------------------------------------------------------------- sanity check

@dataclass(frozen=True)
class Sanity:
    """Cascading randomisation of one method: step 0 is the trained model, step k has k groups re-initialised."""

    method: str
    blocks: tuple[str, ...]  # (S,) the layer group re-initialised at each step, from the logits down
    spearman: NDArray[np.float64]  # (S+1,) mean Spearman rank correlation with the original map (1.0 at step 0)
    ssim: NDArray[np.float64]  # (S+1,) mean SSIM with the original normalised map (1.0 at step 0)
    strip: NDArray[np.float64]  # (S+1, H, W) the first image's normalised map at every step

    @property
    def passes(self) -> bool:
        """The map changed when the weights were destroyed: final rank correlation below SANITY_THRESHOLD."""
        return bool(self.spearman[-1] < SANITY_THRESHOLD)


def weighted_layers(model: nn.Module, input_size: tuple[int, int, int]) -> list[str]:
    """Module paths of the Conv2d and Linear layers in execution order (one forward of zeros)."""
    order: list[str] = []
    pairs = [(m, lambda _m, _i, _o, p=p: order.append(p) if p not in order else None)
             for p, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    device = next(iter(model.parameters()), torch.zeros(0)).device
    with forward_hooks(pairs), torch.no_grad():
        model(torch.zeros(1, *input_size, device=device))
    return order


def _groups(layers: list[str], max_steps: int) -> list[list[str]]:
    top_down = layers[::-1]
    k = max(1, min(max_steps, len(top_down)))
    return [list(g) for g in np.array_split(np.array(top_down, dtype=object), k)]


def _compare(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Mean Spearman and SSIM between normalised maps a, b (N, H, W); a constant map has no ranks: 0."""
    rs, ss = [], []
    for u, v in zip(normalise(a).cpu().double().numpy(), normalise(b).cpu().double().numpy()):
        constant = np.ptp(u) == 0 or np.ptp(v) == 0
        rs.append(1.0 if constant and np.array_equal(u, v) else 0.0 if constant else float(
            spearmanr(u.ravel(), v.ravel()).statistic))
        ss.append(float(structural_similarity(u, v, data_range=1.0)))
    return float(np.mean(rs)), float(np.mean(ss))


def cascading_randomisation(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, methods: Sequence[Method],
                            layer: str | None, *, max_steps: int = 8, seed: int = 0,
                            lock: threading.Lock | None = None, progress: Progress | None = None) -> dict[str, Sanity]:
    """Adebayo et al.'s cascading randomisation for each method on x (N, C, H, W) explaining targets (N,).

    Works on a private copy (the model passed in is not changed; ``lock`` is held while copying it). The Conv2d/Linear layers are grouped into at
    most ``max_steps`` steps from the logits down; each step re-initialises one more group with the layer's own
    ``reset_parameters`` drawn from ``seed`` (BatchNorm statistics are kept, as in the paper).
    """
    if max_steps < 1:
        raise ValueError(f"expected max_steps >= 1, got {max_steps}")
    with lock if lock is not None else nullcontext():
        work = prepare(model).to(x.device)
    c, h, w = (int(v) for v in x.shape[1:])
    groups = _groups(weighted_layers(work, (c, h, w)), max_steps)
    original = {m: attribute(work, x, m, targets, layer).maps for m in methods}
    rows = {m: [(1.0, 1.0)] for m in methods}
    strips = {m: [normalise(original[m][:1])[0].cpu().double().numpy()] for m in methods}
    for k, group in enumerate(groups):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + k)
            for p in group:
                work.get_submodule(p).reset_parameters()  # type: ignore[operator]  # conv/linear/BN layers
        work.requires_grad_(False)
        for m in methods:
            maps = attribute(work, x, m, targets, layer).maps
            rows[m].append(_compare(original[m], maps))
            strips[m].append(normalise(maps[:1])[0].cpu().double().numpy())
        if progress:
            progress((k + 1) / len(groups), f"randomised {k + 1}/{len(groups)} layer groups")
    names = tuple(g[0] if len(g) == 1 else f"{g[0]} … {g[-1]}" for g in groups)
    return {m: Sanity(m, names, np.array([r[0] for r in rows[m]]), np.array([r[1] for r in rows[m]]),
                      np.stack(strips[m])) for m in methods}


# ------------------------------------------------------------------------------------------- shape or texture

@dataclass(frozen=True, eq=False)
class CueMaps:
    predicted: torch.Tensor  # (N,) the model's class
    decision: tuple[str, ...]  # per image: "shape", "texture" or "other"
    shape_maps: torch.Tensor  # (N, H, W) map for the outline's class
    texture_maps: torch.Tensor  # (N, H, W) map for the fill texture's class


def cue_conflict_maps(model: nn.Module, x: torch.Tensor, shape_labels: torch.Tensor, texture_labels: torch.Tensor,
                      method: Method, layer: str | None, *, lock: threading.Lock | None = None) -> CueMaps:
    """Maps for the outline's class and the texture's class on cue-conflict images x (N, C, H, W)."""
    with (lock if lock is not None else nullcontext()), torch.no_grad():
        pred = model(x).argmax(1).cpu()
    s, t = shape_labels.cpu(), texture_labels.cpu()
    decision = tuple("shape" if p == a else "texture" if p == b else "other"
                     for p, a, b in zip(pred.tolist(), s.tolist(), t.tolist()))
    sm = attribute(model, x, method, s.to(x.device), layer, lock=lock).maps
    tm = attribute(model, x, method, t.to(x.device), layer, lock=lock).maps
    return CueMaps(pred, decision, sm, tm)
