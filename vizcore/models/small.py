"""ConvScope's own small models: LeNet-5, AlexNet at 227x227, a small VGG-style CNN, a small SE-ResNet and a
fast CNN.

LeNet-5 as in LeCun et al. (1998) (tanh, average pooling); AlexNet with the paper's 227x227 input and no conv1
padding (Krizhevsky et al., 2012); a small CNN, a small SE-ResNet (Hu et al., 2018) and the fast CNN of the
default training recipe (after Keller Jordan's airbench, 2024) for 32x32 images.

torchvision is imported by the models built from its parts, when one is built (see :mod:`vizcore.models.registry`).
"""
from __future__ import annotations

import torch
from torch import nn

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


def alexnet_227(num_classes: int = 1000) -> nn.Module:
    """torchvision's AlexNet with the paper's 227x227 input geometry: conv1 without padding."""
    from torchvision.models import alexnet

    model = alexnet(num_classes=num_classes)
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
        from torchvision.ops import SqueezeExcitation

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


class FastCNN(nn.Module):
    """The default recipe's network: a 2x2 "whitening" stem and three conv-pool-BN blocks, sized for 2 CPU cores.

    After Keller Jordan's airbench (``airbench/lib_airbench94.py``, 94% on CIFAR-10 in seconds on a GPU): a 2x2
    conv stem with 24 = 2 · (3 · 2 · 2) maps, so it can hold the ± eigenvectors of the 2x2 patch covariance
    (``TrainConfig.whiten_stem`` sets and freezes them; otherwise it trains like any conv); then per block a 3x3
    conv, 2x2 max-pool, BN, GELU and a second 3x3 conv-BN-GELU (16/32/64 maps: airbench's 64/256/256 would cost
    minutes per epoch on a CPU); global max-pooling and a linear head without bias. 32 -> 31 -> 15 -> 7 -> 3.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, widths: tuple[int, int, int] = (16, 32, 64),
                 stem_channels: int = 24) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(cout), nn.GELU(),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.GELU())

        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem_channels, 2, bias=True), nn.GELU())
        a, b, c = widths
        self.layer1 = block(stem_channels, a)
        self.layer2 = block(a, b)
        self.layer3 = block(b, c)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(c, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))
