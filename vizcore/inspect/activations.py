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


# ---------------------------------------------------------------------------------------- per-channel view


def channel_stats(act: torch.Tensor | NDArray[np.floating]) -> dict[str, NDArray[np.float64]]:
    """Per-channel statistics of one image's activation act: (C, H, W) tensor or array.

    Returns {"mean", "max", "zero_fraction"} arrays of shape (C,); zero_fraction is the share of units that are
    exactly 0 (after a ReLU: inactive units; ~0 elsewhere).
    """
    if act.ndim != 3:
        raise ValueError(f"expected an activation of shape (C, H, W), got {tuple(act.shape)}")
    a = torch.as_tensor(act).detach().double().cpu().flatten(1)
    return {"mean": a.mean(1).numpy(), "max": a.amax(1).numpy(), "zero_fraction": (a == 0).double().mean(1).numpy()}


def channel_order(stats: dict[str, NDArray[np.float64]], by: str = "mean") -> NDArray[np.int64]:
    """Channel indices sorted by ``by`` ("mean" or "max"), largest first."""
    if by not in ("mean", "max"):
        raise ValueError(f"expected sorting by 'mean' or 'max', got {by!r}")
    return np.argsort(-stats[by], kind="stable").astype(np.int64)


def depth_profile(table: FieldTable) -> list[dict[str, object]]:
    """Spatial size and channel count of every spatial layer call, in execution order (how maps shrink and
    channels grow with depth): [{"node", "module", "op", "channels", "height", "width"}]."""
    return [{"node": n.node, "module": n.module or n.node, "op": n.op, "channels": int(n.out_shape[0]),
             "height": int(n.out_shape[1]), "width": int(n.out_shape[2])}
            for n in table.nodes if n.spatial and n.is_layer]
