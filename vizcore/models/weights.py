"""Weights for zoo models: random (seeded), pretrained (torchvision's ImageNet weights) or a checkpoint file.

``"pretrained"`` works only if the file is cached or downloadable; otherwise :class:`WeightsUnavailable` says in
one sentence where to put the file. Checkpoints are ``state_dict`` files loaded with ``weights_only=True`` (no
code runs), with an optional JSON sidecar (model name, classes) written by :func:`save_checkpoint`.
"""
from __future__ import annotations

import errno
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from vizcore.core import budget, download, io, paths
from vizcore.core.meta import on_meta
from vizcore.models.init_once import build_to_load
from vizcore.models.own_weights import read_state_dict
from vizcore.models.registry import ModelEntry, build_model, classifier_path, get_entry

WeightsArg = Literal["random", "pretrained"] | str | Path


class WeightsUnavailable(ValueError):
    """Pretrained weights are neither cached nor downloadable (offline machine)."""


def pretrained_cache_dir() -> Path:
    """Where torchvision keeps downloaded weights (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _weights_enum(entry: ModelEntry):
    import torchvision  # here, not at import: reading a weights file needs no torchvision (see models.registry)

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
    import torchvision

    weights = _weights_enum(entry)
    target = pretrained_cache_dir() / Path(weights.url).name
    try:
        if not target.is_file():  # downloaded by us with a timeout: an offline machine may hang instead of refusing
            download.fetch(weights.url, target, timeout_s=timeout_s, sha256_prefix=download.hash_prefix(target.name))
        extra = {"aux_logits": False} if entry.tv_name == "googlenet" else {}
        # torchvision loads the weights strictly into the model it builds: nothing to draw first (VGG-16: 1.4 s)
        return build_to_load(lambda: torchvision.models.get_model(entry.tv_name, weights=weights, **extra))
    except (OSError, RuntimeError, ValueError) as exc:  # URLError is an OSError; a corrupt file a RuntimeError
        raise WeightsUnavailable(
            f"pretrained weights for {entry.title} are not cached and could not be downloaded "
            f"({type(exc).__name__}); put {target.name} in {target.parent} or use random weights"
        ) from None


def _fit_problems(own: dict[str, tuple[int, ...]], state: dict[str, torch.Tensor]) -> str | None:
    """What keeps ``state`` from loading into a model whose tensors have the shapes ``own``, in words, or None."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k])]
    if not (missing or unexpected or wrong):
        return None
    parts = []
    if wrong:
        k = wrong[0]
        parts.append(f"{len(wrong)} tensors of the wrong shape (e.g. {k}: checkpoint {tuple(state[k].shape)}, "
                     f"model {tuple(own[k])})")
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    return "; ".join(parts)


