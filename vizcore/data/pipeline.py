"""An augmentation pipeline: an ordered list of operations, each with its parameters and a probability p.

One definition serves the page's preview, the CLI and the training step. Stored as JSON::

    {"name": "mine", "ops": [{"op": "hflip", "p": 0.5},
                             {"op": "rotation", "p": 1.0, "params": {"degrees": 15, "fill_mode": "reflect"}}]}

(a bare list of operations is accepted too). As in ``torchvision/transforms/v2/_augment.py``, the random
choices are drawn (:meth:`Pipeline.draw`, from an explicit ``torch.Generator``) apart from their deterministic
application (:meth:`Pipeline.apply`), so a preview shows exactly what each image drew and training applies the
same objects. For every step, a coin with probability p picks the images it touches (no coin is spent when p
is 0 or 1); the operations are listed in :mod:`vizcore.data.ops`. The presets of :mod:`vizcore.data.augment`
are named pipelines (:data:`PRESET_PIPELINES`) that draw and apply exactly what the presets did. Batch mixing
(MixUp / CutMix) is a batch-level stage after this per-image pipeline (:func:`vizcore.data.augment.mix_batch`).
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from vizcore.data.ops import OPS, Draw, OpDef, Param

MAX_OPS = 16  # operations in one pipeline
MAX_IMAGES = 4096  # images drawn for at once (the largest training batch)
MAX_SIDE = 1024  # image side (pixels)
MAX_JSON_BYTES = 200_000


def _check_param(op: OpDef, prm: Param, value: Any) -> Any:
    where = f"{op.name} {prm.name}"

    def number(v: Any, integer: bool) -> float:
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if not ok or isinstance(v, bool) or not math.isfinite(v):
            raise ValueError(f"expected {where} to be {'an integer' if integer else 'a number'}, got {v!r}")
        if not prm.lo <= v <= prm.hi:
            raise ValueError(f"expected {where} between {prm.lo:g} and {prm.hi:g}, got {v!r}")
        return v

    if prm.kind == "choice":
        if value not in prm.choices:
            raise ValueError(f"expected {where} to be one of {', '.join(prm.choices)}, got {value!r}")
        return value
    if prm.kind in ("float", "int"):
        v = number(value, prm.kind == "int")
        if op.name == "gaussian_blur" and prm.name == "kernel_size" and v % 2 == 0:
            raise ValueError(f"expected {where} to be odd, got {v!r}")
        return float(v) if prm.kind == "float" else int(v)
    if prm.kind == "range":
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ValueError(f"expected {where} as [low, high], got {value!r}")
        lo, hi = (float(number(v, False)) for v in value)
        if lo > hi:
            raise ValueError(f"expected {where} low <= high, got {list(value)!r}")
        return [lo, hi]
    # vector: a list of 3 numbers, or a 3x3 list of lists
    shape = (3, 3) if isinstance(prm.default[0], list) else (3,)
    try:
        t = torch.tensor(value, dtype=torch.float64)
    except (TypeError, ValueError):
        raise ValueError(f"expected {where} as a list of numbers of shape {shape}, got {value!r}") from None
    if tuple(t.shape) != shape or not bool(torch.isfinite(t).all()):
        raise ValueError(f"expected {where} of shape {shape}, got {value!r}")
    if bool((t < prm.lo).any() or (t > prm.hi).any()):
        raise ValueError(f"expected {where} values between {prm.lo:g} and {prm.hi:g}, got {value!r}")
    return t.tolist()


@dataclass(frozen=True)
class Step:
    """One operation of a pipeline with its validated parameters (all of them, defaults filled in)."""

    op: str  # a name from vizcore.data.ops.OPS
    p: float = 1.0  # probability that an image gets this operation
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.op, str) or self.op not in OPS:
            raise ValueError(f"expected an operation from {', '.join(OPS)}, got {self.op!r}")
        d = OPS[self.op]
        if isinstance(self.p, bool) or not isinstance(self.p, (int, float)) or not 0.0 <= self.p <= 1.0:
            raise ValueError(f"expected p (probability) of {self.op} between 0 and 1, got {self.p!r}")
        if not isinstance(self.params, Mapping):
            raise ValueError(f"expected params of {self.op} as an object, got {type(self.params).__name__}")
        names = [q.name for q in d.params]
        unknown = sorted(set(self.params) - set(names))
        if unknown:
            allowed = ", ".join(names) if names else "none"
            raise ValueError(f"expected parameters of {self.op} from {allowed}, got unknown {', '.join(unknown)}")
        full = {q.name: _check_param(d, q, self.params.get(q.name, q.default)) for q in d.params}
        object.__setattr__(self, "p", float(self.p))
        object.__setattr__(self, "params", full)

    @property
    def definition(self) -> OpDef:
        return OPS[self.op]

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "p": self.p, "params": dict(self.params)}

    def label(self) -> str:
        """e.g. 'Rotation (degrees 15, fill_mode reflect) p=0.5'."""
        shown = ", ".join(f"{k} {v}" for k, v in self.params.items() if k not in ("eigval", "eigvec"))
        return f"{self.definition.title}{f' ({shown})' if shown else ''}" + (f" p={self.p:g}" if self.p < 1 else "")


@dataclass(frozen=True, eq=False)  # holds tensors: identity equality
class StepDraw:
    """What one step drew for a batch: the images it touches and each one's parameters."""

    op: str
    index: torch.Tensor  # (K,) int64: the images this step applies to (the p coin came up)
    draws: tuple[Draw, ...]  # K dicts, in the order of ``index``


