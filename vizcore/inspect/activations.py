"""Activations of a traced model at one node."""
from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray

from vizcore.arch.graph import truncate
from vizcore.arch.receptive_field import FieldTable


def feature_map(table: FieldTable, node: str, x: torch.Tensor) -> NDArray[np.float64]:
    """Mean absolute activation over channels of ``node`` for one input x: (1, C, H, W) -> (h, w)."""
    if table.graph is None:
        raise ValueError("expected a FieldTable made by analyze(), got one without its traced graph")
    nf = table.resolve(node)
    if not nf.spatial:
        raise ValueError(f"expected a node with a spatial feature map, got {nf.node} with shape {list(nf.out_shape)}")
    if x.ndim != 4 or x.shape[0] != 1 or tuple(x.shape[1:]) != table.input_size:
        raise ValueError(f"expected x of shape (1, {', '.join(map(str, table.input_size))}), got {tuple(x.shape)}")
    sub = truncate(table.graph, nf.node)
    was = sub.training
    sub.eval()
    try:
        with torch.no_grad():
            out = sub(x)
    finally:
        sub.train(was)
    return out[0].abs().mean(0).double().cpu().numpy()
