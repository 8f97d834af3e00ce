"""The training playground: a small CNN trained one mini-batch at a time, to press play, pause, step and reset and
watch the network change (the interaction of TensorFlow Playground, Smilkov, Carter et al., 2017, for a
convolutional network on images).

A :class:`Playground` holds everything a run needs between two steps — the model, the optimizer, the data order
and the step count — so a caller can run one step, stop, look, and go on: ``step(n)`` runs exactly ``n``
optimizer steps (plain mini-batch SGD with momentum, Robbins & Monro 1951 / Polyak 1964), ``reset()`` goes
back to the weights and data order of the seed. The model is ConvScope's small VGG-style CNN (three
conv-BN-ReLU stages, Simonyan & Zisserman, 2015) at a chosen width, trained on the embedded synthetic shapes.
What it shows between steps — first-layer filters, one layer's activations for a fixed image, the confusion
matrix on held-out images — is read from the live model.
"""
from __future__ import annotations

import copy
import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from vizcore.core.budget import check_memory
from vizcore.core.hooks import forward_hooks, leaf_output_numel

IMAGE_SIZE = 32  # the shapes at the small CNN's own input size
DATA_SEED = 0  # every playground sees the same images (shared, read-only); its own seed sets weights and order
MAX_WIDTH = 32  # first-stage channels; the default trained small CNN has 32
MAX_BATCH = 128
MAX_TRAIN = 5000  # 5,000 × 3 × 32 × 32 uint8 = 15 MB, shared by every playground
MAX_TEST = 1000
MAX_LOSSES = 100_000  # loss history kept (about 28 hours of steps at one per second)


@dataclass(frozen=True)
class PlaygroundConfig:
    """What a playground trains: model width, batch, step size, data sizes and seed."""

    width: int = 8  # channels of the first stage (then 2×, 4×, 4×); 4 to 32
    batch_size: int = 32  # images per optimizer step; 1 to 128
    lr: float = 0.05  # SGD step size; (0, 1] (can also change while it trains: set_lr)
    momentum: float = 0.9  # SGD momentum; [0, 1)
    train_size: int = 2000  # training images of the shapes (drawn without replacement, reshuffled each epoch)
    test_size: int = 200  # held-out images for the confusion matrix (the shapes' validation split)
    seed: int = 0  # weights and batch order; reset() returns to what this seed gives

    def __post_init__(self) -> None:
        if not 4 <= self.width <= MAX_WIDTH:
            raise ValueError(f"expected a width of 4 to {MAX_WIDTH} channels, got {self.width}")
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"expected a batch of 1 to {MAX_BATCH} images, got {self.batch_size}")
        _check_lr(self.lr)
        if not (math.isfinite(self.momentum) and 0 <= self.momentum < 1):
            raise ValueError(f"expected a momentum in [0, 1), got {self.momentum}")
        if not max(10, self.batch_size) <= self.train_size <= MAX_TRAIN:
            raise ValueError(f"expected {max(10, self.batch_size)} to {MAX_TRAIN} training images (at least one "
                             f"batch), got {self.train_size}")
        if not 10 <= self.test_size <= MAX_TEST:
            raise ValueError(f"expected 10 to {MAX_TEST} held-out images, got {self.test_size}")
        if not 0 <= self.seed < 2**31:
            raise ValueError(f"expected a seed in [0, 2**31), got {self.seed}")


def _check_lr(lr: float) -> None:
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and 0 < lr <= 1):
        raise ValueError(f"expected a step size in (0, 1], got {lr}")


@dataclass(frozen=True)
class Evaluation:
    """The live model on the held-out images."""

    confusion: NDArray[np.int64]  # (K, K): row = true class, column = predicted class, counts of images
    accuracy: float  # fraction in [0, 1]
    loss: float  # mean cross-entropy (nats)
    steps: int  # optimizer steps taken when measured


_DATA: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, tuple[str, ...]]] = {}
_DATA_LOCK = threading.Lock()


