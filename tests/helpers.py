"""Small shared builders for tests: learnable tensor data sets and tiny training configs."""
from __future__ import annotations

import torch

from vizcore.data.imageset import ImageSet
from vizcore.train import config as train_config


def tiny_data(n: int = 64, channels: int = 3, size: int = 32, classes: int = 4, seed: int = 0) -> ImageSet:
    """Noise images with a bright quadrant that says the class (0..3): learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.rand(n, channels, size, size, generator=g) * 60
    h = size // 2
    for i in range(n):
        r, c = divmod(int(y[i]) % 4, 2)
        x[i, :, r * h:(r + 1) * h, c * h:(c + 1) * h] += 150
    return ImageSet(x.to(torch.uint8), y, tuple(f"c{i}" for i in range(classes)))


def tiny_config(**kw) -> train_config.TrainConfig:
    """A tiny plain run: every trick of the default recipe off (tests turn on what they test)."""
    base = dict(model="small_cnn", dataset="tensors", train_size=64, val_size=32, epochs=1, batch_size=32,
                lr=0.05, device="cpu", log_every=1, warmup_epochs=0.0, no_bias_decay=False, label_smoothing=0.0,
                augment="none", whiten_stem=False, tta_flip=False, channels_last=False)
    base.update(kw)
    return train_config.TrainConfig(**base)


def cli_json(args: list[str]) -> tuple[int, dict | None, str]:
    """``python -m vizcore ARGS`` in this process: (exit status, the JSON it printed or None, its stderr)."""
    import contextlib
    import io
    import json

    from vizcore.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(args)
    text = out.getvalue().strip()
    return rc, json.loads(text) if rc == 0 and text else None, err.getvalue()


def count_flops(work) -> int:
    """FLOPs ``work()`` runs, by torch's own formulas (``torch.utils.flop_counter.flop_registry``) applied to every
    op dispatched: an independent count to hold estimates against. (``FlopCounterMode`` itself tracks modules
    with backward hooks that break captum's ``autograd.grad``.)"""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Count(TorchDispatchMode):
        flops = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func._overloadpacket in flop_registry:
                self.flops += flop_registry[func._overloadpacket](*args, **(kwargs or {}), out_val=out)
            return out

    with Count() as counter:
        work()
    return int(counter.flops)
