"""Per-layer summary of any ``nn.Module``: shapes, parameters, multiply-adds, layer settings.

Shapes come from forward hooks on the leaf modules during one real forward pass (so they are torch's own
shapes, not re-derived). Multiply-adds come from ``torch.utils.flop_counter.FlopCounterMode`` (FLOPs / 2),
the counting behind torchvision's published ``_ops`` metadata: convolutions and matrix products count,
element-wise layers (BN, activations, pooling) count zero. Parameters shared by several layers count once.
Memory: each row's ``output_bytes`` is its output for one instance in float32; ``activation_bytes`` sums them over
every leaf call — what autograd keeps for the backward pass of one image (:func:`vizcore.core.hooks.leaf_output_numel`
counts the same); :mod:`vizcore.arch.memory` turns it into what a training batch needs.
"""
from __future__ import annotations

import functools
from collections import Counter, defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from vizcore.core.hooks import forward_hooks, leaf_modules
from vizcore.core.meta import shape_only
from vizcore.models import registry

MAX_INPUT_ELEMENTS = 3 * 2048 * 2048  # one image, at most; larger inputs are refused
BYTES_PER_VALUE = 4  # float32


@dataclass(frozen=True)
class LayerRecord:
    index: int  # execution order (a module called twice gives two rows)
    name: str  # module path, e.g. "layer1.0.conv1"
    type: str  # class name, e.g. "Conv2d"
    kernel: tuple[int, ...] | None  # conv/pool kernel size
    stride: tuple[int, ...] | None
    padding: tuple[int, ...] | str | None
    dilation: tuple[int, ...] | None
    groups: int | None
    in_shape: tuple[int, ...]  # without the batch dimension
    out_shape: tuple[int, ...]  # without the batch dimension
    params: int  # parameters this row owns (0 on a repeated call of a shared module)
    macs: int  # multiply-adds of this call (batch of one)
    trainable: bool | None  # any of its parameters requires grad; None for a layer without parameters
    depth: int  # nesting depth of the module path
    shared: bool = False  # a repeated call of a module seen before
    output_bytes: int = 0  # this call's output for one instance, float32 (4 bytes a value)


@dataclass(frozen=True)
class ModelSummary:
    input_shape: tuple[int, ...]  # (C, H, W)
    output_shape: tuple[int, ...]
    layers: list[LayerRecord]
    total_params: int  # unique parameters
    trainable_params: int
    total_macs: int  # whole forward pass, batch of one
    stages: list[dict] = field(default_factory=list)  # per output resolution: params, macs, layers
    activation_bytes: int = 0  # sum of every leaf call's output for one instance, float32

    def to_rows(self) -> list[dict]:
        """Layer records as plain dicts (for tables and JSON)."""
        from dataclasses import asdict

        return [asdict(r) for r in self.layers]


def _pair(v: object) -> tuple[int, ...] | None:
    if v is None:
        return None
    if isinstance(v, int):
        return (v, v)
    return tuple(int(x) for x in v)  # type: ignore[attr-defined]  # a sequence of ints (kernel_size etc.)


def _settings(m: nn.Module) -> dict:
    if isinstance(m, nn.modules.conv._ConvNd):
        pad = m.padding if isinstance(m.padding, str) else tuple(m.padding)
        return dict(kernel=tuple(m.kernel_size), stride=tuple(m.stride), padding=pad, dilation=tuple(m.dilation),
                    groups=m.groups)
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d, nn.MaxPool1d, nn.AvgPool1d)):
        dil = _pair(getattr(m, "dilation", 1))
        return dict(kernel=_pair(m.kernel_size), stride=_pair(m.stride), padding=_pair(m.padding), dilation=dil,
                    groups=None)
    return dict(kernel=None, stride=None, padding=None, dilation=None, groups=None)


def _shape(t: object) -> tuple[int, ...]:
    if isinstance(t, torch.Tensor):
        return tuple(t.shape[1:])
    if isinstance(t, (tuple, list)) and t and isinstance(t[0], torch.Tensor):
        return tuple(t[0].shape[1:])
    return ()


_TOO_SMALL = ("too small", "Output size", "Kernel size can't be greater", "larger than the input")


def _why_not(exc: RuntimeError, calls: list, names: dict, root_cls: str) -> str:
    """In words: where a too-small input ran out of pixels (the last layer that still had a map, and its map), or
    torch's own first line for anything else (e.g. a wrong channel count)."""
    text = str(exc).strip()
    if calls and any(k in text for k in _TOO_SMALL):
        mod, _, osh, _ = calls[-1]
        shape = "×".join(str(d) for d in osh) if isinstance(osh, tuple) else str(osh)
        return (f"after {names.get(mod) or root_cls} ({type(mod).__name__}) the feature map is only {shape}, too "
                "small for the next layer; choose a larger input")
    if any(k in text for k in _TOO_SMALL):
        return "the first layer's kernel is larger than the input; choose a larger input"
    return text.splitlines()[0] if text else type(exc).__name__


