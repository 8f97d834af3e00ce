"""Your own weights: a safetensors file or a weights-only PyTorch ``state_dict`` for a zoo architecture, read without
running code, with the number of classes (and input channels) read off the tensors.

Two formats are tensors only: safetensors (Hugging Face; a JSON header and raw bytes, ``safetensors.torch``) and
``torch.save(model.state_dict())`` read with ``torch.load(weights_only=True)``, whose unpickler accepts tensors and
plain containers and refuses every other class or function. Two are refused with a sentence: a TorchScript archive
(``torch.jit.save``: a compiled program, run when loaded) and a pickle of anything else (a whole ``nn.Module``, an
optimizer, any object: unpickling such a file may run code of its author's choosing).

What the tensors say: the classifier's ``weight`` has one row per class, and the first convolution's ``weight``
has ``in_channels / groups`` columns. A zoo model is rebuilt with those, then the file is loaded strictly; on a
mismatch the sentence names the first tensor that does not fit and what would fit there.
"""
from __future__ import annotations

import json
import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from vizcore.core import budget
from vizcore.core.meta import on_meta

MAX_FILE_BYTES = 200 * 2**20  # a weights file (ResNet-152 is 240 MB in float32: larger than this server takes)
Kind = Literal["safetensors", "torch", "torchscript", "pickle", "unknown"]
_SCRIPT_MARKERS = ("constants.pkl", "/code/", ".debug_pkl")  # entries only torch.jit.save writes


def file_kind(path: str | Path) -> Kind:
    """What a weights file is, from its first bytes: safetensors (an 8-byte header length, then JSON), a
    ``torch.save`` zip, a TorchScript zip (``torch.jit.save``), a bare pickle (the legacy format, or any pickled
    object), or unknown."""
    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(16)
    if zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as z:
            names = z.namelist()
        if any(m in n for n in names for m in _SCRIPT_MARKERS):
            return "torchscript"
        return "torch"
    if len(head) >= 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") < p.stat().st_size:
        return "safetensors"
    if head[:1] == b"\x80":  # pickle protocol 2+ opcode
        return "pickle"
    return "unknown"


_PICKLE_REFUSAL = ("expected a state_dict holding only tensors, got {name}, a pickle of other Python objects (a whole "
                   "model or any object: unpickling it could run code of its author's choosing, so ConvScope refuses "
                   "it); save model.state_dict() with torch.save or safetensors instead")
_CALLS = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX"}


def _pickle_calls(p: Path) -> bool:
    """Whether a bare pickle names a class or function (opcodes read with pickletools: nothing is executed). A legacy
    ``torch.save`` file starts with a pickle of a plain number, which names none."""
    import pickletools

    try:
        with open(p, "rb") as f:
            return any(op.name in _CALLS for op, _, _ in pickletools.genops(f))
    except Exception:  # not a complete pickle: read_state_dict words it
        return False


def _check_file(p: Path) -> None:
    if not p.is_file():
        raise ValueError(f"expected a weights file, got {p.name!r} (no such file)")
    if not os.access(p, os.R_OK):
        raise ValueError(f"expected a readable weights file, got {p.name!r} (permission denied)")
    size = p.stat().st_size
    if size == 0:
        raise ValueError(f"expected a weights file with tensors, got {p.name} (an empty file)")
    if size > MAX_FILE_BYTES:
        raise ValueError(f"expected a weights file of at most {MAX_FILE_BYTES // 2**20} MB, got {p.name} "
                         f"({size / 2**20:.0f} MB)")
    budget.check_memory(f"reading the {size / 2**20:.0f} MB weights file {p.name}", 2 * size)


