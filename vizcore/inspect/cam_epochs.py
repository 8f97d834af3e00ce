"""CAM over training: how a class activation map forms across the epochs of one training run.

A run trained with ``keep_epochs`` = E keeps the weights of its last E epochs (``epoch_<k>.pt``, the same format
as its final checkpoint). For each kept epoch this module loads the weights, computes Grad-CAM (Selvaraju et al.,
ICCV 2017) at one layer for N held-out images of the embedded shapes, and scores the maps against the objects'
masks with the pointing game (Zhang et al., ECCV 2016) and the energy inside the mask (Wang et al., Score-CAM,
CVPR-W 2020) — :mod:`vizcore.inspect.cam_metrics`. The scores per epoch say *when* the network starts to look at
the object; the maps of one image per epoch show *how*. A map that knows nothing scores the mask's area on both
(the chance level).

The images are the shapes data set's "test" split rendered at the run's image size (never trained on). For a run
trained on the shapes each map explains the image's true class; for a run trained on other data (its classes are
not the shapes'), the class its last kept epoch predicts, the same class at every epoch.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from vizcore.core.budget import check_memory
from vizcore.data.imageset import ImageSet
from vizcore.inspect.attribution import Method, attribute, prepare
from vizcore.inspect.cam_metrics import Localisation, localisation
from vizcore.models.preprocess import for_model

MAX_IMAGES = 1000  # scoring images per epoch
EPOCH_FILE = re.compile(r"^epoch_(\d{3,})\.pt$")
Progress = Callable[[float, str], None]
TargetMode = Literal["true class", "predicted class"]


@dataclass(frozen=True)
class EpochScore:
    """Localisation of the maps of one kept epoch."""

    epoch: int  # training epoch (from 1) whose weights were used
    val_acc: float | None  # the run's validation accuracy after this epoch, [0, 1] (from the checkpoint's metadata)
    accuracy: float  # share of the scored images this epoch's weights classify right (NaN without true classes)
    localisation: Localisation  # pointing game and energy in the mask over the scored images, with chance levels


@dataclass(frozen=True, eq=False)
class CamOverTraining:
    """Scores per kept epoch and the maps of one image at each of them."""

    model: str  # zoo name
    layer: str  # module path of the CAM layer
    method: str  # attribution method (key of vizcore.inspect.attribution.METHODS)
    targets: TargetMode  # which class each map explains
    scores: tuple[EpochScore, ...]  # one per kept epoch, oldest first
    image_index: int  # index of the shown image among the scored ones
    image_class: int  # class its maps explain
    image: NDArray[np.uint8]  # (H, W, 3) the shown image at the run's image size
    mask: NDArray[np.bool_]  # (H, W) its object mask
    maps: NDArray[np.float64]  # (E, H, W) its map after each kept epoch, non-negative

    @property
    def epochs(self) -> tuple[int, ...]:
        return tuple(s.epoch for s in self.scores)


# ------------------------------------------------------------------------------------------- inputs

def epoch_files(folder: str | Path) -> dict[int, Path]:
    """The kept epoch weights in ``folder`` (``epoch_<k>.pt``): epoch -> file, oldest first; {} when none."""
    d = Path(folder)
    if not d.is_dir():
        return {}
    found = {int(m.group(1)): p for p in d.iterdir() if (m := EPOCH_FILE.match(p.name)) and p.is_file()}
    return dict(sorted(found.items()))


def check_checkpoints(checkpoints: Mapping[int, str | Path]) -> dict[int, Path]:
    """Epoch -> existing checkpoint file, sorted by epoch; ValueError naming the problem otherwise."""
    if not checkpoints:
        raise ValueError("expected kept epoch weights (train with keep_epochs > 0), got none")
    out: dict[int, Path] = {}
    for e, p in sorted(checkpoints.items()):
        if isinstance(e, bool) or not isinstance(e, int) or e < 1:
            raise ValueError(f"expected epochs numbered from 1, got {e!r}")
        if not Path(p).is_file():
            raise ValueError(f"expected the weights of epoch {e} at {Path(p).name}, got no such file "
                             "(removed since the run ended?)")
        out[e] = Path(p)
    return out


def scoring_images(model: str, n: int, image_size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, ImageSet]:
    """Held-out shapes at a run's image size: (x normalised for ``model`` (N, C, S, S), masks (N, S, S) bool, set).

    The shapes data set's "test" split (its own seed, disjoint from what runs train and validate on)."""
    from vizcore.data import datasets as vdata

    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_IMAGES:
        raise ValueError(f"expected between 1 and {MAX_IMAGES} scoring images, got {n!r}")
    pre = for_model(model)
    check_memory(f"{n} scoring images at {image_size}x{image_size}",
                 n * image_size ** 2 * (3 + 4 * pre.channels + 4 + 1) * 2,
                 "score fewer images")
    ds = vdata.load_dataset("shapes", split="test", n=n, size=image_size, seed=seed)
    assert ds.masks is not None  # the shapes renderer always draws masks
    return pre.batch(ds.images), ds.masks, ds


def load_epoch(path: str | Path, model: str | None = None) -> nn.Module:
    """The weights of one kept epoch as a private, prepared model (eval mode, frozen), on the CPU."""
    from vizcore.models.weights import load_trained

    return prepare(load_trained(path, model=model))


