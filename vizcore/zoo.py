"""The model zoo: a registry of classic CNN architectures by lower_snake name.

Follows torchvision's registry (``torchvision/models/_api.py``): ``list_models()``, ``get_entry(name)``,
``get_model(name, weights=...)``. Each entry carries what the pages need besides the module: input size,
normalisation, the default Grad-CAM layer and where the weights come from.

torchvision builds AlexNet (Krizhevsky et al., 2012), VGG (Simonyan & Zisserman, 2015), GoogLeNet (Szegedy et
al., 2015), ResNet (He et al., 2016), DenseNet (Huang et al., 2017), MobileNetV2/V3 (Sandler et al., 2018;
Howard et al., 2019), EfficientNet (Tan & Le, 2019) and RegNetY (Radosavovic et al., 2020). ConvScope's own:
LeNet-5 as in LeCun et al. (1998) (tanh, average pooling), AlexNet at the paper's 227x227 input, a small
CNN and a small SE-ResNet (Hu et al., 2018) for 32x32 images.

Weights: ``"random"`` (seeded), ``"pretrained"`` (torchvision's ImageNet weights, only if cached or
downloadable; otherwise :class:`WeightsUnavailable` with one sentence saying where to put the file), or a
path to a checkpoint (a ``state_dict`` loaded with ``weights_only=True``).
"""
from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torchvision
from torch import nn
from torchvision.ops import SqueezeExcitation

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)

WeightsArg = Literal["random", "pretrained"] | str | Path


class WeightsUnavailable(ValueError):
    """Pretrained weights are neither cached nor downloadable (offline machine)."""


@dataclass(frozen=True)
class ModelEntry:
    name: str  # registry key, lower_snake
    title: str  # display name
    family: str  # LeNet, AlexNet, VGG, GoogLeNet, ResNet, DenseNet, SENet, MobileNet, EfficientNet, RegNet, custom
    input_size: tuple[int, int, int]  # (C, H, W) the model is meant for
    num_classes: int  # classes of the default head
    mean: tuple[float, ...]  # per-channel normalisation mean
    std: tuple[float, ...]  # per-channel normalisation std
    cam_layer: str  # module path of the last conv stage (default Grad-CAM layer)
    source: Literal["torchvision", "convscope"]  # who builds it
    paper: str  # the paper the architecture comes from
    builder: Callable[..., nn.Module] = field(repr=False, compare=False)  # builder(num_classes=...) -> module
    tv_name: str | None = None  # torchvision model name (pretrained weights), None for own models
    tags: tuple[str, ...] = ()  # "branching", "se", "depthwise", "small"...

    @property
    def has_pretrained(self) -> bool:
        return self.tv_name is not None


# ---------------------------------------------------------------------------------------- own models


