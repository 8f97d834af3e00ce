"""Your own model: a zoo architecture or a custom spec (:mod:`vizcore.arch.spec`) with your weights, validated in a
child process and registered under a private name so every inspection view can use it.

The most requested feature of CNN Explainer (Wang et al., "CNN Explainer: Learning Convolutional Neural Networks
with Interactive Visualization", IEEE VIS 2020; one fixed TinyVGG) is to show *my* model. Here the weights file
(safetensors or a weights-only state_dict: :mod:`vizcore.models.own_weights`) says how many classes and input
channels the architecture needs; the spec's ``input`` line and last ``fc`` line are rewritten to match. A child
process with a time limit and an address-space limit then loads the file strictly, runs one forward pass on a dummy
batch (2 images), checks the outputs are finite and picks the Grad-CAM layer: the zoo entry's own for a zoo
architecture, otherwise the last convolution whose output is still spatial (more than 1×1). A file that would
exhaust the server's memory, hang, or crash the interpreter does it in the child, not in the server.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from vizcore.arch import spec as spec_mod
from vizcore.core import budget
from vizcore.core.hooks import forward_hooks
from vizcore.core.meta import on_meta
from vizcore.models import own_weights as ow
from vizcore.models import registry as zoo

SPEC = "spec"  # the base of a custom stack
CHECK_TIMEOUT_S = 120.0  # the child's wall-clock limit (torch's import alone takes seconds on a busy machine)
CHILD_BASE_MB = 4096  # address space torch and torchvision reserve on import (measured: 3.75 GB VmPeak)


@dataclass(frozen=True)
class OwnModel:
    name: str  # private registry name, own_<digest>
    base: str  # zoo model name, or "spec"
    title: str  # what the pages call it
    weights: str  # path of the weights file
    spec: str | None  # the spec text as fitted to the weights (input channels, classes), for a custom stack
    num_classes: int  # outputs, read off the classifier's weight
    input_shape: tuple[int, int, int]  # (C, H, W) the model takes
    cam_layer: str  # module path of the Grad-CAM layer
    auto_cam_layer: str  # the last convolution with a spatial output (the pick for a custom stack)
    classes: tuple[str, ...]  # class names (given, or "class 0", ...)
    n_params: int  # parameters
    check_seconds: float  # how long the child's check took
    filename: str = ""  # the file's name as its owner gave it (what the pages show)

    def __post_init__(self) -> None:
        if not self.name.startswith(zoo.OWN_PREFIX):
            raise ValueError(f"expected a name starting with {zoo.OWN_PREFIX!r}, got {self.name!r}")
        if len(self.classes) != self.num_classes:
            raise ValueError(f"expected {self.num_classes} class names, got {len(self.classes)}")


def fit_spec(text: str, state: dict[str, torch.Tensor]) -> str:
    """``text`` with its ``input`` channels and its last ``fc`` outputs set to what ``state``'s tensors say
    (``input C H W`` is added, with 32×32, when the spec has none). SpecError for a spec that does not build."""
    model = spec_mod.build(text).model
    classes, channels = ow.infer_classes_channels(model, state, "custom stack")
    lines = text.splitlines()
    body = [(i, ln.split("#", 1)[0].strip()) for i, ln in enumerate(lines)]
    body = [(i, ln) for i, ln in body if ln]
    if channels is not None:
        if body and body[0][1].lower().split()[0] == "input":
            i, ln = body[0]
            parts = ln.split()
            lines[i] = " ".join([parts[0], str(channels), *parts[2:]])
        else:
            lines.insert(0, f"input {channels} 32 32")
    fcs = [i for i, ln in enumerate(lines) if re.match(r"\s*fc\s+\d+", ln.split("#", 1)[0], re.I)]
    if fcs:
        lines[fcs[-1]] = re.sub(r"(fc\s+)\d+", rf"\g<1>{classes}", lines[fcs[-1]], count=1, flags=re.I)
    return "\n".join(lines)


def spatial_convs(model: nn.Module, input_shape: tuple[int, int, int]) -> list[str]:
    """Module paths of the convolutions whose output is spatial (more than 1×1), in execution order (one forward
    pass of a zero image on PyTorch's meta device would lose nothing here, but own models are small: CPU)."""
    seen: list[str] = []
    watch = [(m, lambda _m, _i, out, name=name: seen.append(name) if out.shape[-1] * out.shape[-2] > 1 else None)
             for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    with forward_hooks(watch), torch.no_grad():
        model(torch.zeros(1, *input_shape))
    return seen


def _fitted(base: str, state: dict[str, torch.Tensor], spec_text: str | None, shown: str
            ) -> tuple[nn.Module, tuple[int, int, int], str | None]:
    """(model with ``state`` loaded strictly, its input shape, the fitted spec or None)."""
    if base == SPEC:
        if not spec_text:
            raise ValueError("expected a custom stack's spec together with its weights, got none")
        fitted = fit_spec(spec_text, state)
        built = spec_mod.build(fitted)
        return ow.load_strict(built.model, state, shown), built.input_shape, fitted
    entry = zoo.get_entry(base)
    classes, channels = ow.zoo_fit(base, state, shown)
    model = ow.with_in_channels(zoo.build_model(base, num_classes=classes), channels)
    return ow.load_strict(model, state, shown), (channels, entry.input_size[1], entry.input_size[2]), None


def check_here(base: str, path: str | Path, spec_text: str | None = None, shown_name: str | None = None,
               state: dict[str, torch.Tensor] | None = None) -> dict:
    """What the child process does (callable in-process too): read the file (unless its tensors come as ``state``),
    fit and strictly load the model, one forward pass on a dummy batch of 2, finite outputs, the Grad-CAM layers.
    Returns plain data; ValueError in words."""
    shown = shown_name or Path(path).name
    if state is None:
        state = ow.read_weights(path, shown)
    model, shape, fitted = _fitted(base, state, spec_text, shown)
    if shape[0] not in (1, 3):
        raise ValueError(f"expected weights for 1 or 3 input channels (grey or RGB images), got {shape[0]} in {shown}")
    n_params = sum(p.numel() for p in model.parameters())
    budget.check_memory(f"one forward pass of {shown}'s model on 2 images", 8 * n_params + 2 * 4 * 50 * shape[0] *
                        shape[1] * shape[2])
    with torch.no_grad():
        out = model(torch.zeros(2, *shape))
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 2:
        raise ValueError(f"expected the model to output (2, classes) logits for 2 images, got {getattr(out, 'shape', out)}")
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"expected finite outputs from {shown}'s model on a dummy batch, got NaN or infinite values")
    convs = spatial_convs(model, shape)
    if not convs:
        raise ValueError(f"expected at least one convolution with a spatial output in {shown}'s model, got none "
                         "(Grad-CAM needs one)")
    cam = convs[-1] if base == SPEC else zoo.get_entry(base).cam_layer
    return {"num_classes": int(out.shape[1]), "input_shape": list(shape), "spec": fitted, "cam_layer": cam,
            "auto_cam_layer": convs[-1], "n_params": int(n_params)}


_CHILD = """
import json, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
req = json.loads(sys.stdin.read())
try:
    import torch
    torch.set_num_threads(1)
    # the file first: a refused one costs torch's import only, not torchvision's and the models'
    from vizcore.models.own_weights import read_weights
    state = read_weights(req["path"], req["shown"])
    from vizcore.arch.own_model import check_here
    out = {"ok": check_here(req["base"], req["path"], req["spec"], req["shown"], state)}
except (ValueError, TypeError) as exc:
    out = {"error": str(exc)}
except MemoryError:
    out = {"error": "memory"}
print("\\n" + json.dumps(out))
"""


def check_in_child(base: str, path: str | Path, spec_text: str | None = None, shown_name: str | None = None,
                   timeout_s: float = CHECK_TIMEOUT_S) -> dict:
    """:func:`check_here` in a child Python process limited to ``timeout_s`` seconds and to the memory budget (plus
    the address space torch reserves on import). ValueError in words for any refusal, a timeout or a crash."""
    shown = shown_name or Path(path).name
    limit = (CHILD_BASE_MB << 20) + 2 * budget.memory_budget_bytes()
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1"}
    req = json.dumps({"base": base, "path": str(path), "spec": spec_text, "shown": shown})
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(limit)], input=req, capture_output=True, text=True,
                              timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        raise ValueError(f"expected {shown} to load and run within {timeout_s:.0f} s, got no answer in that time "
                         "(a model too large for this server?)") from None
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    try:
        answer = json.loads(last)
    except json.JSONDecodeError:
        answer = {"error": "crash"}
    if "ok" in answer:
        return answer["ok"]
    err = answer.get("error", "crash")
    if err == "memory" or "alloc" in proc.stderr.lower():
        raise ValueError(f"expected {shown}'s model to fit this server's memory budget, got one that does not")
    if err == "crash":
        raise ValueError(f"expected {shown} to load and run, got a check that stopped (exit status {proc.returncode})")
    raise ValueError(err)