@dataclass(frozen=True, eq=False)
class PipelineDraw:
    """Everything a pipeline drew for a batch of ``n`` images."""

    n: int
    steps: tuple[StepDraw, ...]

    def of_image(self, i: int) -> list[tuple[str, Draw]]:
        """(operation, drawn parameters) of image ``i``, in pipeline order; skipped steps are left out."""
        out = []
        for s in self.steps:
            hit = (s.index == i).nonzero()
            if len(hit):
                out.append((s.op, s.draws[int(hit[0, 0])]))
        return out

    def describe(self, i: int) -> str:
        """A one-line caption of image ``i``'s draw, e.g. 'hflip · rotation angle=-7.1 · randaugment Rotate -12'."""
        parts = []
        for op, d in self.of_image(i):
            if "ops" in d:
                parts.append(op + " " + ", ".join(n if n in ("Identity", "AutoContrast", "Equalize")
                                                  else f"{n} {m:.3g}" for n, m in d["ops"]))
            elif "chains" in d:
                parts.append(f"{op} ({len(d['chains'])} chains, original weight {d['original_weight']:.2f})")
            else:
                parts.append(" ".join([op, *(f"{k}={_fmt(v)}" for k, v in d.items())]))
        return " · ".join(parts) if parts else "unchanged"


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else json.dumps(v)


@dataclass(frozen=True)
class Pipeline:
    """An ordered list of :class:`Step`; ``name`` is for display."""

    steps: tuple[Step, ...] = ()
    name: str = "custom"

    def __post_init__(self) -> None:
        steps = tuple(self.steps)
        if len(steps) > MAX_OPS:
            raise ValueError(f"expected at most {MAX_OPS} operations in a pipeline, got {len(steps)}")
        if not all(isinstance(s, Step) for s in steps):
            raise ValueError("expected pipeline steps to be Step objects")
        object.__setattr__(self, "steps", steps)

    # ---- JSON
    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ops": [s.to_dict() for s in self.steps]}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_obj(cls, obj: Any) -> Pipeline:
        """From a dict ``{"name": ..., "ops": [...]}`` or a bare list of ``{"op", "p", "params"}`` objects."""
        if isinstance(obj, Pipeline):
            return obj
        name = "custom"
        if isinstance(obj, Mapping):
            unknown = sorted(set(obj) - {"name", "ops"})
            if unknown or "ops" not in obj:
                raise ValueError(f"expected a pipeline object with 'ops' (and optionally 'name'), "
                                 f"got keys {', '.join(sorted(obj)) or 'none'}")
            name = str(obj.get("name", name))
            obj = obj["ops"]
        if not isinstance(obj, (list, tuple)):
            raise ValueError(f"expected a list of operations, got {type(obj).__name__}")
        steps = []
        for k, s in enumerate(obj):
            if not isinstance(s, Mapping) or "op" not in s:
                raise ValueError(f"expected operation {k + 1} as an object with 'op', got {s!r}")
            extra = sorted(set(s) - {"op", "p", "params"})
            if extra:
                raise ValueError(f"expected operation {k + 1} keys from op, p, params, got unknown {', '.join(extra)}")
            steps.append(Step(s["op"], s.get("p", 1.0), s.get("params", {})))
        return cls(tuple(steps), name)

    @classmethod
    def from_json(cls, text: str) -> Pipeline:
        if len(text) > MAX_JSON_BYTES:
            raise ValueError(f"expected a pipeline JSON of at most {MAX_JSON_BYTES} bytes, got {len(text)}")
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"expected pipeline JSON, got invalid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_obj(obj)

    # ---- draw / apply
    def draw(self, n: int, height: int, width: int, generator: torch.Generator) -> PipelineDraw:
        """Draw every step's choices for ``n`` images of ``height`` x ``width`` (a CPU generator)."""
        if not isinstance(n, int) or not 0 <= n <= MAX_IMAGES:
            raise ValueError(f"expected between 0 and {MAX_IMAGES} images, got {n!r}")
        if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
            raise ValueError(f"expected image sides between 1 and {MAX_SIDE} pixels, got {height}x{width}")
        out = []
        for s in self.steps:
            if s.p >= 1.0:
                index = torch.arange(n)
            elif s.p <= 0.0:
                index = torch.zeros(0, dtype=torch.int64)
            else:
                index = (torch.rand(n, generator=generator) < s.p).nonzero().flatten()
            draws = s.definition.draw(s.params, len(index), height, width, generator) if len(index) else []
            out.append(StepDraw(s.op, index, tuple(draws)))
        return PipelineDraw(n, tuple(out))

    def apply(self, images: torch.Tensor, drawn: PipelineDraw) -> torch.Tensor:
        """Apply drawn choices to uint8 images (N, C, H, W) -> uint8 (N, C, H, W); deterministic."""
        check_images(images)
        if drawn.n != images.shape[0] or len(drawn.steps) != len(self.steps):
            raise ValueError(f"expected a draw for {images.shape[0]} images and {len(self.steps)} steps, "
                             f"got {drawn.n} images and {len(drawn.steps)} steps")
        out = images
        for s, d in zip(self.steps, drawn.steps):
            if not len(d.index):
                continue
            if len(d.index) == out.shape[0]:
                out = s.definition.apply(out, list(d.draws), s.params)
            else:
                idx = d.index.to(out.device)
                out = out.clone()
                out[idx] = s.definition.apply(out[idx], list(d.draws), s.params)
        return out

    def run(self, images: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, PipelineDraw]:
        """Draw and apply to a uint8 batch (N, C, H, W): -> (augmented uint8 batch, what was drawn)."""
        check_images(images)
        drawn = self.draw(images.shape[0], images.shape[-2], images.shape[-1], generator)
        return self.apply(images, drawn), drawn

    def single(self, k: int) -> Pipeline:
        """Step ``k`` alone with p = 1 (to measure one operation's effect)."""
        s = self.steps[k]
        return Pipeline((Step(s.op, 1.0, s.params),), s.op)