def summarize(model: nn.Module, input_shape: tuple[int, ...], device: torch.device | str = "cpu") -> ModelSummary:
    """Run one forward pass of a zero image of ``input_shape`` (C, H, W) and record every leaf module call.

    The model is used in eval mode and restored to its previous mode afterwards; hooks are removed in
    ``finally``. Raises ValueError when the input does not fit the model (with torch's reason).
    """
    if len(input_shape) < 1 or any((not isinstance(d, int)) or d < 1 for d in input_shape):
        raise ValueError(f"expected a positive input shape like (3, 224, 224), got {tuple(input_shape)}")
    n_el = 1
    for d in input_shape:
        n_el *= d
    if n_el > MAX_INPUT_ELEMENTS:
        raise ValueError(f"expected an input of at most {MAX_INPUT_ELEMENTS:,} values, got {input_shape} ({n_el:,})")
    names = {m: n for n, m in model.named_modules()}
    root_cls = type(model).__name__
    calls: list[tuple[nn.Module, tuple[int, ...], tuple[int, ...], int]] = []

    def hook(mod: nn.Module, inp: tuple, out: object) -> None:
        # bytes as leaf_output_numel counts them: tensor outputs only, one instance of the batch of one
        calls.append((mod, _shape(inp), _shape(out), out.numel() * BYTES_PER_VALUE if isinstance(out, torch.Tensor)
                      else 0))

    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    try:
        x = torch.zeros(1, *input_shape, device=device)
        with forward_hooks((m, hook) for m in leaf_modules(model)), torch.no_grad(), counter, \
                (shape_only() if x.is_meta else nullcontext()):
            y = model(x)
    except RuntimeError as exc:
        raise ValueError(f"expected an input shape this model accepts, got {tuple(input_shape)}: "
                         f"{_why_not(exc, calls, names, root_cls)}") from None
    finally:
        model.train(was_training)
    flops = counter.get_flop_counts()

    def macs_of(mod: nn.Module) -> int:
        key = f"{root_cls}.{names[mod]}" if names[mod] else root_cls
        return int(sum(flops.get(key, {}).values())) // 2

    seen_params: set[int] = set()
    seen_mods: dict[nn.Module, int] = defaultdict(int)
    total_calls = Counter(mod for mod, _, _, _ in calls)  # the counter sums a module's MACs over its calls
    records: list[LayerRecord] = []
    for i, (mod, ish, osh, nbytes) in enumerate(calls):
        own = [p for p in mod.parameters(recurse=False)]
        fresh = [p for p in own if id(p) not in seen_params]
        seen_params.update(id(p) for p in own)
        n_calls = seen_mods[mod]
        seen_mods[mod] += 1
        records.append(LayerRecord(
            index=i, name=names.get(mod, "?"), type=type(mod).__name__, **_settings(mod), in_shape=ish,
            out_shape=osh, params=sum(p.numel() for p in fresh), macs=macs_of(mod) // total_calls[mod],
            trainable=any(p.requires_grad for p in own) if own else None, depth=names.get(mod, "").count(".") + 1 if names.get(mod) else 0,
            shared=n_calls > 0, output_bytes=nbytes,
        ))
    params = {id(p): p for p in model.parameters()}
    total = sum(p.numel() for p in params.values())
    trainable = sum(p.numel() for p in params.values() if p.requires_grad)
    return ModelSummary(tuple(input_shape), _shape(y) if isinstance(y, torch.Tensor) else (), records, total, trainable,
                        int(counter.get_total_flops()) // 2, _stages(records), sum(r.output_bytes for r in records))


def _stages(records: list[LayerRecord]) -> list[dict]:
    """Group consecutive layers by output spatial resolution (the usual meaning of a CNN "stage").

    A side branch that squeezes to 1x1 and returns (the gate of an SE block) stays in its stage.
    """
    res = ["x".join(str(d) for d in r.out_shape[1:]) if len(r.out_shape) >= 3 else "vector" for r in records]
    ins = ["x".join(str(d) for d in r.in_shape[1:]) if len(r.in_shape) >= 3 else "vector" for r in records]
    # for each position, the input resolution of the next layer that does not output 1x1
    resumes: list[str | None] = [None] * len(records)
    nxt: str | None = None
    for i in range(len(records) - 1, -1, -1):
        resumes[i] = nxt
        if res[i] != "1x1":
            nxt = ins[i]
    stages: list[dict] = []
    for i, r in enumerate(records):
        current = stages[-1]["resolution"] if stages else None
        here = res[i]
        if current is not None and here != current and here == "1x1" and resumes[i] == current:
            here = current
        if here != current:
            stages.append({"resolution": here, "params": 0, "macs": 0, "layers": 0, "channels": 0})
        st = stages[-1]
        st["params"] += r.params
        st["macs"] += r.macs
        st["layers"] += 1
        if r.out_shape and res[i] == here:
            st["channels"] = r.out_shape[0]
    return stages


@functools.lru_cache(maxsize=256)
def forward_flops(model_name: str, image_size: int, num_classes: int) -> int:
    """FLOPs of one forward pass of one image of zoo model ``model_name`` (``torch.utils.flop_counter`` on the
    meta device, no real compute): sizes the calibration batch of :mod:`vizcore.train.timing` and decides which
    work the pages do only when asked (:func:`vizcore.core.budget.on_request`). Cached: it depends only on
    architecture and input size."""
    entry = registry.get_entry(model_name)
    model = registry.build_for_shapes(model_name, num_classes).to("meta")  # built for real when it must be
    x = torch.empty(1, entry.input_size[0], image_size, image_size, device="meta")
    counter = FlopCounterMode(display=False)
    try:
        with counter, torch.no_grad(), shape_only():
            model(x)
    except RuntimeError as exc:
        raise ValueError(f"expected an image size {model_name} can take, got {image_size}x"
                         f"{image_size} ({' '.join(str(exc).split())[:160]})") from None
    return int(counter.get_total_flops())