def own_name(base: str, digest: str, owner: str = "") -> str:
    """The private registry name of a file (its sha256 ``digest``) on ``base``, for one ``owner`` (a session)."""
    key = hashlib.sha256(f"{owner}\0{base}\0{digest}".encode()).hexdigest()[:16]
    return f"{zoo.OWN_PREFIX}{key}"


def validate(base: str, path: str | Path, spec_text: str | None = None, classes_text: str | bytes | None = None,
             shown_name: str | None = None, owner: str = "", in_child: bool = True) -> OwnModel:
    """Check ``path`` as weights of ``base`` (a zoo name, or "spec" with ``spec_text``) in a child process and
    describe the model; ``classes_text``: optional class names, one per line. ValueError in words."""
    p = Path(path)
    shown = shown_name or p.name
    if base != SPEC:
        zoo.get_entry(base)
    t0 = time.perf_counter()
    info = (check_in_child if in_child else check_here)(base, p, spec_text, shown)
    seconds = time.perf_counter() - t0
    n = int(info["num_classes"])
    classes = tuple(ow.read_class_names(classes_text, n)) if classes_text else tuple(f"class {i}" for i in range(n))
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    extra = hashlib.sha256((spec_text or "").encode()).hexdigest()
    base_title = "custom stack" if base == SPEC else zoo.get_entry(base).title
    c, h, w = info["input_shape"]
    title = f"My weights: {shown[:60]} ({base_title}, {n} classes, {c}×{h}×{w})"
    return OwnModel(own_name(base, digest + extra, owner), base, title, str(p), info["spec"], n, (c, h, w),
                    info["cam_layer"], info["auto_cam_layer"], classes, info["n_params"], seconds, shown)