def read_weights(path: str | Path, shown_name: str | None = None) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors or weights-only ``state_dict`` file, name -> tensor (CPU), without running code.

    ValueError in words for a missing, empty, oversized or unreadable file, a TorchScript archive, a pickle of
    other objects, and a file whose tensors are not floating point or not finite where they are."""
    p = Path(path)
    name = shown_name or p.name
    _check_file(p)
    kind = file_kind(p)
    if kind == "torchscript":
        raise ValueError(f"expected a state_dict or safetensors file, got {name}, a TorchScript archive "
                         "(torch.jit.save): it holds a compiled program that runs when loaded, and ConvScope loads "
                         "tensors only; save model.state_dict() with torch.save or safetensors instead")
    if kind == "pickle" and _pickle_calls(p):
        raise ValueError(_PICKLE_REFUSAL.format(name=name))
    if kind == "safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(p), device="cpu")
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise ValueError(f"expected a valid safetensors file, got {name} ({str(exc)[:120]})") from None
    else:
        try:
            state = read_state_dict(p)
        except ValueError as exc:
            msg = str(exc).replace(p.name, name)
            if "other Python objects" in msg:
                msg = _PICKLE_REFUSAL.format(name=name)
            raise ValueError(msg) from None
    if not state:
        raise ValueError(f"expected a state_dict with tensors in {name}, got an empty one")
    for k, v in state.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise ValueError(f"expected finite weights in {name}, got NaN or infinite values in {k}")
    return dict(state)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A ``state_dict`` file's tensors (``weights_only=True``: no code runs), or ValueError in words: missing,
    unreadable, empty, not a PyTorch file, or holding Python objects other than tensors."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"expected a checkpoint file, got {str(p)!r} (no such file)")
    if not os.access(p, os.R_OK):
        raise ValueError(f"expected a readable checkpoint file, got {str(p)!r} (permission denied)")
    if p.stat().st_size == 0:
        raise ValueError(f"expected a checkpoint file with weights, got {p.name} (an empty file)")
    if file_kind(p) in ("safetensors", "torchscript"):  # read (or refused) by read_weights, never unpickled
        return read_weights(p)
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the refusal below says it in words
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" not in str(exc).lower():  # not a refused class or function: bytes that are no pickle
            raise ValueError(f"expected a PyTorch state_dict file, got {p.name}, which is truncated or not a "
                             "PyTorch file") from None
        # refused globals: the file holds Python objects, and loading them would run code
        raise ValueError(f"expected a checkpoint holding only tensors, got {p.name}, which holds other Python "
                         "objects (refused: loading them could run code; save model.state_dict() instead)") from None
    except OSError as exc:
        raise ValueError(f"expected a readable checkpoint file, got {p.name} ({exc.strerror or exc})") from None
    except Exception:  # truncated zip, not a torch file at all
        raise ValueError(f"expected a PyTorch state_dict file, got {p.name}, which is truncated or not a "
                         "PyTorch file") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"expected a state_dict (name -> tensor) in {p.name}, got {type(state).__name__}")
    if not state:
        raise ValueError(f"expected a state_dict with tensors in {p.name}, got an empty one")
    return state


def first_misfit(own: dict[str, tuple[int, ...]], state: dict[str, torch.Tensor]) -> str | None:
    """The first tensor, in the model's order, that keeps ``state`` from loading strictly into a model whose
    tensors have the shapes ``own``, with what would fit there, in words; None when every tensor fits."""
    for k, shape in own.items():
        if k not in state:
            return f"the file has no tensor {k!r} (the model needs one of shape {tuple(shape)})"
        if tuple(state[k].shape) != tuple(shape):
            return (f"the first tensor that does not fit is {k!r}: the file has {tuple(state[k].shape)}, the model "
                    f"needs {tuple(shape)}")
    extra = [k for k in state if k not in own]
    if extra:
        return (f"the file has {len(extra)} tensors the model has no place for, the first {extra[0]!r} "
                f"{tuple(state[extra[0]].shape)} (is it another architecture?)")
    return None


def _first_conv(model: nn.Module) -> tuple[str, nn.Conv2d] | None:
    return next(((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)


def with_in_channels(model: nn.Module, channels: int) -> nn.Module:
    """Replace the first Conv2d with one reading ``channels`` maps (same kernel, stride, padding, groups 1); in
    place, returns the model. For files saved from a grey (1-channel) or multi-band variant of an architecture."""
    found = _first_conv(model)
    if found is None or found[1].in_channels == channels:
        return model
    path, old = found
    if old.groups != 1:
        raise ValueError(f"expected a first convolution with groups 1 to change its input channels, got {old.groups}")
    new = nn.Conv2d(channels, old.out_channels, old.kernel_size, old.stride, old.padding,  # type: ignore[arg-type]
                    old.dilation, 1, old.bias is not None, old.padding_mode,  # type: ignore[arg-type]
                    device=old.weight.device)
    parent_path, _, attr = path.rpartition(".")
    setattr(model.get_submodule(parent_path) if parent_path else model, attr, new)
    return model


def infer_classes_channels(model: nn.Module, state: dict[str, torch.Tensor], what: str) -> tuple[int, int | None]:
    """(classes, input channels or None) that ``state`` says, read off the head's and the first conv's weights of
    ``model`` (any device, meta included). ValueError naming the tensor the file lacks."""
    from vizcore.models.registry import classifier_path

    head = classifier_path(model)
    w = state.get(f"{head}.weight")
    if w is None:
        raise ValueError(f"expected {what} weights, got a file without {head}.weight (the classifier; is it another "
                         "architecture?)")
    classes = int(w.shape[0])
    conv = _first_conv(model)
    channels = None
    if conv is not None:
        cw = state.get(f"{conv[0]}.weight")
        if cw is not None and cw.ndim == 4 and conv[1].groups == 1:
            channels = int(cw.shape[1])
    return classes, channels


def zoo_fit(name: str, state: dict[str, torch.Tensor], shown_name: str) -> tuple[int, int]:
    """(classes, input channels) with which zoo model ``name`` takes ``state``, checked tensor by tensor on PyTorch's
    meta device (nothing of the model's size is allocated). ValueError naming the first misfit otherwise."""
    from vizcore.models.registry import get_entry

    entry = get_entry(name)
    with on_meta():
        probe = entry.builder(num_classes=entry.num_classes)
    classes, channels = infer_classes_channels(probe, state, entry.title)
    channels = channels or entry.input_size[0]
    if not 1 <= classes <= 100_000 or not 1 <= channels <= 64:
        raise ValueError(f"expected 1..100000 classes and 1..64 input channels in {shown_name}, got {classes} and "
                         f"{channels}")
    with on_meta():
        model = with_in_channels(entry.builder(num_classes=classes), channels)
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    problem = first_misfit(own, state)
    if problem:
        raise ValueError(f"{shown_name} does not fit {entry.title} with {classes} classes and {channels} input "
                         f"channels: {problem}")
    n_params = sum(v.numel() for v in state.values())
    budget.check_memory(f"{entry.title} with {n_params:,} weights", 8 * n_params)
    return classes, channels


def load_zoo(name: str, path: str | Path, shown_name: str | None = None) -> nn.Module:
    """Zoo model ``name`` with a weights file's tensors, its classes and input channels read off them; strict load,
    eval mode. ValueError in words for every refusal (see :func:`read_weights` and :func:`zoo_fit`)."""
    from vizcore.models.init_once import build_to_load
    from vizcore.models.registry import build_model

    p = Path(path)
    shown = shown_name or p.name
    state = read_weights(p, shown)
    classes, channels = zoo_fit(name, state, shown)
    # the strict load below sets every parameter: nothing to draw first
    model = with_in_channels(build_to_load(lambda: build_model(name, num_classes=classes)), channels)
    _load_strict(model, state, shown)
    return model.eval()


def _load_strict(model: nn.Module, state: dict[str, torch.Tensor], shown: str) -> None:
    own = model.state_dict()
    problem = first_misfit({k: tuple(v.shape) for k, v in own.items()}, state)
    if problem:
        raise ValueError(f"{shown} does not fit this model: {problem}")
    for k, mine in own.items():
        if mine.is_floating_point() and not state[k].is_floating_point():
            raise ValueError(f"expected floating-point weights in {shown}, got {state[k].dtype} for {k}")
    model.load_state_dict(state, strict=True)


def load_strict(model: nn.Module, state: dict[str, torch.Tensor], shown: str) -> nn.Module:
    """Load ``state`` into ``model`` strictly (names, shapes, floating point); returns the model in eval mode."""
    _load_strict(model, state, shown)
    return model.eval()


MAX_CLASS_NAME = 100  # characters of one class name


def read_class_names(text: str | bytes, n_classes: int) -> list[str]:
    """Class names from a text file, one per non-empty line, exactly ``n_classes`` of them (ValueError otherwise)."""
    if isinstance(text, bytes):
        if len(text) > 4 * 2**20:
            raise ValueError(f"expected a class-name file of at most 4 MB, got {len(text) / 2**20:.0f} MB")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValueError("expected a UTF-8 text file of class names, one per line, got undecodable bytes") from None
    names = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(names) != n_classes:
        raise ValueError(f"expected {n_classes} class names (one per line, one per output of the weights), got "
                         f"{len(names)}")
    too_long = next((s for s in names if len(s) > MAX_CLASS_NAME), None)
    if too_long is not None:
        raise ValueError(f"expected class names of at most {MAX_CLASS_NAME} characters, got {too_long[:40]!r}…")
    return names


def sidecar(path: str | Path, meta: dict) -> Path:
    """Write ``meta`` beside a kept weights file (``FILE.json``: what :func:`vizcore.models.weights.checkpoint_meta`
    reads) and return its path."""
    from vizcore.core import io

    side = Path(str(path) + ".json")
    io.write_text(side, json.dumps(meta, sort_keys=True))
    return side
