"""The first lecture's two classifiers: a linear (softmax) classifier whose weights look like class templates, and
k-nearest neighbours, in pixel space and in a trained network's feature space.

A single fully connected layer scores class c as ``w_c · x + b_c``: reshaped to the image's shape, each ``w_c`` is a
template the image is matched against, and a trained one looks like the class's average image (the linear
classifier view of CS231n, Karpathy et al.). Nearest-neighbour classification (Cover & Hart, 1967) turns
classification into retrieval: the label of the closest training images. In pixel space "close" means similar
colours at the same places; in the feature space of a trained CNN it means what the network learned to compare.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from vizcore.core.hooks import forward_hooks

DataName = Literal["digits", "shapes"]
DATASETS: tuple[str, ...] = ("digits", "shapes")
NATIVE_SIZE = {"digits": 8, "shapes": 32}  # digits: scikit-learn's own 8×8; shapes: the default model's 32×32
DEFAULT_LR = {"digits": 0.05, "shapes": 0.01}  # 0.02 already makes the 3,072-pixel shapes objective oscillate
# Training images: digits' 70% training split of 1,797 holds 1,257; the shapes are capped so that training the
# linear classifier (3,072 inputs) stays within about 2 s on one core, and k-NN's features within a few seconds.
LINEAR_MAX_IMAGES = {"digits": 1257, "shapes": 1000}
KNN_MAX_IMAGES = {"digits": 1257, "shapes": 2000}
MAX_STEPS = 300


@dataclass(frozen=True)
class LinearConfig:
    """A softmax classifier ``W x + b`` trained full-batch on flattened pixels in [0, 1]."""

    dataset: str = "digits"  # "digits" (scikit-learn's 8×8, offline) or "shapes" (the embedded 32×32 shapes)
    train_size: int = 1000  # training images (at most LINEAR_MAX_IMAGES: digits 1,257, shapes 1,000)
    test_size: int = 250  # test images, from the data set's disjoint test split
    steps: int = 200  # full-batch Adam steps (each a pass over all training images), at most MAX_STEPS
    lr: float | None = None  # Adam's step size; None: the data set's (DEFAULT_LR: smaller for 3,072 RGB pixels)
    weight_decay: float = 1e-3  # L2 penalty (λ/2)·‖W‖² added to the mean cross-entropy; the bias is not decayed
    seed: int = 0  # data subset and initialisation

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"expected a data set in {DATASETS}, got {self.dataset!r}")
        cap = LINEAR_MAX_IMAGES[self.dataset]
        if not 10 <= self.train_size <= cap:
            raise ValueError(f"expected 10 to {cap} training images for {self.dataset}, got {self.train_size}")
        if not 10 <= self.test_size <= 250:  # digits' test split holds 270 images
            raise ValueError(f"expected 10 to 250 test images, got {self.test_size}")
        if not 1 <= self.steps <= MAX_STEPS:
            raise ValueError(f"expected 1 to {MAX_STEPS} steps, got {self.steps}")
        if self.lr is not None and not (math.isfinite(self.lr) and 0 < self.lr <= 10):
            raise ValueError(f"expected a step size in (0, 10], got {self.lr}")
        if not (math.isfinite(self.weight_decay) and 0 <= self.weight_decay <= 10):
            raise ValueError(f"expected a weight decay in [0, 10], got {self.weight_decay}")
        if not 0 <= self.seed < 2**31:
            raise ValueError(f"expected a seed in [0, 2**31), got {self.seed}")


@dataclass(frozen=True)
class Split:
    """Images as float pixels in [0, 1] with their labels: x (N, C, H, W), y (N,)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]


@dataclass(frozen=True)
class LinearResult:
    """A trained linear classifier and what it learned."""

    config: LinearConfig
    templates: NDArray[np.float32]  # (K, C, H, W): each class's weight vector in the image's shape
    bias: NDArray[np.float32]  # (K,)
    classes: tuple[str, ...]
    train_accuracy: float  # fraction in [0, 1]
    test_accuracy: float  # fraction in [0, 1], on the disjoint test split
    loss_curve: list[float]  # the training objective after each step
    per_class_test_accuracy: list[float]  # fraction per class (nan for a class absent from the test images)


def load_split(dataset: str, train_size: int, test_size: int, seed: int = 0) -> Split:
    """``train_size`` training and ``test_size`` test images of ``dataset`` at its native size (digits 8×8 grey,
    shapes 32×32 RGB), pixels scaled to [0, 1]; the splits are disjoint."""
    from vizcore.data import datasets as vdata

    if dataset not in DATASETS:
        raise ValueError(f"expected a data set in {DATASETS}, got {dataset!r}")
    size = NATIVE_SIZE[dataset]
    tr = vdata.load_dataset(dataset, "train", n=train_size, size=size, seed=seed)
    te = vdata.load_dataset(dataset, "test", n=test_size, size=size, seed=seed)
    return Split(tr.images.float() / 255.0, tr.labels.long(), te.images.float() / 255.0, te.labels.long(),
                 tuple(tr.classes))