def register(own: OwnModel) -> zoo.ModelEntry:
    """Make ``own`` a registry entry (private: :func:`vizcore.models.registry.list_models` does not list it), so
    every view that takes a zoo name takes ``own.name``; the weights are ``own.weights``."""
    c = own.input_shape[0]
    tags: tuple[str, ...]
    if own.base == SPEC:
        text = own.spec or ""

        def build(num_classes: int = own.num_classes) -> nn.Module:
            return spec_mod.build(text).model

        family, paper, tags = "Custom", "a custom stack (spec)", ("custom",)
        mean: tuple[float, ...] = (0.5,) * c
        std: tuple[float, ...] = (0.5,) * c
    else:
        base = zoo.get_entry(own.base)

        def build(num_classes: int = own.num_classes) -> nn.Module:
            return ow.with_in_channels(base.builder(num_classes=num_classes), c)

        family, paper, tags = base.family, base.paper, base.tags
        mean, std = (base.mean, base.std) if len(base.mean) == c else ((0.5,) * c, (0.5,) * c)
    from torchvision.ops import SqueezeExcitation  # not at import: the child's check starts without torchvision

    with on_meta():
        probe = build()
    if any(isinstance(m, SqueezeExcitation) for m in probe.modules()) and "se" not in tags:
        tags = (*tags, "se")
    if own.input_shape[1] <= 64 and "small" not in tags:
        tags = (*tags, "small")
    entry = zoo.ModelEntry(own.name, own.title, family, own.input_shape, own.num_classes, mean, std, own.cam_layer,
                           "own", paper, build, tags=tags, note=f"Your weights ({Path(own.weights).name}).",
                           classes=own.classes)
    return zoo.register_own(entry)


def to_meta(own: OwnModel) -> dict:
    """The sidecar kept beside the weights file (:func:`vizcore.models.weights.checkpoint_meta` reads it)."""
    return {**asdict(own), "model": own.name, "classes": list(own.classes), "source": "own",
            "in_channels": own.input_shape[0]}
