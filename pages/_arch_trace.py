"""Architectures page helper: a zoo model's per-layer summary traced on PyTorch's meta device.

Apart from the page so tests can compare it with a real forward pass without running the page script.
"""
from __future__ import annotations

from vizcore.arch.summary import summarize
from vizcore.core.meta import on_meta
from vizcore.models import registry as zoo


def trace(name: str, shape: tuple[int, int, int]) -> dict:
    """Summary of zoo model ``name`` on a (C, H, W) input, traced on the meta device (real CPU tensors only for
    a model whose forward needs values, e.g. RegNet's stochastic-depth bookkeeping)."""
    entry = zoo.get_entry(name)
    try:
        with on_meta():
            model = entry.builder(num_classes=entry.num_classes).eval()
        s = summarize(model, shape, device="meta")
    except (ValueError, RuntimeError) as exc:  # NotImplementedError is a RuntimeError; summarize words it as ValueError
        if "meta" not in str(exc).lower():
            raise
        s = summarize(zoo.build_model(name), shape)
    return {"rows": s.to_rows(), "params": s.total_params, "trainable": s.trainable_params, "macs": s.total_macs,
            "output": s.output_shape, "stages": s.stages, "activation_bytes": s.activation_bytes}
