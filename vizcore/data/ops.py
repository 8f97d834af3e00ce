"""The operations of an augmentation pipeline: parameters, how each draws its randomness, how it is applied.

Each operation follows a ``torchvision.transforms.v2`` transform (named in ``source``): its ``draw`` reproduces
that transform's ``make_params`` distribution from an explicit ``torch.Generator`` (torchvision draws from the
global RNG), one JSON-able dict per image; its ``apply`` is deterministic given those dicts and runs batched
(:mod:`vizcore.data.kernels`) or through torchvision's kernel once per group of images that drew the same values.
The papers: flips and crops (He et al., CVPR 2016), Cutout (DeVries & Taylor, 2017), Random Erasing (Zhong et
al., AAAI 2020), elastic distortion (Simard et al., ICDAR 2003), PCA lighting (Krizhevsky et al., NeurIPS 2012
§4.1); RandAugment, TrivialAugment and AugMix live in :mod:`vizcore.data.auto_ops`.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch

from vizcore.core import lazy
from vizcore.data import auto_ops, kernels, lighting

if TYPE_CHECKING:
    from torchvision.transforms.v2 import functional as F
else:  # imported at the first operation that uses it: a run without such operations trains without torchvision
    F = lazy.module("torchvision.transforms.v2.functional")

Draw = dict[str, Any]  # what one image drew for one operation (JSON-able)
Params = Mapping[str, Any]  # an operation's static parameters, validated
DrawFn = Callable[[Params, int, int, int, torch.Generator], list[Draw]]  # (params, n, height, width, gen)
ApplyFn = Callable[[torch.Tensor, list[Draw], Params], torch.Tensor]  # (uint8 images, draws, params)


@dataclass(frozen=True)
class Param:
    """One parameter: a number in [lo, hi], a [low, high] range inside [lo, hi], or one of ``choices``."""

    name: str
    default: Any
    kind: Literal["float", "int", "range", "choice", "vector"] = "float"
    lo: float = 0.0
    hi: float = 1.0
    choices: tuple[str, ...] = ()
    help: str = ""


@dataclass(frozen=True)
class OpDef:
    """An operation of the pipeline."""

    name: str  # lower_snake name used in JSON
    title: str  # shown on the page
    source: str  # the torchvision transform it follows, or the paper
    params: tuple[Param, ...]
    draw: DrawFn
    apply: ApplyFn
    batched: bool  # applied to the whole batch at once (False: once per group of equal draws)


def _u(gen: torch.Generator, n: int, lo: float, hi: float) -> list[float]:
    return (torch.rand(n, generator=gen, dtype=torch.float64) * (hi - lo) + lo).tolist()


def _seeds(gen: torch.Generator, n: int) -> list[int]:
    return torch.randint(0, 2**31 - 1, (n,), generator=gen).tolist()


def _none(p: Params, n: int, h: int, w: int, g: torch.Generator) -> list[Draw]:
    return [{} for _ in range(n)]


_FILL = (Param("fill_mode", "constant", "choice", choices=kernels.FILL_MODES,
               help="what fills pixels from outside the image: a constant colour, the edge pixel, a mirror image"),
         Param("fill", 0, "int", 0, 255, help="the constant fill value (0-255)"))


def _fill(p: Params) -> dict[str, Any]:
    return {"fill_mode": p["fill_mode"], "fill": float(p["fill"])}


# ---------------------------------------------------------------------------------------- geometry


def _draw_crop(p: Params, n: int, h: int, w: int, g: torch.Generator) -> list[Draw]:
    pad = int(p["padding"])
    off = torch.randint(0, 2 * pad + 1, (n, 2), generator=g).tolist()
    return [{"dx": c - pad, "dy": r - pad} for r, c in off]


def _apply_crop(x: torch.Tensor, d: list[Draw], p: Params) -> torch.Tensor:
    pad = int(p["padding"])
    off = torch.tensor([[e["dy"] + pad, e["dx"] + pad] for e in d], dtype=torch.int64)
    return kernels.shifted_crop(x, off, pad, p["fill_mode"], float(p["fill"]))


def _draw_rotation(p: Params, n: int, h: int, w: int, g: torch.Generator) -> list[Draw]:
    return [{"angle": round(a, 3)} for a in _u(g, n, -p["degrees"], p["degrees"])]


def _draw_translate(p: Params, n: int, h: int, w: int, g: torch.Generator) -> list[Draw]:
    mx, my = p["fraction"] * w, p["fraction"] * h  # v2.RandomAffine: whole pixels, uniform in [-max, max]
    return [{"tx": int(round(a)), "ty": int(round(b))} for a, b in zip(_u(g, n, -mx, mx), _u(g, n, -my, my))]


def _draw_scale(p: Params, n: int, h: int, w: int, g: torch.Generator) -> list[Draw]:
    return [{"scale": round(s, 4)} for s in _u(g, n, *p["scale"])]


def _draw_shear(p: Params, n: int, h: int, w: int, g: torch.Generator) -> list[Draw]:
    return [{"shear": round(s, 3)} for s in _u(g, n, -p["degrees"], p["degrees"])]


def _apply_affine(x: torch.Tensor, d: list[Draw], p: Params) -> torch.Tensor:
    n = len(d)
    return kernels.affine(x, [e.get("angle", 0.0) for e in d], [(e.get("tx", 0), e.get("ty", 0)) for e in d],
                          [e.get("scale", 1.0) for e in d], [(e.get("shear", 0.0), 0.0) for e in d][:n], **_fill(p))


def _draw_rrc(p: Params, n: int, h: int, w: int, g: torch.Generator) -> list[Draw]:
    # v2.RandomResizedCrop.make_params: 10 tries of area x log-uniform aspect ratio, else a centre crop
    out = []
    area, lr = h * w, (math.log(p["ratio"][0]), math.log(p["ratio"][1]))
    for _ in range(n):
        for _ in range(10):
            target = area * _u(g, 1, *p["scale"])[0]
            ar = math.exp(_u(g, 1, *lr)[0])
            cw, ch = int(round(math.sqrt(target * ar))), int(round(math.sqrt(target / ar)))
            if 0 < cw <= w and 0 < ch <= h:
                top = int(torch.randint(0, h - ch + 1, (), generator=g))
                left = int(torch.randint(0, w - cw + 1, (), generator=g))
                break
        else:
            in_ratio = w / h
            if in_ratio < p["ratio"][0]:
                cw, ch = w, int(round(w / p["ratio"][0]))
            elif in_ratio > p["ratio"][1]:
                ch, cw = h, int(round(h * p["ratio"][1]))
            else:
                cw, ch = w, h
            top, left = (h - ch) // 2, (w - cw) // 2
        out.append({"top": top, "left": left, "height": ch, "width": cw})
    return out


def _apply_rrc(x: torch.Tensor, d: list[Draw], p: Params) -> torch.Tensor:
    h, w = x.shape[-2:]
    return torch.cat([F.resized_crop(x[i:i + 1], e["top"], e["left"], e["height"], e["width"], [h, w], antialias=True)
                      for i, e in enumerate(d)])


def _draw_perspective(p: Params, n: int, h: int, w: int, g: torch.Generator) -> list[Draw]:
    # v2.RandomPerspective.make_params: each corner moves inwards by up to distortion × half the side
    bh, bw = int(p["distortion"] * (h // 2)) + 1, int(p["distortion"] * (w // 2)) + 1
    out = []
    for _ in range(n):
        r = [int(v) for v in torch.randint(0, 1 << 30, (8,), generator=g)]
        tl = [r[0] % bw, r[1] % bh]
        tr = [w - bw + r[2] % bw, r[3] % bh]
        br = [w - bw + r[4] % bw, h - bh + r[5] % bh]
        bl = [r[6] % bw, h - bh + r[7] % bh]
        out.append({"corners": [tl, tr, br, bl]})
    return out


def _apply_perspective(x: torch.Tensor, d: list[Draw], p: Params) -> torch.Tensor:
    return kernels.perspective(x, [e["corners"] for e in d], **_fill(p))


def _draw_elastic(p: Params, n: int, h: int, w: int, g: torch.Generator) -> list[Draw]:
    return [{"field_seed": s} for s in _seeds(g, n)]


def _apply_elastic(x: torch.Tensor, d: list[Draw], p: Params) -> torch.Tensor:
    return kernels.elastic(x, [e["field_seed"] for e in d], float(p["alpha"]), float(p["sigma"]), **_fill(p))


# ---------------------------------------------------------------------------------------- colour

_JITTER = ("brightness", "contrast", "saturation", "hue")


def _draw_jitter(p: Params, n: int, h: int, w: int, g: torch.Generator) -> list[Draw]:
    # v2.ColorJitter.make_params: a random order of the four, each factor uniform (hue: a shift in [-h, h])
    order = torch.rand(n, 4, generator=g).argsort(1).tolist()  # a uniform permutation per image
    u = torch.rand(n, 4, generator=g, dtype=torch.float64).tolist()
    out = []
    for o, r in zip(order, u):
        e: Draw = {"order": [_JITTER[k] for k in o if p[_JITTER[k]] > 0]}
        for k, name in enumerate(_JITTER):
            if p[name] > 0:
                lo, hi = (-p[name], p[name]) if name == "hue" else (max(0.0, 1 - p[name]), 1 + p[name])
                e[name] = round(lo + (hi - lo) * r[k], 4)
        out.append(e)
    return out


def _apply_jitter(x: torch.Tensor, d: list[Draw], p: Params) -> torch.Tensor:
    # One pass per position in the images' orders. Brightness, contrast and saturation are all torchvision's
    # blend f·x + (1 - f)·other (other = black, the grey mean, the grey image): one batched blend per position,
    # each image with its own factor and its own "other"; factor 1 (no operation at this position) is exact.
    for pos in range(max((len(e["order"]) for e in d), default=0)):
        at = [e["order"][pos] if len(e["order"]) > pos else "" for e in d]
        hue_idx = [i for i, k in enumerate(at) if k == "hue"]
        if len(hue_idx) < len(d):
            factors = [d[i][k] if k and k != "hue" else 1.0 for i, k in enumerate(at)]
            kind = torch.tensor([("", "hue", "brightness", "contrast", "saturation").index(k) for k in at],
                                device=x.device).view(-1, 1, 1, 1)
            x = kernels.blend_jitter(x, factors, kind)
        if hue_idx:
            t = torch.tensor(hue_idx, device=x.device)
            x = x.clone()
            x[t] = kernels.hue(x[t], [d[i]["hue"] for i in hue_idx])
    return x


def _draw_gamma(p: Params, n: int, h: int, w: int, g: torch.Generator) -> list[Draw]:
    return [{"gamma": round(v, 4)} for v in _u(g, n, *p["gamma"])]


def _draw_blur(p: Params, n: int, h: int, w: int, g: torch.Generator) -> list[Draw]:
    return [{"sigma": round(v, 4)} for v in _u(g, n, *p["sigma"])]  # v2.GaussianBlur: sigma uniform


def _draw_noise(p: Params, n: int, h: int, w: int, g: torch.Generator) -> list[Draw]:
    return [{"noise_seed": s} for s in _seeds(g, n)]


def _apply_noise(x: torch.Tensor, d: list[Draw], p: Params) -> torch.Tensor:
    # v2.GaussianNoise on [0, 1] pixels, clipped; each image's noise from its own seed
    noise = torch.stack([torch.randn(x.shape[1:], generator=torch.Generator().manual_seed(e["noise_seed"]))
                         for e in d]).to(x.device)
    out = F.to_dtype(x, torch.float32, scale=True).add_(noise, alpha=float(p["sigma"])).clamp_(0.0, 1.0)
    return out.mul_(255.0).round_().to(x.dtype)


def _single(fn: Callable[[torch.Tensor, Params], torch.Tensor]) -> ApplyFn:
    """An operation without random parameters: one torchvision call on all selected images."""
    return lambda x, d, p: fn(x, p)


def _grey(x: torch.Tensor, p: Params) -> torch.Tensor:
    return F.rgb_to_grayscale(x, num_output_channels=3) if x.shape[1] == 3 else x


# ---------------------------------------------------------------------------------------- occlusion


def _draw_erasing(p: Params, n: int, h: int, w: int, g: torch.Generator) -> list[Draw]:
    # v2.RandomErasing.make_params: 10 tries of area x log-uniform aspect ratio; no box found = unchanged
    out: list[Draw] = []
    area, lr = h * w, (math.log(p["ratio"][0]), math.log(p["ratio"][1]))
    for _ in range(n):
        box = None
        for _ in range(10):
            ea = area * _u(g, 1, *p["scale"])[0]
            ar = math.exp(_u(g, 1, *lr)[0])
            bh, bw = int(round(math.sqrt(ea * ar))), int(round(math.sqrt(ea / ar)))
            if bh < h and bw < w:
                top = int(torch.randint(0, h - bh + 1, (), generator=g))
                left = int(torch.randint(0, w - bw + 1, (), generator=g))
                box = [top, left, bh, bw]
                break
        out.append({"box": box})
    return out


def _draw_cutout(p: Params, n: int, h: int, w: int, g: torch.Generator) -> list[Draw]:
    # Cutout: a size x size square centred on a uniform pixel, clipped to the image
    s = int(p["size"])
    cy = torch.randint(0, h, (n,), generator=g).tolist()
    cx = torch.randint(0, w, (n,), generator=g).tolist()
    out = []
    for y, x in zip(cy, cx):
        t, left = max(y - s // 2, 0), max(x - s // 2, 0)
        out.append({"box": [t, left, min(y - s // 2 + s, h) - t, min(x - s // 2 + s, w) - left]})
    return out


def _apply_boxes(x: torch.Tensor, d: list[Draw], p: Params) -> torch.Tensor:
    boxes = torch.tensor([e["box"] or [0, 0, 0, 0] for e in d], dtype=torch.int64, device=x.device)
    mask = kernels.box_mask(x.shape[-2], x.shape[-1], boxes)
    return torch.where(mask, torch.tensor(int(p["value"]), dtype=x.dtype, device=x.device), x)


# ---------------------------------------------------------------------------------------- the table

_RANGE: Literal["range"] = "range"
OPS: dict[str, OpDef] = {op.name: op for op in [
    OpDef("hflip", "Horizontal flip", "v2.RandomHorizontalFlip", (), _none,
          _single(lambda x, p: x.flip(-1)), True),
    OpDef("vflip", "Vertical flip", "v2.RandomVerticalFlip", (), _none, _single(lambda x, p: x.flip(-2)), True),
    OpDef("crop", "Padded random crop", "v2.RandomCrop(padding, padding_mode)",
          (Param("padding", 4, "int", 0, 32, help="pixels padded on each side before cropping back"),
           Param("fill_mode", "reflect", "choice", choices=kernels.FILL_MODES, help="how the padding is filled"),
           _FILL[1]), _draw_crop, _apply_crop, True),
    OpDef("rotation", "Rotation", "v2.RandomRotation",
          (Param("degrees", 15.0, "float", 0, 180, help="angle uniform in [-degrees, degrees]"), *_FILL),
          _draw_rotation, _apply_affine, True),
    OpDef("translate", "Translation", "v2.RandomAffine(translate)",
          (Param("fraction", 0.1, "float", 0, 0.5, help="shift up to this fraction of the side"), *_FILL),
          _draw_translate, _apply_affine, True),
    OpDef("scale", "Scale (zoom)", "v2.RandomAffine(scale)",
          (Param("scale", [0.8, 1.2], _RANGE, 0.1, 4.0, help="zoom factor uniform in [low, high]"), *_FILL),
          _draw_scale, _apply_affine, True),
    OpDef("shear", "Shear", "v2.RandomAffine(shear)",
          (Param("degrees", 10.0, "float", 0, 60, help="horizontal shear angle uniform in [-degrees, degrees]"),
           *_FILL), _draw_shear, _apply_affine, True),
    OpDef("random_resized_crop", "Random resized crop", "v2.RandomResizedCrop",
          (Param("scale", [0.35, 1.0], _RANGE, 0.01, 1.0, help="crop area as a fraction of the image"),
           Param("ratio", [0.75, 1.333], _RANGE, 0.1, 10.0, help="crop aspect ratio (width / height)")),
          _draw_rrc, _apply_rrc, False),
    OpDef("perspective", "Perspective", "v2.RandomPerspective",
          (Param("distortion", 0.3, "float", 0, 1, help="how far corners may move, as a fraction of half a side"),
           *_FILL), _draw_perspective, _apply_perspective, True),
    OpDef("elastic", "Elastic distortion", "v2.ElasticTransform",
          (Param("alpha", 30.0, "float", 0, 200, help="displacement strength (pixels)"),
           Param("sigma", 4.0, "float", 0.1, 20, help="smoothness of the displacement field (pixels)"), *_FILL),
          _draw_elastic, _apply_elastic, True),
    OpDef("color_jitter", "Colour jitter", "v2.ColorJitter",
          (Param("brightness", 0.4, "float", 0, 2), Param("contrast", 0.4, "float", 0, 2),
           Param("saturation", 0.4, "float", 0, 2), Param("hue", 0.05, "float", 0, 0.5)),
          _draw_jitter, _apply_jitter, True),
    OpDef("grayscale", "Grayscale", "v2.RandomGrayscale", (), _none, _single(_grey), True),
    OpDef("gamma", "Gamma", "v2.functional.adjust_gamma",
          (Param("gamma", [0.7, 1.5], _RANGE, 0.1, 5.0, help="gamma uniform in [low, high]"),),
          _draw_gamma, lambda x, d, p: kernels.gamma(x, [e["gamma"] for e in d]), True),
    OpDef("gaussian_blur", "Gaussian blur", "v2.GaussianBlur",
          (Param("kernel_size", 5, "int", 3, 31, help="odd kernel side (pixels)"),
           Param("sigma", [0.1, 2.0], _RANGE, 0.05, 10.0, help="sigma uniform in [low, high] (pixels)")),
          _draw_blur, lambda x, d, p: kernels.gaussian_blur(x, int(p["kernel_size"]), [e["sigma"] for e in d]), True),
    OpDef("sharpness", "Sharpness", "v2.RandomAdjustSharpness",
          (Param("factor", 2.0, "float", 0, 10, help="0 blurs, 1 keeps, 2 sharpens twice"),), _none,
          _single(lambda x, p: F.adjust_sharpness(x, float(p["factor"]))), True),
    OpDef("posterize", "Posterize", "v2.RandomPosterize", (Param("bits", 4, "int", 1, 8, help="bits kept per channel"),),
          _none, _single(lambda x, p: F.posterize(x, int(p["bits"]))), True),
    OpDef("solarize", "Solarize", "v2.RandomSolarize",
          (Param("threshold", 128, "int", 0, 255, help="pixels at or above it are inverted"),), _none,
          _single(lambda x, p: F.solarize(x, float(p["threshold"]))), True),
    OpDef("equalize", "Equalize", "v2.RandomEqualize", (), _none, _single(lambda x, p: F.equalize(x)), True),
    OpDef("autocontrast", "Autocontrast", "v2.RandomAutocontrast", (), _none,
          _single(lambda x, p: F.autocontrast(x)), True),
    OpDef("invert", "Invert", "v2.RandomInvert", (), _none, _single(lambda x, p: F.invert(x)), True),
    OpDef("gaussian_noise", "Gaussian noise", "v2.GaussianNoise(clip=True)",
          (Param("sigma", 0.05, "float", 0, 1, help="noise std on pixels in [0, 1]"),), _draw_noise, _apply_noise, True),
    OpDef("random_erasing", "Random erasing", "v2.RandomErasing (Zhong et al., 2020)",
          (Param("scale", [0.02, 0.33], _RANGE, 0.001, 1.0, help="erased area as a fraction of the image"),
           Param("ratio", [0.3, 3.3], _RANGE, 0.05, 20.0, help="box aspect ratio"),
           Param("value", 0, "int", 0, 255, help="pixel value written into the box")),
          _draw_erasing, _apply_boxes, True),
    OpDef("cutout", "Cutout", "DeVries & Taylor, 2017 (a fixed square of v2.RandomErasing's kind)",
          (Param("size", 8, "int", 1, 256, help="square side (pixels), clipped at the border"),
           Param("value", 0, "int", 0, 255, help="pixel value written into the square")),
          _draw_cutout, _apply_boxes, True),
    OpDef("pca_lighting", "PCA lighting noise", "Krizhevsky et al., 2012 §4.1 (not in torchvision)",
          (Param("sigma", 0.1, "float", 0, 1, help="std of the Gaussian weight of each principal component"),
           Param("eigval", list(lighting.IMAGENET_EIGVAL), "vector", 0, 10, help="RGB covariance eigenvalues"),
           Param("eigvec", [list(r) for r in lighting.IMAGENET_EIGVEC], "vector", -1, 1,
                 help="3x3 matrix whose columns are the eigenvectors")),
          lighting.draw, lighting.apply, True),
    OpDef("randaugment", "RandAugment", "v2.RandAugment (Cubuk et al., 2020)",
          (Param("n", 2, "int", 1, 10, help="operations per image"),
           Param("m", 9, "int", 0, auto_ops.NUM_MAGNITUDE_BINS - 1, help="magnitude bin 0..30")),
          auto_ops.draw_randaugment, auto_ops.apply_ops, False),
    OpDef("trivialaugment", "TrivialAugment", "v2.TrivialAugmentWide (Muller & Hutter, 2021)", (),
          auto_ops.draw_trivialaugment, auto_ops.apply_ops, False),
    OpDef("augmix", "AugMix", "v2.AugMix (Hendrycks et al., 2020)",
          (Param("severity", 3, "int", 1, 10), Param("width", 3, "int", 1, 5, help="augmentation chains mixed"),
           Param("depth", -1, "int", -1, 3, help="operations per chain; -1 draws 1..3"),
           Param("alpha", 1.0, "float", 0.01, 10, help="Dirichlet / Beta concentration")),
          auto_ops.draw_augmix, auto_ops.apply_augmix, False),
]}
