"""GPU paths of the training loop: data resident on the device, channels_last, bf16 autocast, fp16 with a
GradScaler, and no host synchronisation inside an optimizer step. Skipped without CUDA (they run where a GPU is)."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from tests.helpers import tiny_config, tiny_data
from vizcore.train import engine, loop

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


class _Grab(loop.Callback):
    """Keeps the live TrainState after setup, and what its model looked like then (at the end of a run the
    engine hands the model back on the CPU in the default memory format)."""

    def __init__(self) -> None:
        self.state: loop.TrainState | None = None
        self.param_devices: set[str] = set()
        self.conv_channels_last: list[bool] = []

    def on_setup(self, state: loop.TrainState) -> None:
        self.state = state
        self.param_devices = {p.device.type for p in state.model.parameters()}
        self.conv_channels_last = [m.weight.is_contiguous(memory_format=torch.channels_last)
                                   for m in state.model.modules() if isinstance(m, torch.nn.Conv2d)]


def _run(cfg, callbacks=()):
    r = engine.Run(cfg, data=(tiny_data(cfg.train_size), tiny_data(cfg.val_size, seed=1)), callbacks=callbacks)
    r.run_sync()
    return r


def _recipe(**kw):
    """The default recipe's GPU-relevant tricks on a tiny run."""
    base = dict(model="fast_cnn", device="cuda", train_size=512, val_size=128, batch_size=64, epochs=2,
                whiten_stem=True, tta_flip=True, channels_last=True, augment="flip", lr=0.05)
    base.update(kw)
    return tiny_config(**base)


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_runs_on_cuda_with_data_and_model_resident(precision: str) -> None:
    grab = _Grab()
    r = _run(_recipe(precision=precision), [grab])
    assert r.status == "done", r.message
    s = grab.state
    assert s is not None and s.device.type == "cuda"
    assert s.x_train.device.type == "cuda" and s.y_train.device.type == "cuda" and s.x_val.device.type == "cuda"
    assert s.x_train.dtype == torch.uint8  # kept as bytes on the device, normalised per batch
    assert grab.param_devices == {"cuda"}
    assert grab.conv_channels_last and all(grab.conv_channels_last)
    assert (s.scaler is not None) == (precision == "fp16")
    assert s.amp_dtype == {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_an_optimizer_step_never_waits_for_the_host(precision: str) -> None:
    """torch's sync debug mode raises on any device-to-host synchronisation inside the step (fp16's GradScaler
    checks for inf gradients on the host once per step by design, so it is left out)."""
    grab = _Grab()
    cfg = _recipe(precision=precision, epochs=1)
    assert _run(cfg, [grab]).status == "done"
    s = grab.state
    assert s is not None
    s.model.to(s.device).to(memory_format=torch.channels_last)  # back where the loop had it (see _Grab)
    loop.set_train_mode(s)
    n = len(s.y_train)
    idx = torch.randperm(n, device=s.device, generator=s.gen)[: cfg.batch_size]
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            loss, out, y = loop.train_step(s, idx)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(loss).item()


def test_bf16_trains_as_well_as_fp32_on_cuda() -> None:
    cfg = _recipe(train_size=1024, epochs=3)
    fp32 = _run(cfg)
    bf16 = _run(dataclasses.replace(cfg, precision="bf16"))
    assert fp32.status == bf16.status == "done"
    assert abs(fp32.history[-1]["val_acc"] - bf16.history[-1]["val_acc"]) < 0.1