class LeNet5(nn.Module):
    """LeNet-5 as taught: 32x32 grey input, tanh, average pooling; 32->28->14->10->5->1, 6/16/120 maps.

    LeCun, Bottou, Bengio, Haffner. Gradient-based learning applied to document recognition. Proc. IEEE 1998.
    (C3's partial connection table is simplified to full connections, as in most modern re-implementations.)
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5), nn.Tanh(), nn.AvgPool2d(2),  # C1, S2
            nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),  # C3, S4
            nn.Conv2d(16, 120, 5), nn.Tanh(),  # C5
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _alexnet_227(num_classes: int = 1000) -> nn.Module:
    """torchvision's AlexNet with the paper's 227x227 input geometry: conv1 without padding."""
    model = torchvision.models.alexnet(num_classes=num_classes)
    conv1 = model.features[0]
    assert isinstance(conv1, nn.Conv2d)
    conv1.padding = (0, 0)
    return model


class SmallCNN(nn.Module):
    """A small VGG-style CNN for 32x32 images: three conv-BN-ReLU stages (32/64/128 maps), global pooling.

    Fast enough to train on two CPU cores in about a minute; ConvScope's default trained model.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 32) -> None:
        super().__init__()

        def stage(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        w = width
        self.features = nn.Sequential(
            *stage(in_channels, w), nn.MaxPool2d(2),
            *stage(w, 2 * w), nn.MaxPool2d(2),
            *stage(2 * w, 4 * w), *stage(4 * w, 4 * w),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class SEBasicBlock(nn.Module):
    """ResNet basic block with a squeeze-and-excitation gate on the residual branch (Hu et al., 2018, Fig. 3)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, reduction: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.se = SqueezeExcitation(cout, max(cout // reduction, 4))
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))
        return self.relu(out + identity)


class SEResNetSmall(nn.Module):
    """A small SE-ResNet for 32x32 images: stem + three stages of two SE basic blocks (32/64/128 maps)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 32) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(nn.Conv2d(in_channels, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True))
        self.layer1 = nn.Sequential(SEBasicBlock(w, w), SEBasicBlock(w, w))
        self.layer2 = nn.Sequential(SEBasicBlock(w, 2 * w, 2), SEBasicBlock(2 * w, 2 * w))
        self.layer3 = nn.Sequential(SEBasicBlock(2 * w, 4 * w, 2), SEBasicBlock(4 * w, 4 * w))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


# ---------------------------------------------------------------------------------------- registry

_REGISTRY: dict[str, ModelEntry] = {}


def register(entry: ModelEntry) -> ModelEntry:
    if entry.name in _REGISTRY:
        raise ValueError(f"expected a new model name, got duplicate {entry.name!r}")
    _REGISTRY[entry.name] = entry
    return entry


def _tv(name: str, **fixed: object) -> Callable[..., nn.Module]:
    def build(num_classes: int = 1000) -> nn.Module:
        return torchvision.models.get_model(name, num_classes=num_classes, **fixed)

    build.__name__ = f"torchvision_{name}"
    return build


_IMNET = dict(input_size=(3, 224, 224), num_classes=1000, mean=IMAGENET_MEAN, std=IMAGENET_STD, source="torchvision")

register(ModelEntry("lenet5", "LeNet-5", "LeNet", (1, 32, 32), 10, (0.5,), (0.5,), "features.3", "convscope",
                    "LeCun et al., Gradient-based learning applied to document recognition, 1998", LeNet5,
                    tags=("small",)))
register(ModelEntry("small_cnn", "Small CNN (32x32)", "VGG", (3, 32, 32), 10, HALF, HALF, "features", "convscope",
                    "A VGG-style stack of 3x3 convolutions (Simonyan & Zisserman, 2015), sized for 32x32",
                    SmallCNN, tags=("small",)))
register(ModelEntry("se_resnet_small", "Small SE-ResNet (32x32)", "SENet", (3, 32, 32), 10, HALF, HALF, "layer3",
                    "convscope", "Hu, Shen, Sun. Squeeze-and-Excitation Networks, CVPR 2018", SEResNetSmall,
                    tags=("small", "se", "branching")))
register(ModelEntry("alexnet", "AlexNet (torchvision, 224)", "AlexNet", cam_layer="features.10",
                    paper="Krizhevsky, Sutskever, Hinton. ImageNet Classification with Deep CNNs, NeurIPS 2012",
                    builder=_tv("alexnet"), tv_name="alexnet", **_IMNET))
register(ModelEntry("alexnet_227", "AlexNet (paper, 227, no conv1 padding)", "AlexNet", (3, 227, 227), 1000,
                    IMAGENET_MEAN, IMAGENET_STD, "features.10", "convscope",
                    "Krizhevsky, Sutskever, Hinton. ImageNet Classification with Deep CNNs, NeurIPS 2012",
                    _alexnet_227))
for _n, _t in (("vgg11", "VGG-11"), ("vgg16", "VGG-16")):
    register(ModelEntry(_n, _t, "VGG", cam_layer="features." + ("18" if _n == "vgg11" else "28"),
                        paper="Simonyan, Zisserman. Very Deep Convolutional Networks, ICLR 2015",
                        builder=_tv(_n), tv_name=_n, **_IMNET))
register(ModelEntry("googlenet", "GoogLeNet (Inception v1)", "GoogLeNet", cam_layer="inception5b",
                    paper="Szegedy et al. Going Deeper with Convolutions, CVPR 2015",
                    builder=_tv("googlenet", aux_logits=False, init_weights=True), tv_name="googlenet",
                    tags=("branching",), **_IMNET))
for _n, _t in (("resnet18", "ResNet-18"), ("resnet50", "ResNet-50")):
    register(ModelEntry(_n, _t, "ResNet", cam_layer="layer4",
                        paper="He, Zhang, Ren, Sun. Deep Residual Learning for Image Recognition, CVPR 2016",
                        builder=_tv(_n), tv_name=_n, tags=("branching",), **_IMNET))
register(ModelEntry("densenet121", "DenseNet-121", "DenseNet", cam_layer="features.norm5",
                    paper="Huang, Liu, van der Maaten, Weinberger. Densely Connected CNNs, CVPR 2017",
                    builder=_tv("densenet121"), tv_name="densenet121", tags=("branching",), **_IMNET))
register(ModelEntry("mobilenet_v2", "MobileNetV2", "MobileNet", cam_layer="features.18",
                    paper="Sandler et al. MobileNetV2: Inverted Residuals and Linear Bottlenecks, CVPR 2018",
                    builder=_tv("mobilenet_v2"), tv_name="mobilenet_v2", tags=("branching", "depthwise"), **_IMNET))
register(ModelEntry("mobilenet_v3_small", "MobileNetV3-Small", "MobileNet", cam_layer="features.12",
                    paper="Howard et al. Searching for MobileNetV3, ICCV 2019",
                    builder=_tv("mobilenet_v3_small"), tv_name="mobilenet_v3_small",
                    tags=("branching", "depthwise", "se"), **_IMNET))
register(ModelEntry("efficientnet_b0", "EfficientNet-B0", "EfficientNet", cam_layer="features.8",
                    paper="Tan, Le. EfficientNet: Rethinking Model Scaling for CNNs, ICML 2019",
                    builder=_tv("efficientnet_b0"), tv_name="efficientnet_b0",
                    tags=("branching", "depthwise", "se"), **_IMNET))
register(ModelEntry("regnet_y_400mf", "RegNetY-400MF", "RegNet", cam_layer="trunk_output",
                    paper="Radosavovic et al. Designing Network Design Spaces, CVPR 2020",
                    builder=_tv("regnet_y_400mf"), tv_name="regnet_y_400mf", tags=("branching", "se"), **_IMNET))


def list_models(tag: str | None = None) -> list[str]:
    """Registered names, in registry order (small models first); ``tag`` filters ("se", "branching", "small")."""
    return [n for n, e in _REGISTRY.items() if tag is None or tag in e.tags]


def get_entry(name: str) -> ModelEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"expected a model name from {', '.join(_REGISTRY)}, got {name!r}") from None