def train_linear(cfg: LinearConfig, split: Split | None = None,
                 progress: Callable[[int, int, float], None] | None = None) -> LinearResult:
    """Train ``W x + b`` (softmax cross-entropy + (λ/2)‖W‖²) full-batch with Adam; ``progress(step, steps, loss)``
    after each step. ``split`` defaults to :func:`load_split` of the config's data set."""
    s = split or load_split(cfg.dataset, cfg.train_size, cfg.test_size, cfg.seed)
    shape = tuple(s.x_train.shape[1:])
    x = s.x_train.flatten(1)
    k = len(s.classes)
    g = torch.Generator().manual_seed(cfg.seed)
    w = (torch.randn(k, x.shape[1], generator=g) * 1e-3).requires_grad_()
    b = torch.zeros(k, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=cfg.lr if cfg.lr is not None else DEFAULT_LR[cfg.dataset])
    curve: list[float] = []
    for step in range(cfg.steps):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(x @ w.T + b, s.y_train) + 0.5 * cfg.weight_decay * (w * w).sum()
        loss.backward()
        opt.step()
        curve.append(float(loss.detach()))
        if progress is not None:
            progress(step + 1, cfg.steps, curve[-1])
    with torch.no_grad():
        pred_tr = (x @ w.T + b).argmax(1)
        pred_te = (s.x_test.flatten(1) @ w.T + b).argmax(1)
    per_class = [float((pred_te[s.y_test == c] == c).float().mean()) if bool((s.y_test == c).any()) else math.nan
                 for c in range(k)]
    return LinearResult(cfg, w.detach().reshape(k, *shape).numpy().astype(np.float32),
                        b.detach().numpy().astype(np.float32), s.classes,
                        float((pred_tr == s.y_train).float().mean()), float((pred_te == s.y_test).float().mean()),
                        curve, per_class)


def class_means(split: Split) -> NDArray[np.float32]:
    """Each class's average training image (K, C, H, W): what the trained templates come to resemble."""
    k = len(split.classes)
    return np.stack([split.x_train[split.y_train == c].mean(0).numpy() if bool((split.y_train == c).any())
                     else np.zeros(split.x_train.shape[1:], np.float32) for c in range(k)]).astype(np.float32)


# ---------------------------------------------------------------------------------------- k-nearest neighbours

@dataclass(frozen=True)
class KnnCurve:
    """k-NN test accuracy for each k in one space, and the nearest training images of the first test images."""

    space: str  # "pixels" or "features"
    dim: int  # length of one vector in this space
    ks: list[int]
    accuracy: list[float]  # fraction in [0, 1], one per k
    neighbours: list[list[int]]  # for the first test images: indices of their nearest training images, closest first


def knn_predict(train: torch.Tensor, train_y: torch.Tensor, test: torch.Tensor, ks: Sequence[int],
                num_classes: int) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
    """Majority vote among the k nearest training vectors (Euclidean) for each k in ``ks``.

    train: (N, D), test: (M, D). Ties in the vote go to the smallest label (as scikit-learn's uniform vote).
    Returns ({k: predictions (M,)}, the nearest-first indices (M, max k)).
    """
    if train.ndim != 2 or test.ndim != 2 or train.shape[1] != test.shape[1]:
        raise ValueError(f"expected (N, D) and (M, D) vectors, got {tuple(train.shape)} and {tuple(test.shape)}")
    kmax = max(ks)
    if min(ks) < 1 or kmax > train.shape[0]:
        raise ValueError(f"expected every k in 1..{train.shape[0]} (the training images), got {sorted(ks)}")
    d = _distance_order(test, train)
    # stable sort: among equal distances the earlier training image comes first
    idx = torch.sort(d, dim=1, stable=True).indices[:, :kmax]
    labels = train_y[idx]
    out = {}
    for k in ks:
        votes = F.one_hot(labels[:, :k], num_classes).sum(1)
        out[k] = votes.argmax(1)  # argmax returns the first maximum: the smallest label on a tie
    return out, idx


def _small_integers(x: torch.Tensor) -> bool:
    """Whether every value of ``x`` (N, D) is an integer small enough that any sum of D products of two of them
    stays below 2**53, where float64 holds every integer exactly."""
    if x.numel() == 0 or x.is_floating_point() and not bool(torch.equal(x, x.round())):
        return False
    top = float(x.abs().max())
    return top * top * x.shape[1] < 2.0**53


