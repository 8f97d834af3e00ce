"""ResNet-A, -B, -C and -D: the model tweaks of the "Bag of Tricks" paper (He et al., CVPR 2019, §4, Fig. 2).

* **A** — the original ResNet (He et al., 2016): a down-sampling bottleneck strides in its first 1×1 conv, so three
  quarters of that block's input is never read.
* **B** — the stride moves to the 3×3 conv (torchvision's ResNet-50 is already this form).
* **C** — the 7×7 stem conv becomes three 3×3 convs (32, 32, 64 maps; the first strides 2), as in Inception-v2.
* **D** — C, plus the shortcut of a down-sampling block averages 2×2 before its 1×1 conv (which then strides 1),
  so the shortcut also reads every input pixel.

:func:`resnet50_form` builds the four forms of ResNet-50 from torchvision's blocks (Table 5: about 25.6 M
parameters; 3.9, 4.1, 4.3 and 4.3 G multiply-adds at 224×224). :class:`SmallBottleneckResNet` has the same four forms
for 32×32 inputs, so the Lab can compare the tweaks on the embedded data.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import torch
from torch import nn

if TYPE_CHECKING:
    from torchvision.models.resnet import Bottleneck, ResNet

Form = Literal["a", "b", "c", "d"]
FORMS: tuple[str, ...] = ("a", "b", "c", "d")


def _check_form(form: str) -> None:
    if form not in FORMS:
        raise ValueError(f"expected a ResNet form in {', '.join(FORMS)}, got {form!r}")


def _stride_first(block: Bottleneck) -> None:
    """Form A: the stride of a down-sampling bottleneck on its first 1×1 conv instead of the 3×3."""
    if block.conv2.stride != (1, 1):
        block.conv1.stride, block.conv2.stride = block.conv2.stride, (1, 1)


def _avgpool_shortcut(block: nn.Module) -> None:
    """Form D: a strided shortcut averages 2×2 first, then its 1×1 conv strides 1."""
    ds = getattr(block, "downsample", None)
    if not isinstance(ds, nn.Sequential) or not isinstance(ds[0], nn.Conv2d) or ds[0].stride == (1, 1):
        return
    conv = ds[0]
    conv.stride = (1, 1)
    block.downsample = nn.Sequential(nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False), *ds)


def _deep_stem(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """Form C's stem: three 3×3 convs (out/2, out/2, out maps), the first with ``stride``. BN/ReLU between them;
    the network's own BN and ReLU follow the last one."""
    mid = out_channels // 2
    return nn.Sequential(
        nn.Conv2d(in_channels, mid, 3, stride, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
        nn.Conv2d(mid, mid, 3, 1, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
        nn.Conv2d(mid, out_channels, 3, 1, 1, bias=False))


def apply_form(model: nn.Module, form: str, stem_attr: str = "conv1", in_channels: int = 3,
               stem_stride: int = 2) -> nn.Module:
    """Turn a B-form bottleneck ResNet (stride on the 3×3) into ``form``, in place; returns the model."""
    from torchvision.models.resnet import Bottleneck

    _check_form(form)
    blocks = [m for m in model.modules() if isinstance(m, Bottleneck)]
    if form == "a":
        for b in blocks:
            _stride_first(b)
    if form in ("c", "d"):
        old = getattr(model, stem_attr)
        setattr(model, stem_attr, _deep_stem(in_channels, old.out_channels, stem_stride))
    if form == "d":
        for b in blocks:
            _avgpool_shortcut(b)
    return model


def resnet50_form(form: str = "b", num_classes: int = 1000) -> ResNet:
    """ResNet-50 in form A, B (torchvision's), C or D, freshly initialised."""
    from torchvision.models import resnet50

    _check_form(form)
    model = resnet50(num_classes=num_classes)
    apply_form(model, form)
    return model


class SmallBottleneckResNet(nn.Module):
    """A bottleneck ResNet for 32×32 inputs in form A, B, C or D: a stride-1 stem (3×3, or form C/D's three 3×3)
    and three stages of two bottlenecks (16/32/64 inner maps, ×4 out), the last two stages down-sampling."""

    def __init__(self, num_classes: int = 10, form: str = "b", width: int = 16, in_channels: int = 3) -> None:
        super().__init__()
        _check_form(form)
        self.form = form
        w = width
        self.conv1 = nn.Conv2d(in_channels, w, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        self.inplanes = w
        self.layer1 = self._stage(w, 1)
        self.layer2 = self._stage(2 * w, 2)
        self.layer3 = self._stage(4 * w, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(self.inplanes, num_classes)  # the last stage's output maps
        apply_form(self, form, in_channels=in_channels, stem_stride=1)

    def _stage(self, planes: int, stride: int) -> nn.Sequential:
        from torchvision.models.resnet import Bottleneck

        out = planes * Bottleneck.expansion
        down = None
        if stride != 1 or self.inplanes != out:
            down = nn.Sequential(nn.Conv2d(self.inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))
        blocks = [Bottleneck(self.inplanes, planes, stride, down), Bottleneck(out, planes)]
        self.inplanes = out
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))
