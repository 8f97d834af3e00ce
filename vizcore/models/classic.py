"""The classics as their papers drew them: LeNet-5 (LeCun et al., 1998) and AlexNet (Krizhevsky et al., 2012).

:class:`LeNet5Paper` follows LeCun, Bottou, Bengio, Haffner, "Gradient-based learning applied to document
recognition" (Proc. IEEE 1998), §II.B and Fig. 2: C1 (6 maps, 5×5), S2 (sum of 2×2 times a trainable coefficient
plus a trainable bias per map, then the squashing function), C3 (16 maps, each reading only the S2 maps of
Table I), S4 (as S2), C5 (120 maps, 5×5), F6 (84 units) and an output of 10 Euclidean RBF units whose centres are
fixed ±1 codes (7×12 bitmaps of the digits, Fig. 3). Squashing f(a) = 1.7159·tanh(2a/3) (Appendix A). Trainable
parameters 156 + 12 + 1,516 + 32 + 48,120 + 10,164 = 60,000. It returns minus the RBF penalties as logits, so
softmax cross-entropy is the paper's discriminative criterion (Eq. 9) without its constant "rubbish" class.

:func:`alexnet_paper` follows Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep Convolutional
Neural Networks" (NeurIPS 2012), §3 and Fig. 2: 227×227 input, 96/256/384/384/256 maps, ReLU, local response
normalisation after conv1 and conv2 (k=2, n=5, α=1e-4, β=0.75), overlapping 3×3 stride-2 max pooling, two
4096-unit layers with dropout. One stream: 62,378,344 parameters; the two-GPU form (conv2, conv4 and conv5 read
only the maps on their own GPU: ``groups=2``) has 60,965,224 — the paper's "60 million".
"""
from __future__ import annotations

import torch
from torch import nn

# ------------------------------------------------------------------------------------------------ LeNet-5

# Table I of LeCun et al. (1998): which S2 maps (rows) each C3 map (columns) reads. Maps 0-5 read three
# contiguous maps, 6-11 four contiguous, 12-14 four non-contiguous, 15 all six.
C3_TABLE = (
    "X...XXX..XXXX.XX",
    "XX...XXX..XXXX.X",
    "XXX...XXX..X.XXX",
    ".XXX..XXXX..X.XX",
    "..XXX..XXXX.XX.X",
    "...XXX..XXXX.XXX",
)


def c3_inputs() -> tuple[tuple[int, ...], ...]:
    """For each of C3's 16 maps, the S2 maps it reads (from :data:`C3_TABLE`)."""
    return tuple(tuple(r for r in range(6) if C3_TABLE[r][c] == "X") for c in range(16))


# The output layer's fixed centres: stylised 7×12 bitmaps of the digits, +1 ink / -1 paper (after Fig. 3).
DIGIT_BITMAPS = (
    ("..XXX..", ".X...X.", "X.....X", "X.....X", "X.....X", "X.....X", "X.....X", "X.....X", "X.....X", ".X...X.",
     "..XXX..", "......."),
    ("...X...", "..XX...", ".X.X...", "...X...", "...X...", "...X...", "...X...", "...X...", "...X...", "...X...",
     ".XXXXX.", "......."),
    ("..XXX..", ".X...X.", "X.....X", "......X", ".....X.", "....X..", "...X...", "..X....", ".X.....", "X......",
     "XXXXXXX", "......."),
    (".XXXXX.", "X.....X", "......X", "......X", ".....X.", "..XXX..", ".....X.", "......X", "......X", "X.....X",
     ".XXXXX.", "......."),
    ("....XX.", "...X.X.", "..X..X.", ".X...X.", "X....X.", "X....X.", "XXXXXXX", ".....X.", ".....X.", ".....X.",
     "....XXX", "......."),
    ("XXXXXXX", "X......", "X......", "X......", "XXXXX..", ".....X.", "......X", "......X", "......X", "X....X.",
     ".XXXX..", "......."),
    ("..XXXX.", ".X.....", "X......", "X......", "X.XXX..", "XX...X.", "X.....X", "X.....X", "X.....X", ".X...X.",
     "..XXX..", "......."),
    ("XXXXXXX", "......X", ".....X.", ".....X.", "....X..", "....X..", "...X...", "...X...", "..X....", "..X....",
     "..X....", "......."),
    ("..XXX..", ".X...X.", "X.....X", ".X...X.", "..XXX..", ".X...X.", "X.....X", "X.....X", "X.....X", ".X...X.",
     "..XXX..", "......."),
    ("..XXX..", ".X...X.", "X.....X", "X.....X", "X.....X", ".X...XX", "..XXX.X", "......X", "......X", ".....X.",
     ".XXXX..", "......."),
)


def rbf_centres(num_classes: int) -> torch.Tensor:
    """(num_classes, 84) ±1 centres: the digit bitmaps first, then seeded random ±1 codes for classes 10 and up."""
    rows = [[1.0 if ch == "X" else -1.0 for line in bm for ch in line] for bm in DIGIT_BITMAPS[:num_classes]]
    out = torch.tensor(rows, dtype=torch.float32, device="cpu").reshape(-1, 84)
    if num_classes > len(DIGIT_BITMAPS):
        g = torch.Generator(device="cpu").manual_seed(1998)
        extra = torch.randint(0, 2, (num_classes - len(DIGIT_BITMAPS), 84), generator=g, device="cpu") * 2.0 - 1.0
        out = torch.cat([out, extra])
    return out