def _distance_order(test: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """(M, N) float64 values in the order of the Euclidean distances from each test vector to each training vector:
    equal distances give equal values, so a stable sort breaks ties by the training index.

    Integer-valued vectors (pixels 0..255) get their exact squared distances from one matrix product
    (‖a‖² + ‖b‖² − 2 a·b: every partial sum is an integer float64 holds exactly, in any order of summation). Other
    vectors are compared pair by pair, without the matrix product, whose cancellation could tell two equal distances
    apart."""
    if _small_integers(test) and _small_integers(train):
        a, b = test.double(), train.double()
        return (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return torch.cdist(test.double(), train.double(), compute_mode="donot_use_mm_for_euclid_dist")


@torch.no_grad()
def penultimate_features(model: nn.Module, x01: torch.Tensor, mean: Sequence[float], std: Sequence[float],
                         batch: int = 256) -> torch.Tensor:
    """What the classifier layer of ``model`` receives for images ``x01`` (N, C, H, W) in [0, 1], normalised with
    ``mean``/``std``: (N, D) vectors, the network's feature space."""
    from vizcore.models.registry import classifier_path

    head = model.get_submodule(classifier_path(model))
    got: list[torch.Tensor] = []
    m = torch.tensor(list(mean)).view(1, -1, 1, 1)
    s = torch.tensor(list(std)).view(1, -1, 1, 1)
    model.eval()
    with forward_hooks([(head, lambda _m, inp, _out: got.append(inp[0].detach().flatten(1)))]):
        for i in range(0, x01.shape[0], batch):
            model((x01[i:i + batch] - m) / s)
    return torch.cat(got)


def _as_bytes(x01: torch.Tensor) -> torch.Tensor:
    """Pixels in [0, 1] that were bytes / 255 back as the bytes (float); any other values are returned as they are."""
    back = (x01 * 255).round()
    return back if bool(torch.allclose(back / 255, x01, rtol=0.0, atol=1e-6)) else x01


def knn_curves(split: Split, ks: Sequence[int], features: tuple[torch.Tensor, torch.Tensor] | None = None,
               show: int = 4) -> list[KnnCurve]:
    """k-NN test accuracy against k in pixel space and, when ``features`` = (train (N, D), test (M, D)) is given,
    in that feature space; ``show`` test images keep their nearest training images."""
    ks = sorted(set(int(k) for k in ks))
    # the pixels back as their integers 0..255 (the split holds them / 255): the same order of distances, computed
    # exactly by one matrix product (_distance_order)
    spaces = [("pixels", _as_bytes(split.x_train.flatten(1)), _as_bytes(split.x_test.flatten(1)))]
    if features is not None:
        spaces.append(("features", features[0], features[1]))
    out = []
    for name, tr, te in spaces:
        preds, idx = knn_predict(tr, split.y_train, te, ks, len(split.classes))
        out.append(KnnCurve(name, int(tr.shape[1]), list(ks),
                            [float((preds[k] == split.y_test).float().mean()) for k in ks],
                            idx[:show, :min(5, idx.shape[1])].tolist()))
    return out


def up_to(curve: KnnCurve, kmax: int) -> KnnCurve:
    """``curve`` for the k up to ``kmax`` only, as :func:`knn_curves` would give it with those k: each k's vote does
    not depend on the larger ones, and the images shown keep as many neighbours as the largest k kept (at most 5)."""
    n = sum(1 for k in curve.ks if k <= kmax)
    if n == 0:
        raise ValueError(f"expected a largest k of at least {min(curve.ks)}, got {kmax}")
    return dataclasses.replace(curve, ks=curve.ks[:n], accuracy=curve.accuracy[:n],
                               neighbours=[row[:min(5, curve.ks[n - 1])] for row in curve.neighbours])


def default_ks(n_train: int, kmax: int = 25) -> list[int]:
    """1, 3, 5, … up to ``kmax`` (odd values avoid two-class ties), capped at the number of training images."""
    top = max(1, min(kmax, n_train))
    return list(range(1, top + 1, 2))


def knn_with_model(split: Split, model: nn.Module, mean: Sequence[float], std: Sequence[float],
                   ks: Sequence[int], show: int = 4) -> list[KnnCurve]:
    """:func:`knn_curves` in pixel space and in ``model``'s feature space (:func:`penultimate_features`)."""
    feats = (penultimate_features(model, split.x_train, mean, std), penultimate_features(model, split.x_test, mean, std))
    return knn_curves(split, ks, feats, show)
