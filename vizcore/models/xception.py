"""Xception (Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions", CVPR 2017), Fig. 5.

A linear stack of depthwise-separable convolutions with residual connections, in three flows on a 299×299 input:

* **entry flow** — two 3×3 convs (32, 64 maps; the first strides 2, neither pads: 299 -> 149 -> 147), then three
  blocks of two separable convs and a 3×3 stride-2 max pooling (128, 256, 728 maps: 147 -> 74 -> 37 -> 19), each
  with a strided 1×1 conv on its shortcut;
* **middle flow** — eight blocks of three ReLU-separable-conv-BN at 728 maps and 19×19, identity shortcuts;
* **exit flow** — a block to 1024 maps (19 -> 10), then separable convs to 1536 and 2048 maps, global average
  pooling and the classifier.

A separable conv is a 3×3 depthwise conv (one filter per channel) followed by a 1×1 pointwise conv, without a
non-linearity between them (§4.2: the paper found none works best); every conv is followed by batch normalisation.
22,855,952 parameters with the 1000-class head (§4.5, Table 3). The paper's stride-2 "same" poolings pad only after
(TensorFlow); PyTorch's ``padding=1`` pads both sides: the same map sizes, windows shifted by half a pixel.
"""
from __future__ import annotations

import torch
from torch import nn


class SeparableConv2d(nn.Module):
    """Depthwise K×K conv (``groups = in_channels``) then a pointwise 1×1 conv, both without bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel, padding=kernel // 2, groups=in_channels,
                                   bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class XceptionBlock(nn.Module):
    """``reps`` × (ReLU, separable conv, BN), then (when ``stride`` is 2) a 3×3 stride-2 max pooling; the shortcut is
    the identity, or a strided 1×1 conv + BN when the shape changes. ``first_relu=False`` for the block right after
    the stem, whose input has just been through a ReLU."""

    def __init__(self, cin: int, cout: int, reps: int, stride: int = 1, first_relu: bool = True,
                 grow_first: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = cout if grow_first else cin
        chans = [cin] + [width] * (reps - 1) + [cout]
        for i in range(reps):
            if i > 0 or first_relu:
                layers.append(nn.ReLU())  # never in place: the identity shortcut reads the block's input
            layers += [SeparableConv2d(chans[i], chans[i + 1]), nn.BatchNorm2d(chans[i + 1])]
        if stride != 1:
            layers.append(nn.MaxPool2d(3, stride, padding=1))
        self.residual = nn.Sequential(*layers)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class Xception(nn.Module):
    """Xception of Chollet (2017), Fig. 5: ``entry_flow``, ``middle_flow`` (8 blocks), ``exit_flow``, ``fc``."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, middle_blocks: int = 8) -> None:
        super().__init__()
        self.entry_flow = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, 2, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),  # 299 -> 149
            nn.Conv2d(32, 64, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),  # -> 147
            XceptionBlock(64, 128, 2, 2, first_relu=False),  # -> 74
            XceptionBlock(128, 256, 2, 2),  # -> 37
            XceptionBlock(256, 728, 2, 2),  # -> 19
        )
        self.middle_flow = nn.Sequential(*(XceptionBlock(728, 728, 3) for _ in range(middle_blocks)))
        self.exit_flow = nn.Sequential(
            XceptionBlock(728, 1024, 2, 2, grow_first=False),  # 728 then 1024 maps; -> 10
            SeparableConv2d(1024, 1536), nn.BatchNorm2d(1536), nn.ReLU(inplace=True),
            SeparableConv2d(1536, 2048), nn.BatchNorm2d(2048), nn.ReLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.exit_flow(self.middle_flow(self.entry_flow(x)))
        return self.fc(torch.flatten(self.pool(x), 1))
