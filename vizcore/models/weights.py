"""Weights for zoo models: random (seeded), pretrained (torchvision's ImageNet weights) or a checkpoint file.

``"pretrained"`` works only if the file is cached or downloadable; otherwise :class:`WeightsUnavailable` says in
one sentence where to put the file. Checkpoints are ``state_dict`` files loaded with ``weights_only=True`` (no
code runs), with an optional JSON sidecar (model name, classes) written by :func:`save_checkpoint`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import torch
import torchvision
from torch import nn

from vizcore.core import download
from vizcore.models.registry import ModelEntry, build_model, get_entry

WeightsArg = Literal["random", "pretrained"] | str | Path


class WeightsUnavailable(ValueError):
    """Pretrained weights are neither cached nor downloadable (offline machine)."""


def pretrained_cache_dir() -> Path:
    """Where torchvision keeps downloaded weights (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _weights_enum(entry: ModelEntry):
    if entry.tv_name is None:
        raise WeightsUnavailable(f"{entry.title} has no published pretrained weights; use random weights or a checkpoint")
    return torchvision.models.get_model_weights(entry.tv_name).DEFAULT


def pretrained_file(name: str) -> Path:
    """The file torchvision would download the default ImageNet weights of ``name`` to."""
    w = _weights_enum(get_entry(name))
    return pretrained_cache_dir() / Path(w.url).name


def pretrained_available(name: str) -> bool:
    """True when the pretrained weights of ``name`` are already on disk (no network needed)."""
    entry = get_entry(name)
    return entry.tv_name is not None and pretrained_file(name).is_file()


def _load_pretrained(entry: ModelEntry, timeout_s: float) -> nn.Module:
    weights = _weights_enum(entry)
    target = pretrained_cache_dir() / Path(weights.url).name
    try:
        if not target.is_file():  # downloaded by us with a timeout: an offline machine may hang instead of refusing
            download.fetch(weights.url, target, timeout_s=timeout_s, sha256_prefix=download.hash_prefix(target.name))
        extra = {"aux_logits": False} if entry.tv_name == "googlenet" else {}
        return torchvision.models.get_model(entry.tv_name, weights=weights, **extra)
    except (OSError, RuntimeError, ValueError) as exc:  # URLError is an OSError; a corrupt file a RuntimeError
        raise WeightsUnavailable(
            f"pretrained weights for {entry.title} are not cached and could not be downloaded "
            f"({type(exc).__name__}); put {target.name} in {target.parent} or use random weights"
        ) from None


def load_checkpoint(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a ``state_dict`` file (``weights_only=True``: no code runs) into ``model``; clear error on mismatch."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"expected a checkpoint file, got {str(p)!r} (no such file)")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, refused globals, truncated zip: all mean "not a plain state_dict"
        raise ValueError(f"expected a state_dict checkpoint, could not read {p.name}: {' '.join(str(exc).split())[:200]}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"expected a state_dict (name -> tensor) in {p.name}, got {type(state).__name__}")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} tensors of the wrong shape (e.g. {k}: checkpoint {tuple(state[k].shape)}, "
                         f"model {tuple(own[k].shape)})")
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise ValueError(f"checkpoint {p.name} does not fit this model: " + "; ".join(parts))
    model.load_state_dict(state)
    return model


def get_model(name: str, weights: WeightsArg = "random", num_classes: int | None = None, seed: int = 0,
              timeout_s: float = 10.0) -> nn.Module:
    """Build ``name`` in eval mode with ``weights``: "random", "pretrained" or a checkpoint path.

    >>> m = get_model("lenet5"); m(torch.zeros(1, 1, 32, 32)).shape
    torch.Size([1, 10])
    """
    entry = get_entry(name)
    if isinstance(weights, str) and weights == "random":
        return build_model(name, num_classes, seed)
    if isinstance(weights, str) and weights == "pretrained":
        if num_classes not in (None, 1000):
            raise ValueError(f"expected num_classes 1000 with pretrained ImageNet weights, got {num_classes} "
                             "(replace the head afterwards with replace_classifier)")
        return _load_pretrained(entry, timeout_s).eval()
    model = build_model(name, num_classes, seed)
    return load_checkpoint(model, weights).eval()






def save_checkpoint(model: nn.Module, path: str | Path, meta: dict[str, Any]) -> Path:
    """Write the model's ``state_dict`` to ``path`` and ``meta`` (model name, classes...) to ``path + .json``.

    Written to a temporary file then renamed, so a reader never sees half a checkpoint.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    torch.save(state, tmp)
    tmp.replace(p)
    meta_path = p.with_name(p.name + ".json")
    tmp_meta = meta_path.with_name(meta_path.name + ".tmp")
    tmp_meta.write_text(json.dumps(meta, sort_keys=True, default=str))
    tmp_meta.replace(meta_path)
    return p


def checkpoint_meta(path: str | Path) -> dict[str, Any] | None:
    """The sidecar metadata written by :func:`save_checkpoint`, or None for a bare state_dict file."""
    meta = Path(str(path) + ".json")
    if not meta.is_file():
        return None
    try:
        data = json.loads(meta.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def load_trained(path: str | Path, model: str | None = None, num_classes: int | None = None) -> nn.Module:
    """A model from a checkpoint: architecture and classes from its sidecar metadata unless given. Eval mode."""
    meta = checkpoint_meta(path) or {}
    name = model or meta.get("model")
    if not name:
        raise ValueError(f"expected a model name for checkpoint {Path(path).name} (it has no metadata), got none")
    nc = num_classes if num_classes is not None else meta.get("num_classes")
    m = build_model(name, num_classes=nc)
    return load_checkpoint(m, path).eval()