def load_checkpoint(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a ``state_dict`` file (``weights_only=True``: no code runs) into ``model``; clear error on mismatch,
    on integer tensors where the model has floating-point ones, and on NaN or infinite weights."""
    p = Path(path)
    state = read_state_dict(p)
    own = model.state_dict()
    problems = _fit_problems({k: tuple(v.shape) for k, v in own.items()}, state)
    if problems:
        raise ValueError(f"checkpoint {p.name} does not fit this model: {problems}")
    for k, mine in own.items():
        if mine.is_floating_point() and not state[k].is_floating_point():
            raise ValueError(f"expected floating-point weights in {p.name}, got {state[k].dtype} for {k}")
        if state[k].is_floating_point() and not bool(torch.isfinite(state[k]).all()):
            raise ValueError(f"expected finite weights in {p.name}, got NaN or infinite values in {k} "
                             "(a diverged run's checkpoint?)")
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
    model = build_to_load(lambda: build_model(name, num_classes, seed))  # the checkpoint sets every parameter
    return load_checkpoint(model, weights).eval()


def save_checkpoint(model: nn.Module, path: str | Path, meta: dict[str, Any]) -> Path:
    """Write the model's ``state_dict`` to ``path`` and ``meta`` (model name, classes...) to ``path + .json``.

    Written to a temporary file then renamed (:mod:`vizcore.core.io`), so a reader never sees half a checkpoint
    and a failed write (disk full, permission denied) leaves no temporary file behind.
    """
    p = Path(path)
    state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    try:
        io.torch_save(state, p)
        io.write_text(p.with_name(p.name + ".json"), json.dumps(meta, sort_keys=True, default=str))
    except (OSError, RuntimeError) as exc:  # torch's zip writer reports a full disk as a RuntimeError
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "the write failed (disk full?)"
        code = exc.errno if isinstance(exc, OSError) and exc.errno else errno.EIO
        raise OSError(code, f"could not write the checkpoint: {reason}", str(p)) from None
    return p


def checkpoint_meta(path: str | Path) -> dict[str, Any] | None:
    """The sidecar metadata written by :func:`save_checkpoint`, or None for a bare state_dict file."""
    meta = Path(str(path) + ".json")
    if not meta.is_file():
        return None
    try:
        data = json.loads(meta.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    classes = data.get("classes")
    if classes is not None and (not isinstance(classes, list) or not all(isinstance(c, str) for c in classes)):
        raise ValueError(f"expected 'classes' in {meta.name} to be a list of class names, got {classes!r:.80}")
    nc = data.get("num_classes")
    if nc is not None and (isinstance(nc, bool) or not isinstance(nc, int) or nc < 1):
        raise ValueError(f"expected 'num_classes' in {meta.name} to be a positive integer, got {nc!r:.80}")
    if data.get("model") is not None and not isinstance(data["model"], str):
        raise ValueError(f"expected 'model' in {meta.name} to be a model name, got {data['model']!r:.80}")
    return data


def load_trained(path: str | Path, model: str | None = None, num_classes: int | None = None) -> nn.Module:
    """A model from a checkpoint: architecture and classes from its sidecar metadata unless given. Eval mode."""
    meta = checkpoint_meta(path) or {}
    name = model or meta.get("model")
    if not name:
        raise ValueError(f"expected a model name for checkpoint {Path(path).name} (it has no metadata), got none")
    nc = num_classes if num_classes is not None else meta.get("num_classes")
    m = build_to_load(lambda: build_model(name, num_classes=nc))  # the checkpoint sets every parameter
    if isinstance(meta.get("in_channels"), int):  # a file whose first convolution reads other than 3 channels
        from vizcore.models.own_weights import with_in_channels

        with_in_channels(m, meta["in_channels"])
    return load_checkpoint(m, path).eval()


UPLOAD_MAX_BYTES = 200 * 2**20  # Streamlit's own upload limit


def import_state_dict(name: str, raw: bytes, filename: str) -> Path:
    """Keep an uploaded ``state_dict`` of zoo model ``name`` in the data directory's ``uploads`` folder, with
    metadata, and return its path (the same file for the same bytes).

    Checked before it is kept: its size (at most 200 MB, and within the server's memory budget), that it holds
    only tensors (``weights_only=True``: no code runs), and that every tensor fits ``name`` with the classes its
    head has (shapes compared on PyTorch's meta device: nothing of the model's size is allocated). ValueError
    in words otherwise.
    """
    if len(raw) > UPLOAD_MAX_BYTES:
        raise ValueError(f"expected a file of at most {UPLOAD_MAX_BYTES // 2**20} MB, got {len(raw) / 2**20:.0f} MB")
    budget.check_memory(f"reading the {len(raw) / 2**20:.0f} MB file", 2 * len(raw))
    entry = get_entry(name)
    folder = paths.sub_dir("uploads")
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        probe_file = Path(tmp) / "upload.pt"
        probe_file.write_bytes(raw)
        try:
            state = read_state_dict(probe_file)
        except ValueError as exc:
            raise ValueError(str(exc).replace("upload.pt", repr(filename))) from None
    with on_meta():
        head = classifier_path(entry.builder(num_classes=entry.num_classes))
    weight = state.get(f"{head}.weight")
    if weight is None or weight.ndim != 2:
        raise ValueError(f"expected a {entry.title} checkpoint, got one without {head}.weight (another model?)")
    num_classes = int(weight.shape[0])
    with on_meta():
        own = {k: tuple(v.shape) for k, v in entry.builder(num_classes=num_classes).state_dict().items()}
    problems = _fit_problems(own, state)
    if problems:
        raise ValueError(f"expected a {entry.title} checkpoint, got one that does not fit it: {problems}")
    path = folder / f"{name}-{hashlib.sha256(raw).hexdigest()[:16]}.pt"
    if not path.is_file():
        io.write_bytes(path, raw)
        io.write_text(path.with_name(path.name + ".json"), json.dumps(
            {"model": name, "num_classes": num_classes, "source": "upload", "filename": filename[:200]}))
    return path


def class_names(name: str, weights: str, n_out: int) -> list[str]:
    """Names of the ``n_out`` outputs of zoo model ``name`` with ``weights`` ("random", "pretrained" or a checkpoint
    path): a checkpoint's classes (its sidecar), the categories of the model's own pretrained weights (ImageNet's
    1,000 for torchvision models), else "class 0", "class 1", ..."""
    if weights == "pretrained" and get_entry(name).tv_name:
        cats = _weights_enum(get_entry(name)).meta.get("categories") or []
        if len(cats) == n_out:
            return [str(c) for c in cats]
    elif weights != "random":
        classes = list(get_entry(name).classes) or (checkpoint_meta(weights) or {}).get("classes") or []
        if len(classes) == n_out:
            return [str(c) for c in classes]
    return [f"class {i}" for i in range(n_out)]


def load_model(name: str, weights: str = "random") -> nn.Module:
    """Zoo model ``name`` with ``weights``: "random", "pretrained" (torchvision's ImageNet weights, cached or
    downloaded) or a checkpoint path. A checkpoint with a sidecar (a Training Lab run, a default model) brings
    its own classes and architecture (:func:`load_trained`); a bare state_dict or safetensors file is loaded into
    the zoo model rebuilt for the classes and input channels its tensors say
    (:func:`vizcore.models.own_weights.load_zoo`). The one loader every page, the CLI and the attribution code use."""
    if weights in ("random", "pretrained"):
        return get_model(name, weights=weights)
    if checkpoint_meta(weights):
        return load_trained(weights, model=name)
    from vizcore.models.own_weights import load_zoo  # a bare file: its classes and channels read off its tensors

    return load_zoo(name, weights)
