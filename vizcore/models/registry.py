"""The model zoo: a registry of classic CNN architectures by lower_snake name.

Follows torchvision's registry (``torchvision/models/_api.py``): ``list_models()``, ``get_entry(name)``,
``build_model(name)``; :func:`vizcore.models.weights.get_model` adds weights. Each entry carries what the pages
need besides the module: input size, normalisation, the default Grad-CAM layer and where the weights come from.

torchvision builds AlexNet (Krizhevsky et al., 2012), VGG (Simonyan & Zisserman, 2015), GoogLeNet (Szegedy et
al., 2015), ResNet (He et al., 2016), DenseNet (Huang et al., 2017), MobileNetV2/V3 (Sandler et al., 2018;
Howard et al., 2019), EfficientNet (Tan & Le, 2019) and RegNetY (Radosavovic et al., 2020). ConvScope's own
(:mod:`vizcore.models.small`): LeNet-5, AlexNet at the paper's 227x227 input, a small CNN, a small SE-ResNet
and the fast CNN of the default training recipe; the ResNet-A/B/C/D forms (:mod:`vizcore.models.resnet_tweaks`)
and a compound-scaled family of small EfficientNets (:mod:`vizcore.models.efficientnet_small`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import torch
import torchvision
from torch import nn
from torchvision.ops import SqueezeExcitation

from vizcore.models.efficientnet_small import FAMILY_PHIS, family_member, small_scale
from vizcore.models.resnet_tweaks import FORMS, SmallBottleneckResNet, resnet50_form
from vizcore.models.small import FastCNN, LeNet5, SEResNetSmall, SmallCNN, alexnet_227

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)


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


_IMNET: dict[str, Any] = dict(input_size=(3, 224, 224), num_classes=1000, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                              source="torchvision")

register(ModelEntry("lenet5", "LeNet-5", "LeNet", (1, 32, 32), 10, (0.5,), (0.5,), "features.3", "convscope",
                    "LeCun et al., Gradient-based learning applied to document recognition, 1998", LeNet5,
                    tags=("small",)))
register(ModelEntry("small_cnn", "Small CNN (32x32)", "VGG", (3, 32, 32), 10, HALF, HALF, "features", "convscope",
                    "A VGG-style stack of 3x3 convolutions (Simonyan & Zisserman, 2015), sized for 32x32",
                    SmallCNN, tags=("small",)))
register(ModelEntry("fast_cnn", "Fast CNN (32x32, airbench-style)", "VGG", (3, 32, 32), 10, HALF, HALF, "layer3",
                    "convscope", "Jordan, airbench: 94% on CIFAR-10 in 3.83 s (2024), a small BN conv net with a "
                    "whitened 2x2 stem; sized here for 2 CPU cores", FastCNN, tags=("small",)))
register(ModelEntry("se_resnet_small", "Small SE-ResNet (32x32)", "SENet", (3, 32, 32), 10, HALF, HALF, "layer3",
                    "convscope", "Hu, Shen, Sun. Squeeze-and-Excitation Networks, CVPR 2018", SEResNetSmall,
                    tags=("small", "se", "branching")))
register(ModelEntry("alexnet", "AlexNet (torchvision, 224)", "AlexNet", cam_layer="features.10",
                    paper="Krizhevsky, Sutskever, Hinton. ImageNet Classification with Deep CNNs, NeurIPS 2012",
                    builder=_tv("alexnet"), tv_name="alexnet", **_IMNET))
register(ModelEntry("alexnet_227", "AlexNet (paper, 227, no conv1 padding)", "AlexNet", (3, 227, 227), 1000,
                    IMAGENET_MEAN, IMAGENET_STD, "features.10", "convscope",
                    "Krizhevsky, Sutskever, Hinton. ImageNet Classification with Deep CNNs, NeurIPS 2012",
                    alexnet_227))
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
_TWEAKS = "He et al. Bag of Tricks for Image Classification with CNNs, CVPR 2019 (ResNet-{} tweak, Fig. 2)"
_TWEAK_TITLE = {"a": "original: stride on the first 1x1", "b": "stride on the 3x3 (torchvision's)",
                "c": "B + three 3x3 stem convs", "d": "C + average-pool shortcut"}
for _f in FORMS:
    register(ModelEntry(f"resnet50_{_f}", f"ResNet-50-{_f.upper()} ({_TWEAK_TITLE[_f]})", "ResNet", cam_layer="layer4",
                        paper=_TWEAKS.format(_f.upper()), builder=partial(resnet50_form, _f),
                        tv_name="resnet50" if _f == "b" else None, tags=("branching", "variant"), **_IMNET))
for _f in FORMS:
    register(ModelEntry(f"resnet_small_{_f}", f"Small bottleneck ResNet-{_f.upper()} (32x32)", "ResNet", (3, 32, 32),
                        10, HALF, HALF, "layer3", "convscope", _TWEAKS.format(_f.upper()),
                        partial(SmallBottleneckResNet, form=_f), tags=("small", "branching", "variant")))
for _phi in FAMILY_PHIS:
    _s = small_scale(_phi)
    register(ModelEntry(_s.name, f"Small EfficientNet φ={_phi} ({_s.resolution}x{_s.resolution})", "EfficientNet",
                        (3, _s.resolution, _s.resolution), 10, HALF, HALF, "features.5", "convscope",
                        "Tan, Le. EfficientNet: Rethinking Model Scaling for CNNs, ICML 2019 (B0's blocks for 32x32, "
                        "compound-scaled)", partial(family_member, _phi),
                        tags=("small", "branching", "depthwise", "se", "scaled")))
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