class ScaledTanh(nn.Module):
    """LeCun's squashing function f(a) = A·tanh(S·a), A = 1.7159, S = 2/3 (1998, Appendix A): f(±1) = ±1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * torch.tanh(x * (2.0 / 3.0))


class Subsample(nn.Module):
    """S2/S4: each unit adds its 2×2 inputs, multiplies by the map's trainable coefficient and adds its trainable
    bias (two parameters per map). x: (N, C, H, W) -> (N, C, H/2, W/2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = nn.functional.avg_pool2d(x, 2) * 4.0  # the sum of the four inputs
        return s * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class PartialConv(nn.Module):
    """C3: 16 maps of 5×5 kernels, map j reading only the S2 maps ``inputs[j]`` (Table I): one small conv per map,
    so the parameters (1,516) and multiply-adds (150,000 at 10×10) are those of the partial connections."""

    def __init__(self, inputs: tuple[tuple[int, ...], ...] | None = None, kernel: int = 5) -> None:
        super().__init__()
        self.inputs = c3_inputs() if inputs is None else inputs
        self.maps = nn.ModuleList(nn.Conv2d(len(ins), 1, kernel) for ins in self.inputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([conv(x[:, list(ins)]) for conv, ins in zip(self.maps, self.inputs)], 1)


class RBFOutput(nn.Module):
    """Euclidean RBF units with fixed centres (not trained): y_i = Σ_j (x_j − w_ij)²; returns −y (the closest
    centre scores highest). x: (N, in_features) -> (N, out_features). ``weight`` is a buffer, not a parameter."""

    weight: torch.Tensor

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        if in_features != 84:
            raise ValueError(f"expected 84 inputs (the 7x12 bitmaps), got {in_features}")
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("weight", rbf_centres(out_features).to(torch.get_default_device()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # −y = 2 x·w − ||w||² − ||x||²: one linear map (84 multiply-adds per class for the FLOP counter)
        w = self.weight
        return nn.functional.linear(x, 2.0 * w, -(w * w).sum(1)) - (x * x).sum(1, keepdim=True)

    def with_classes(self, num_classes: int, seed: int = 0) -> RBFOutput:
        """A fresh output layer for ``num_classes`` (the centres are fixed codes: ``seed`` is not used)."""
        return RBFOutput(self.in_features, num_classes)


class LeNet5Paper(nn.Module):
    """LeNet-5 of LeCun et al. (1998), Fig. 2: 32×32 grey input -> C1 28 -> S2 14 -> C3 10 -> S4 5 -> C5 1 ->
    F6 84 -> 10 RBF outputs. 60,000 trainable parameters; the RBF centres (840 values) are a fixed buffer."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5), ScaledTanh(),  # C1: 6 × (25 + 1) = 156
            Subsample(6), ScaledTanh(),  # S2: 6 × 2 = 12
            PartialConv(), ScaledTanh(),  # C3: 6 × 76 + 9 × 101 + 151 = 1,516
            Subsample(16), ScaledTanh(),  # S4: 16 × 2 = 32
            nn.Conv2d(16, 120, 5), ScaledTanh(),  # C5: 120 × (400 + 1) = 48,120
        )
        self.f6 = nn.Sequential(nn.Flatten(), nn.Linear(120, 84), ScaledTanh())  # F6: 84 × 121 = 10,164
        self.output = RBFOutput(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.f6(self.features(x)))


# ------------------------------------------------------------------------------------------------ AlexNet


def paper_lrn() -> nn.LocalResponseNorm:
    """§3.3: b = a / (k + α Σ a²)^β over n = 5 adjacent maps, k = 2, α = 1e-4, β = 0.75 (PyTorch's α is divided by
    n, so it is given 5 · 1e-4)."""
    return nn.LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0)


class AlexNetPaper(nn.Module):
    """AlexNet as in the paper (Fig. 2, §3.3–3.4, §4.2): 227 -> 55 -> 27 -> 13 -> 6; ``features`` (conv1–pool5)
    then ``classifier`` (fc6–fc8). ``grouped``: the two-GPU form, where conv2, conv4 and conv5 read only the half of
    the maps on their own GPU (``groups=2``).

    Local response normalisation: :func:`paper_lrn`. Initialisation as §5: weights N(0, 0.01²); biases 1 in conv2, conv4, conv5 and the hidden fully connected
    layers (ReLUs start with positive inputs), 0 elsewhere.
    """

    def __init__(self, num_classes: int = 1000, grouped: bool = False) -> None:
        super().__init__()
        g = 2 if grouped else 1
        lrn = paper_lrn
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(inplace=True), lrn(), nn.MaxPool2d(3, 2),  # conv1 55, pool 27
            nn.Conv2d(96, 256, 5, padding=2, groups=g), nn.ReLU(inplace=True), lrn(), nn.MaxPool2d(3, 2),  # 27, 13
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),  # conv3 reads both GPUs' maps
            nn.Conv2d(384, 384, 3, padding=1, groups=g), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1, groups=g), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),  # 13, pool 6
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(4096, num_classes),
        )
        ones = [self.features[4], self.features[10], self.features[12], self.classifier[1], self.classifier[4]]
        for m in self.modules():  # conv2, conv4, conv5, fc6 and fc7 start with bias 1
            if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.constant_(m.bias, 1.0 if any(m is o for o in ones) else 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