def check_images(images: torch.Tensor) -> None:
    """Refuse anything but a uint8 batch (N, 1 or 3, H, W)."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.dtype != torch.uint8:
        got = f"{tuple(images.shape)} {images.dtype}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"expected images (N, C, H, W) uint8, got {got}")
    if images.shape[1] not in (1, 3):
        raise ValueError(f"expected 1 or 3 channels, got {images.shape[1]}")


def preset_pipeline(preset: str, randaugment_n: int = 2, randaugment_m: int = 9, crop_padding: int = 4) -> Pipeline:
    """The pipeline of an :class:`vizcore.data.augment.AugmentConfig` preset: none, flip, flip_crop, randaugment,
    trivialaugment (the last two after flip + crop), drawing and applying exactly what the preset does."""
    if preset not in ("none", "flip", "flip_crop", "randaugment", "trivialaugment"):
        raise ValueError(f"expected preset none, flip, flip_crop, randaugment or trivialaugment, got {preset!r}")
    if preset == "none":
        return Pipeline((), "none")
    steps = [Step("hflip", 0.5)]
    if crop_padding and preset != "flip":
        steps.append(Step("crop", 1.0, {"padding": crop_padding, "fill_mode": "reflect"}))
    if preset == "randaugment":
        steps.append(Step("randaugment", 1.0, {"n": randaugment_n, "m": randaugment_m}))
    elif preset == "trivialaugment":
        steps.append(Step("trivialaugment"))
    return Pipeline(tuple(steps), preset)


PRESET_PIPELINES: dict[str, Pipeline] = {name: preset_pipeline(name)
                                         for name in ("none", "flip", "flip_crop", "randaugment", "trivialaugment")}


def load_pipeline(source: Any) -> Pipeline:
    """A pipeline from a :class:`Pipeline`, a dict or list, JSON text, a preset name, or a JSON file path."""
    from pathlib import Path

    if isinstance(source, (Pipeline, Mapping, list, tuple)):
        return Pipeline.from_obj(source)
    if not isinstance(source, (str, Path)):
        raise ValueError(f"expected a pipeline (JSON object, list, preset name or file path), got "
                         f"{type(source).__name__}")
    text = str(source).strip()
    if text.startswith(("{", "[")):
        return Pipeline.from_json(text)
    if text in PRESET_PIPELINES:
        return PRESET_PIPELINES[text]
    path = Path(text).expanduser()
    if not path.is_file():
        raise ValueError(f"expected a pipeline JSON file, a preset name or JSON text, got {text!r} (no such file)")
    from vizcore.core.io import read_text_capped

    return Pipeline.from_json(read_text_capped(path, MAX_JSON_BYTES, "pipeline file"))