def build_model(name: str, num_classes: int | None = None, seed: int = 0) -> nn.Module:
    """A freshly initialised model (random weights drawn from ``seed``, global RNG left untouched), eval mode."""
    entry = get_entry(name)
    nc = entry.num_classes if num_classes is None else num_classes
    if not isinstance(nc, int) or nc < 1 or nc > 100_000:
        raise ValueError(f"expected num_classes between 1 and 100000, got {num_classes!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = entry.builder(num_classes=nc)
    return model.eval()


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
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)  # an offline machine may hang instead of refusing
    try:
        extra = {"aux_logits": False} if entry.tv_name == "googlenet" else {}
        return torchvision.models.get_model(entry.tv_name, weights=weights, **extra)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError; a truncated download is a RuntimeError
        raise WeightsUnavailable(
            f"pretrained weights for {entry.title} are not cached and could not be downloaded "
            f"({type(exc).__name__}); put {target.name} in {target.parent} or use random weights"
        ) from None
    finally:
        socket.setdefaulttimeout(old)


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


def classifier_path(model: nn.Module) -> str:
    """Module path of the final Linear layer (the head to replace in transfer learning)."""
    last = None
    for n, m in model.named_modules():
        if isinstance(m, nn.Linear):
            last = n
    if last is None:
        raise ValueError(f"expected a model with a Linear head, got {type(model).__name__} without one")
    return last


def replace_classifier(model: nn.Module, num_classes: int, seed: int = 0) -> nn.Module:
    """Swap the final Linear layer for a fresh one with ``num_classes`` outputs (in place; returns model)."""
    path = classifier_path(model)
    old = model.get_submodule(path)
    assert isinstance(old, nn.Linear)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    parent_path, _, attr = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, attr, new)
    return model


def se_modules(model: nn.Module) -> list[str]:
    """Module paths of the squeeze-and-excitation blocks (torchvision.ops.SqueezeExcitation) in ``model``."""
    return [n for n, m in model.named_modules() if isinstance(m, SqueezeExcitation)]
