"""The model zoo: a registry of classic CNN architectures by lower_snake name.

Follows torchvision's registry (``torchvision/models/_api.py``): ``list_models()``, ``get_entry(name)``,
``build_model(name)``; :func:`vizcore.models.weights.get_model` adds weights. Each entry carries what the pages
need besides the module: input size, normalisation, the default Grad-CAM layer and where the weights come from.

torchvision builds AlexNet (Krizhevsky et al., 2012), VGG (Simonyan & Zisserman, 2015), GoogLeNet (Szegedy et
al., 2015), ResNet (He et al., 2016), DenseNet (Huang et al., 2017), MobileNetV2/V3 (Sandler et al., 2018;
Howard et al., 2019), EfficientNet (Tan & Le, 2019), Inception-v3 (Szegedy et al., 2016) and RegNetY
(Radosavovic et al., 2020). ConvScope's own: LeNet-5 and AlexNet as their papers drew them
(:mod:`vizcore.models.classic`), Xception (:mod:`vizcore.models.xception`), GoogLeNet and Inception-v3 with their
auxiliary classifiers shown (:mod:`vizcore.models.aux_heads`), the modern simplified LeNet-5, torchvision's AlexNet
at 227x227, a small CNN, a small SE-ResNet and the fast CNN of the default training recipe
(:mod:`vizcore.models.small`); the ResNet-A/B/C/D forms (:mod:`vizcore.models.resnet_tweaks`) and a
compound-scaled family of small EfficientNets (:mod:`vizcore.models.efficientnet_small`).

torchvision is imported when a model built from its parts is built, not with the registry: the child process that
checks an uploaded weights file (:mod:`vizcore.arch.own_model`) then loads a small model without it (torchvision's
import costs about as much CPU as torch's).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import torch
from torch import nn

from vizcore.models.classic import AlexNetPaper, LeNet5Paper
from vizcore.models.efficientnet_small import FAMILY_PHIS, family_member, small_scale
from vizcore.models.resnet_tweaks import FORMS, SmallBottleneckResNet, resnet50_form
from vizcore.models.small import FastCNN, LeNet5, SEResNetSmall, SmallCNN, alexnet_227
from vizcore.models.xception import Xception

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class ModelEntry:
    name: str  # registry key, lower_snake
    title: str  # display name
    family: str  # LeNet, AlexNet, VGG, GoogLeNet, ResNet, DenseNet, SENet, MobileNet, EfficientNet, RegNet, Xception
    input_size: tuple[int, int, int]  # (C, H, W) the model is meant for
    num_classes: int  # classes of the default head
    mean: tuple[float, ...]  # per-channel normalisation mean
    std: tuple[float, ...]  # per-channel normalisation std
    cam_layer: str  # module path of the last conv stage (default Grad-CAM layer)
    source: Literal["torchvision", "convscope", "own"]  # who builds it ("own": a user's weights, see register_own)
    paper: str  # the paper the architecture comes from
    builder: Callable[..., nn.Module] = field(repr=False, compare=False)  # builder(num_classes=...) -> module
    tv_name: str | None = None  # torchvision model name (pretrained weights), None for own models
    tags: tuple[str, ...] = ()  # "branching", "se", "depthwise", "small"...
    note: str = ""  # what it reproduces (paper, figure or table) and how it differs from torchvision's
    classes: tuple[str, ...] = ()  # class names its weights come with (a user's own model), else empty

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


def _tv(name: str, init_once: bool = False, **fixed: object) -> Callable[..., nn.Module]:
    """torchvision's builder ``name``; ``init_once``: drawing each tensor's values once
    (:func:`vizcore.models.init_once.build_once`), for models whose first, overwritten draws cost a visible
    fraction of a second (VGG: half of its build)."""
    def build(num_classes: int = 1000) -> nn.Module:
        import torchvision

        from vizcore.models.init_once import build_once

        make = lambda: torchvision.models.get_model(name, num_classes=num_classes, **fixed)  # noqa: E731
        return build_once(make) if init_once else make()

    build.__name__ = f"torchvision_{name}"
    return build


def _aux(name: str) -> Callable[..., nn.Module]:
    """The builder ``name`` of :mod:`vizcore.models.aux_heads` (whose classes subclass torchvision's), imported when
    called."""
    def build(num_classes: int = 1000) -> nn.Module:
        from vizcore.models import aux_heads

        return getattr(aux_heads, name)(num_classes=num_classes)

    build.__name__ = name
    return build


_IMNET: dict[str, Any] = dict(input_size=(3, 224, 224), num_classes=1000, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                              source="torchvision")

_LECUN = "LeCun, Bottou, Bengio, Haffner. Gradient-based learning applied to document recognition, Proc. IEEE 1998"
_KRIZHEVSKY = "Krizhevsky, Sutskever, Hinton. ImageNet Classification with Deep CNNs, NeurIPS 2012"
register(ModelEntry("lenet5", "LeNet-5 (modern simplification: full C3, linear output)", "LeNet", (1, 32, 32), 10,
                    (0.5,), (0.5,), "features.3", "convscope", _LECUN, LeNet5, tags=("small",),
                    note="The sizes of Fig. 2 (32 → 28 → 14 → 10 → 5 → 1; 6/16/120 maps) as most courses re-implement "
                         "it: C3 reads all six S2 maps, pooling has no trainable coefficient, the output is linear; "
                         "61,706 parameters. See lenet5_paper for the paper's network."))
register(ModelEntry("lenet5_paper", "LeNet-5 (paper: C3 table, trainable subsampling, RBF output)", "LeNet",
                    (1, 32, 32), 10, (0.5,), (0.5,), "features.4", "convscope", _LECUN, LeNet5Paper,
                    tags=("small",),
                    note="Reproduces Fig. 2 and Table I: C3's partial connections, S2/S4 with a trainable coefficient "
                         "and bias per map, scaled tanh, 10 Euclidean RBF outputs with fixed ±1 centres (7×12 digit "
                         "bitmaps); 60,000 trainable parameters. torchvision has no LeNet."))
register(ModelEntry("small_cnn", "Small CNN (32x32)", "VGG", (3, 32, 32), 10, HALF, HALF, "features", "convscope",
                    "A VGG-style stack of 3x3 convolutions (Simonyan & Zisserman, 2015), sized for 32x32",
                    SmallCNN, tags=("small",)))
register(ModelEntry("fast_cnn", "Fast CNN (32x32, airbench-style)", "VGG", (3, 32, 32), 10, HALF, HALF, "layer3",
                    "convscope", "Jordan, airbench: 94% on CIFAR-10 in 3.83 s (2024), a small BN conv net with a "
                    "whitened 2x2 stem; sized here for 2 CPU cores", FastCNN, tags=("small",)))
register(ModelEntry("se_resnet_small", "Small SE-ResNet (32x32)", "SENet", (3, 32, 32), 10, HALF, HALF, "layer3",
                    "convscope", "Hu, Shen, Sun. Squeeze-and-Excitation Networks, CVPR 2018", SEResNetSmall,
                    tags=("small", "se", "branching")))
_ALEX_TV = ("torchvision's AlexNet follows Krizhevsky's later one-GPU version (arXiv 1404.5997): 64/192/384/256/256 "
            "maps, no local response normalisation, adaptive pooling before the classifier; 61,100,840 parameters.")
register(ModelEntry("alexnet_paper", "AlexNet (paper: 227, 96/256/384/384/256, LRN, one stream)", "AlexNet",
                    (3, 227, 227), 1000, IMAGENET_MEAN, IMAGENET_STD, "features.12", "convscope", _KRIZHEVSKY,
                    AlexNetPaper,
                    note="Reproduces Fig. 2 and §3 with both GPUs' halves in one stream: 96/256/384/384/256 maps, "
                         "ReLU, local response normalisation after conv1 and conv2, overlapping 3×3/2 max pooling, "
                         "maps 55 → 27 → 13 → 6; 62,378,344 parameters. " + _ALEX_TV))
register(ModelEntry("alexnet_paper_grouped", "AlexNet (paper, two-GPU grouped form)", "AlexNet", (3, 227, 227), 1000,
                    IMAGENET_MEAN, IMAGENET_STD, "features.12", "convscope", _KRIZHEVSKY,
                    partial(AlexNetPaper, grouped=True), tags=("variant",),
                    note="Fig. 2 as drawn: conv2, conv4 and conv5 read only the maps on their own GPU (groups=2); "
                         "60,965,224 parameters, the paper's \"60 million\". " + _ALEX_TV))
register(ModelEntry("alexnet", "AlexNet (torchvision, 224: 64/192/384/256/256)", "AlexNet", cam_layer="features.10",
                    paper=_KRIZHEVSKY, builder=_tv("alexnet"), tv_name="alexnet", note=_ALEX_TV, **_IMNET))
register(ModelEntry("alexnet_227", "AlexNet (torchvision's widths at the paper's 227 input)", "AlexNet", (3, 227, 227),
                    1000, IMAGENET_MEAN, IMAGENET_STD, "features.10", "convscope", _KRIZHEVSKY, alexnet_227,
                    note="torchvision's AlexNet with conv1 unpadded for a 227×227 input: the paper's map sizes "
                         "(55 → 27 → 13 → 6) but torchvision's widths and no LRN. See alexnet_paper. " + _ALEX_TV))
for _n, _t in (("vgg11", "VGG-11"), ("vgg16", "VGG-16"), ("vgg19", "VGG-19")):
    register(ModelEntry(_n, _t, "VGG", cam_layer="features." + {"vgg11": "18", "vgg16": "28", "vgg19": "34"}[_n],
                        paper="Simonyan, Zisserman. Very Deep Convolutional Networks, ICLR 2015",
                        builder=_tv(_n, init_once=True), tv_name=_n, **_IMNET))
register(ModelEntry("googlenet", "GoogLeNet (Inception v1)", "GoogLeNet", cam_layer="inception5b",
                    paper="Szegedy et al. Going Deeper with Convolutions, CVPR 2015",
                    builder=_tv("googlenet", aux_logits=False, init_weights=True), tv_name="googlenet",
                    tags=("branching",), note="torchvision's GoogLeNet without the auxiliary classifiers (as its "
                    "published weights and counts); googlenet_aux shows them. BN after every conv, unlike the paper.",
                    **_IMNET))
register(ModelEntry("googlenet_aux", "GoogLeNet with its two auxiliary classifiers", "GoogLeNet",
                    cam_layer="inception5b", paper="Szegedy et al. Going Deeper with Convolutions, CVPR 2015",
                    builder=_aux("googlenet_aux"), tags=("branching", "variant"),
                    note="Fig. 3's side classifiers after inception 4a and 4d (average pool 5×5/3, 1×1 conv to 128, "
                         "fc 1024, dropout 0.7, fc 1000; training loss weight 0.3) run in every mode, so the summary "
                         "lists them; the forward returns the main logits only. torchvision adds BN after each conv.",
                    **_IMNET))
_INCEPTION3 = "Szegedy, Vanhoucke, Ioffe, Shlens, Wojna. Rethinking the Inception Architecture, CVPR 2016"
register(ModelEntry("inception_v3", "Inception-v3 (299)", "GoogLeNet", (3, 299, 299), 1000, IMAGENET_MEAN,
                    IMAGENET_STD, "Mixed_7c", "torchvision", _INCEPTION3,
                    _tv("inception_v3", aux_logits=True, init_weights=True), tv_name="inception_v3",
                    tags=("branching",),
                    note="torchvision's Inception-v3 (Table 1: factorised 7×7 as 1×7 + 7×1, grid reductions, 299 px). "
                         "Its auxiliary classifier is built (its parameters count, as in the published 27,161,264) "
                         "but runs only in training; inception_v3_aux shows it in the summary."))
register(ModelEntry("inception_v3_aux", "Inception-v3 with its auxiliary classifier shown (299)", "GoogLeNet",
                    (3, 299, 299), 1000, IMAGENET_MEAN, IMAGENET_STD, "Mixed_7c", "convscope", _INCEPTION3,
                    _aux("inception_v3_aux"), tags=("branching", "variant"),
                    note="torchvision's Inception-v3 with the auxiliary head on the 17×17 grid (after Mixed_6e; "
                         "§4: a regulariser) run in every mode, so its layers and multiply-adds appear; the forward "
                         "returns the main logits only."))
register(ModelEntry("xception", "Xception (299)", "Xception", (3, 299, 299), 1000, HALF, HALF, "exit_flow",
                    "convscope", "Chollet. Xception: Deep Learning with Depthwise Separable Convolutions, CVPR 2017",
                    Xception, tags=("branching", "depthwise"),
                    note="Reproduces Fig. 5: entry flow (to 728 maps at 19×19), middle flow (8 residual blocks of "
                         "three separable convs), exit flow (1024, 1536, 2048 maps), every conv followed by BN; "
                         "22,855,952 parameters (§4.5). torchvision has no Xception."))
for _n, _t in (("resnet18", "ResNet-18"), ("resnet34", "ResNet-34"), ("resnet50", "ResNet-50"),
               ("resnet152", "ResNet-152")):
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
    """Registered names, in registry order (small models first); ``tag`` filters ("se", "branching", "small").
    A user's own models (:func:`register_own`) are not listed: only the session that added one names it."""
    return [n for n, e in _REGISTRY.items() if tag is None or tag in e.tags]


# A user's own architectures with their weights (a zoo model rebuilt for the file's classes and channels, or a custom
# spec), by a name only their owner knows: pages list the names of their own browser session, nothing lists them all.
_OWN: dict[str, ModelEntry] = {}
OWN_PREFIX = "own_"


def register_own(entry: ModelEntry) -> ModelEntry:
    """Add (or replace) a user's own model; its name starts with ``own_``."""
    if not entry.name.startswith(OWN_PREFIX):
        raise ValueError(f"expected an own model's name to start with {OWN_PREFIX!r}, got {entry.name!r}")
    _OWN[entry.name] = entry
    return entry


def unregister_own(name: str) -> None:
    """Forget a user's own model (its session ended); unknown names are ignored."""
    _OWN.pop(name, None)


def get_entry(name: str) -> ModelEntry:
    try:
        return _REGISTRY[name] if name in _REGISTRY else _OWN[name]
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


def build_for_shapes(name: str, num_classes: int | None = None) -> nn.Module:
    """Zoo model ``name`` for its shapes and counts only, eval mode: built on the meta device with initialisation
    skipped (no memory, no arithmetic: :func:`vizcore.core.meta.on_meta`), or for real when its builder reads
    its own initial values (then on the CPU, as :func:`build_model`)."""
    from vizcore.core.meta import on_meta

    try:
        with on_meta():
            return build_model(name, num_classes)
    except (RuntimeError, NotImplementedError):
        return build_model(name, num_classes)


def _is_head(m: nn.Module) -> bool:
    """A classifier layer: Linear, or a head that knows how to rebuild itself for other classes (LeNet-5's RBF
    output, :class:`vizcore.models.classic.RBFOutput`)."""
    return isinstance(m, nn.Linear) or callable(getattr(m, "with_classes", None))


def classifier_path(model: nn.Module) -> str:
    """Module path of the final classifier layer (the head to replace in transfer learning)."""
    last = None
    for n, m in model.named_modules():
        if _is_head(m):
            last = n
    if last is None:
        raise ValueError(f"expected a model with a Linear head, got {type(model).__name__} without one")
    return last


def replace_classifier(model: nn.Module, num_classes: int, seed: int = 0) -> nn.Module:
    """Swap the final Linear layer for a fresh one with ``num_classes`` outputs (in place; returns model)."""
    path = classifier_path(model)
    old = model.get_submodule(path)
    new: nn.Module
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if isinstance(old, nn.Linear):
            new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
        else:
            new = old.with_classes(num_classes, seed)  # type: ignore[operator]
    parent_path, _, attr = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, attr, new)
    return model


def se_modules(model: nn.Module) -> list[str]:
    """Module paths of the squeeze-and-excitation blocks (torchvision.ops.SqueezeExcitation) in ``model``."""
    from torchvision.ops import SqueezeExcitation

    return [n for n, m in model.named_modules() if isinstance(m, SqueezeExcitation)]