def _meta(path: Path) -> dict:
    from vizcore.models.weights import checkpoint_meta

    return checkpoint_meta(path) or {}


def target_mode(checkpoint: str | Path, classes: tuple[str, ...]) -> TargetMode:
    """"true class" when the checkpoint was trained on ``classes`` (the shapes'), else "predicted class"."""
    return "true class" if tuple(_meta(Path(checkpoint)).get("classes") or ()) == tuple(classes) else "predicted class"


# ------------------------------------------------------------------------------------------- compute

@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([model(x[s:s + batch_size]).argmax(1) for s in range(0, x.shape[0], batch_size)])


def score_epoch(model: nn.Module, x: torch.Tensor, masks: torch.Tensor, targets: torch.Tensor,
                labels: torch.Tensor | None, layer: str | None, method: Method = "gradcam",
                batch_size: int = 64) -> tuple[Localisation, float]:
    """(localisation of the maps explaining ``targets``, accuracy against ``labels`` or NaN) for one model.

    x: (N, C, H, W) normalised; masks: (N, H, W) bool; targets, labels: (N,) int64."""
    maps = torch.cat([attribute(model, x[s:s + batch_size], method, targets[s:s + batch_size], layer).maps
                      for s in range(0, x.shape[0], batch_size)])
    acc = float((_predict(model, x, batch_size) == labels).double().mean()) if labels is not None else float("nan")
    return localisation(maps.float(), masks), acc


def epoch_scores(checkpoints: Mapping[int, str | Path], x: torch.Tensor, masks: torch.Tensor,
                 labels: torch.Tensor | None, *, model: str | None = None, layer: str | None = None,
                 method: Method = "gradcam", batch_size: int = 64,
                 progress: Progress | None = None) -> tuple[tuple[EpochScore, ...], torch.Tensor]:
    """Localisation of each kept epoch's maps on x (N, C, H, W) against masks (N, H, W).

    ``labels`` (N,): the true classes (a run trained on these images' classes); None: each map explains the class
    the last kept epoch predicts. Returns (scores oldest first, the targets explained (N,))."""
    files = check_checkpoints(checkpoints)
    if x.ndim != 4 or masks.shape != (x.shape[0], *x.shape[2:]):
        raise ValueError(f"expected x (N, C, H, W) and masks (N, H, W), got {tuple(x.shape)} and {tuple(masks.shape)}")
    epochs = list(files)
    if labels is None:
        targets = _predict(load_epoch(files[epochs[-1]], model), x, batch_size)
    else:
        targets = labels
    out = []
    for i, e in enumerate(epochs):
        net = load_epoch(files[e], model)
        loc, acc = score_epoch(net, x, masks, targets, labels, layer, method, batch_size)
        val = _meta(files[e]).get("val_acc")
        out.append(EpochScore(e, float(val) if isinstance(val, (int, float)) else None, acc, loc))
        if progress:
            progress((i + 1) / len(epochs), f"epoch {e} ({i + 1}/{len(epochs)})")
    return tuple(out), targets


def epoch_map(checkpoint: str | Path, x: torch.Tensor, target: int, *, model: str | None = None,
              layer: str | None = None, method: Method = "gradcam") -> tuple[NDArray[np.float64], float]:
    """(map (H, W) >= 0, softmax probability of ``target``) of one image x (1, C, H, W) with one epoch's weights."""
    net = load_epoch(checkpoint, model)
    with torch.no_grad():
        prob = float(net(x).softmax(1)[0, int(target)])
    return attribute(net, x, method, int(target), layer).maps[0].double().numpy(), prob


def predicted_class(checkpoint: str | Path, x: torch.Tensor, model: str | None = None) -> int:
    """The class one epoch's weights predict for one image x (1, C, H, W)."""
    return int(_predict(load_epoch(checkpoint, model), x, 1)[0])


def cam_over_training(checkpoints: Mapping[int, str | Path], model: str, image_size: int, *, n: int = 100,
                      layer: str | None = None, method: Method = "gradcam", image_index: int = 0,
                      progress: Progress | None = None) -> CamOverTraining:
    """Scores per kept epoch on ``n`` held-out shapes at ``image_size``, and the maps of image ``image_index``.

    >>> res = cam_over_training(store.epoch_checkpoints(run_id), "small_cnn", 32, n=50)  # doctest: +SKIP
    >>> [round(s.localisation.pointing, 2) for s in res.scores]  # doctest: +SKIP
    """
    from vizcore.models.registry import get_entry

    files = check_checkpoints(checkpoints)
    if isinstance(image_index, bool) or not isinstance(image_index, int) or not 0 <= image_index < n:
        raise ValueError(f"expected an image index in [0, {n}), got {image_index!r}")
    layer = layer or get_entry(model).cam_layer
    x, masks, ds = scoring_images(model, n, image_size)
    mode = target_mode(files[max(files)], ds.classes)
    scores, targets = epoch_scores(files, x, masks, ds.labels if mode == "true class" else None, model=model,
                                   layer=layer, method=method, progress=progress)
    xi, t = x[image_index:image_index + 1], int(targets[image_index])
    maps = np.stack([epoch_map(p, xi, t, model=model, layer=layer, method=method)[0] for p in files.values()])
    return CamOverTraining(model, layer, method, mode, scores, image_index, t,
                           ds.images[image_index].permute(1, 2, 0).numpy(), masks[image_index].numpy(), maps)
