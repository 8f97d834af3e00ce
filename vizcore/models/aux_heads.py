"""Auxiliary classifiers made visible: GoogLeNet (Szegedy et al., 2015, Fig. 3) and Inception-v3 (Szegedy et al.,
2016, §4 and Fig. 8).

Both papers attach small classifiers to intermediate layers during training (GoogLeNet: two, after inception 4a and
4d, their losses weighted 0.3; Inception-v3: one, on the 17×17 grid, acting as a regulariser). torchvision builds
them but runs them only in training mode, so a summary or a trace in eval mode never sees them. The classes here
run the heads in every mode (their outputs are discarded: the forward returns the main logits only, so every page
and ConvScope's trainer use them as they use the plain models) — a summary then lists the heads' layers and counts
their multiply-adds.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models.googlenet import GoogLeNet
from torchvision.models.inception import Inception3


class _AuxShown(nn.Module):
    """Mixin for torchvision's GoogLeNet and Inception3: ``_forward`` runs the heads when the top module's own
    ``training`` flag is set; set it for that call only (the children keep their mode: BN and dropout are unaffected)
    and return the main logits."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        own = self.training
        self.training = True  # this module's flag only, not its children's
        try:
            out = self._forward(self._transform_input(x))  # type: ignore[operator]
        finally:
            self.training = own
        return out[0]


class GoogLeNetAux(_AuxShown, GoogLeNet):
    """torchvision's GoogLeNet with its two auxiliary classifiers (``aux1``, ``aux2``) run in every mode."""


class InceptionV3Aux(_AuxShown, Inception3):
    """torchvision's Inception-v3 with its auxiliary classifier (``AuxLogits``) run in every mode."""


def googlenet_aux(num_classes: int = 1000) -> GoogLeNetAux:
    return GoogLeNetAux(num_classes=num_classes, aux_logits=True, init_weights=True)


def inception_v3_aux(num_classes: int = 1000) -> InceptionV3Aux:
    return InceptionV3Aux(num_classes=num_classes, aux_logits=True, init_weights=True)