def shared_data(train_size: int, test_size: int
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """(x_train (N, 3, 32, 32) uint8, y_train (N,), x_test (M, 3, 32, 32) uint8, y_test (M,), classes): the
    shapes of :data:`DATA_SEED`, generated once per size and shared read-only by every playground."""
    from vizcore.data.datasets import load_dataset

    key = (train_size, test_size)
    with _DATA_LOCK:
        if key not in _DATA:
            tr = load_dataset("shapes", "train", n=train_size, size=IMAGE_SIZE, seed=DATA_SEED)
            te = load_dataset("shapes", "val", n=test_size, size=IMAGE_SIZE, seed=DATA_SEED)
            _DATA[key] = (tr.images, tr.labels.long(), te.images, te.labels.long(), tuple(tr.classes))
            while len(_DATA) > 4:
                _DATA.pop(next(iter(_DATA)))
        return _DATA[key]


@contextmanager
def torch_threads() -> Iterator[None]:
    """Torch's intra-op threads for the block: ``CONVSCOPE_TORCH_THREADS`` (default 1, as the Lab's runs), the
    previous count restored after. On a server's shared cores, two threads for these small convolutions mostly
    wait on each other: measured here under load, 220-330 ms a step with two threads, 34 ms with one."""
    raw = os.environ.get("CONVSCOPE_TORCH_THREADS", "").strip()
    n = int(raw) if raw.isdigit() and int(raw) > 0 else 1
    old = torch.get_num_threads()
    if n != old:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n != old:
            torch.set_num_threads(old)


def build_model(cfg: PlaygroundConfig, num_classes: int = 10) -> nn.Module:
    """The small CNN at ``cfg.width``, initialised from ``cfg.seed`` alone (the global RNG is left as it was)."""
    from vizcore.models.small import SmallCNN

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return SmallCNN(num_classes=num_classes, in_channels=3, width=cfg.width)


def estimate_bytes(cfg: PlaygroundConfig) -> int:
    """Memory one playground needs: activations kept for backward (a shape-only forward on the meta device,
    × batch × 4 bytes × 2 for their gradients), weights + gradients + momentum, and its data as uint8."""
    from vizcore.core.meta import on_meta, shape_only
    from vizcore.models.small import SmallCNN

    with on_meta():
        model = SmallCNN(num_classes=10, in_channels=3, width=cfg.width).eval()
        x = torch.empty(1, 3, IMAGE_SIZE, IMAGE_SIZE)
    with shape_only():
        per_image = leaf_output_numel(model, lambda: model(x))[0]
    params = sum(p.numel() for p in model.parameters())
    data = (cfg.train_size + cfg.test_size) * 3 * IMAGE_SIZE ** 2
    return cfg.batch_size * per_image * 4 * 2 + params * 4 * 3 + data


class Playground:
    """A run that trains only when asked: ``step(n)``, ``reset()``, ``set_lr(lr)``, and views of its model.

    Not thread-safe: one caller at a time (a page keeps one per browser session).
    """

    def __init__(self, cfg: PlaygroundConfig) -> None:
        check_memory(f"a training playground of width {cfg.width} with batches of {cfg.batch_size}",
                     estimate_bytes(cfg), "choose a smaller width or batch")
        self.cfg = cfg
        from vizcore.models.registry import get_entry

        entry = get_entry("small_cnn")
        self._mean = torch.tensor(entry.mean).view(1, 3, 1, 1)
        self._std = torch.tensor(entry.std).view(1, 3, 1, 1)
        self.x_train, self.y_train, self.x_test, self.y_test, self.classes = shared_data(cfg.train_size,
                                                                                          cfg.test_size)
        self.model = build_model(cfg, len(self.classes))
        self._initial = copy.deepcopy(self.model.state_dict())
        self.reset()

    # ------------------------------------------------------------------------------------------- state

    def reset(self) -> None:
        """Back to the seed's initial weights, a fresh optimizer (no momentum), the first batch order, step 0."""
        self.model.load_state_dict(self._initial)
        self.lr = self.cfg.lr
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=self.lr, momentum=self.cfg.momentum)
        self._gen = torch.Generator().manual_seed(self.cfg.seed)
        self._order = torch.randperm(len(self.y_train), generator=self._gen)
        self._pos = 0
        self.steps = 0
        self.epochs_done = 0
        self.losses: list[float] = []  # training loss of each step's batch (nats), before its update
        self.held_out: list[tuple[int, float, float]] = []  # (steps, loss, accuracy) of each evaluate()
        self.step_seconds: list[float] = []  # wall time of each recent step (the last 100)

    def set_lr(self, lr: float) -> None:
        """Change the step size from the next step on (momentum and weights are kept)."""
        _check_lr(lr)
        self.lr = float(lr)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr

    @property
    def epoch(self) -> float:
        """Passes over the training images so far (fractional)."""
        return self.epochs_done + self._pos / len(self.y_train)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 3, H, W) uint8 -> float normalised as the small CNN expects."""
        return (x.float() / 255.0 - self._mean) / self._std

    def next_batch(self) -> torch.Tensor:
        """Indices (B,) of the next batch: a permutation per epoch; the epoch's last, shorter part is dropped."""
        b = self.cfg.batch_size
        if self._pos + b > len(self._order):
            self._order = torch.randperm(len(self.y_train), generator=self._gen)
            self._pos = 0
            self.epochs_done += 1
        idx = self._order[self._pos:self._pos + b]
        self._pos += b
        return idx

    # ------------------------------------------------------------------------------------------- training

    def step(self, n: int = 1) -> list[float]:
        """Run exactly ``n`` optimizer steps (one mini-batch each); returns their batch losses (nats)."""
        if not (isinstance(n, int) and 1 <= n <= 10_000):
            raise ValueError(f"expected 1 to 10000 steps, got {n}")
        self.model.train()
        with torch_threads():
            out = self._steps(n)
        self.losses.extend(out)
        del self.losses[:-MAX_LOSSES]
        return out

    def _steps(self, n: int) -> list[float]:
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            idx = self.next_batch()
            self.optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(self.model(self.normalise(self.x_train[idx])), self.y_train[idx])
            loss.backward()
            self.optimizer.step()
            self.steps += 1
            out.append(float(loss.detach()))
            self.step_seconds.append(time.perf_counter() - t0)
            del self.step_seconds[:-100]
        return out

    def run_for(self, seconds: float, max_steps: int = 50) -> int:
        """Steps until ``seconds`` of wall time are spent (at least one, at most ``max_steps``): the bounded
        work of one tick of a live view. Returns the steps taken."""
        if not (math.isfinite(seconds) and seconds > 0) or max_steps < 1:
            raise ValueError(f"expected a positive time and step count, got {seconds} s and {max_steps}")
        t0, done = time.perf_counter(), 0
        while done < max_steps:
            self.step(1)
            done += 1
            if time.perf_counter() - t0 >= seconds:
                break
        return done

    # ------------------------------------------------------------------------------------------- views

    def first_filters(self) -> NDArray[np.float32]:
        """The first convolution's weights (C_out, 3, k, k)."""
        conv = self.model.get_submodule("features.0")
        assert isinstance(conv, nn.Conv2d)
        return conv.weight.detach().numpy().copy()

    def layers(self) -> dict[str, str]:
        """{label: module path} of the ReLU after each conv stage (what the next layer reads)."""
        out, stage = {}, 0
        for name, m in self.model.get_submodule("features").named_children():
            if isinstance(m, nn.ReLU):
                stage += 1
                out[f"conv {stage} → ReLU"] = f"features.{name}"
        return out

    @torch.no_grad()
    def activations(self, layer: str, image: int) -> NDArray[np.float32]:
        """Maps (C, h, w) of module ``layer`` for held-out image ``image`` (the model in eval mode)."""
        if layer not in self.layers().values():
            raise ValueError(f"expected one of {', '.join(self.layers().values())}, got {layer!r}")
        if not 0 <= image < len(self.y_test):
            raise ValueError(f"expected a held-out image 0 to {len(self.y_test) - 1}, got {image}")
        got: list[torch.Tensor] = []
        self.model.eval()
        with torch_threads(), forward_hooks([(self.model.get_submodule(layer),
                                              lambda m, i, o: got.append(o.detach().clone()))]):
            self.model(self.normalise(self.x_test[image:image + 1]))
        return got[0][0].numpy()

    @torch.no_grad()
    def evaluate(self) -> Evaluation:
        """Confusion matrix, accuracy and loss on the held-out images (eval mode: BN's running statistics);
        each is also kept in ``held_out`` (once per step count)."""
        self.model.eval()
        with torch_threads():
            logits = self.model(self.normalise(self.x_test))
        k = len(self.classes)
        pred = logits.argmax(1)
        cm = torch.bincount(self.y_test * k + pred, minlength=k * k).view(k, k)
        ev = Evaluation(cm.numpy().astype(np.int64), float((pred == self.y_test).float().mean()),
                        float(F.cross_entropy(logits, self.y_test)), self.steps)
        if not self.held_out or self.held_out[-1][0] != self.steps:
            self.held_out = (self.held_out + [(self.steps, ev.loss, ev.accuracy)])[-1000:]
        return ev

    @torch.no_grad()
    def probabilities(self, image: int) -> NDArray[np.float32]:
        """Class probabilities (K,) for held-out image ``image`` (eval mode)."""
        if not 0 <= image < len(self.y_test):
            raise ValueError(f"expected a held-out image 0 to {len(self.y_test) - 1}, got {image}")
        self.model.eval()
        with torch_threads():
            return F.softmax(self.model(self.normalise(self.x_test[image:image + 1])), 1)[0].numpy()
