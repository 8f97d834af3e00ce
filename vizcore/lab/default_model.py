"""The default trained model every page can use offline: small_cnn trained on the embedded shapes.

Shipped with ConvScope (reproduced by ``python -m vizcore default-model --retrain --ship``), copied to the data
directory on first use, or trained then.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vizcore.core import io as vio
from vizcore.core import paths
from vizcore.models.weights import checkpoint_meta
from vizcore.train.config import TrainConfig, legacy_values
from vizcore.train.engine import Event, Run

# ---------------------------------------------------------------------------------------- default model

# The default trained model every page can use offline: 15 epochs of 10,000 shapes reach 96.7% validation
# accuracy (passing 90% at epoch 8; a 5-epoch schedule stops near 88% after a minute on 2 cores). That is a
# few minutes of CPU, so its checkpoint ships with ConvScope
# (vizcore/resources, ~1 MB) and `python -m vizcore default-model --retrain --ship` reproduces it.
# Every field is spelled out: the shipped checkpoint must not change when TrainConfig's defaults (the fast
# recipe) do. The fields added with the recipe keep the values this model was trained with (legacy_values()).
DEFAULT_CONFIG = TrainConfig(
    model="small_cnn", dataset="shapes", train_size=10_000, val_size=1000, image_size=32, epochs=15,
    batch_size=64, optimizer="nesterov", lr=0.1, schedule="cosine", warmup_epochs=0.3, weight_decay=5e-4,
    no_bias_decay=False, label_smoothing=0.0, augment="none", seed=0, device="cpu", time_budget_s=3600.0,
    **legacy_values(),
)

# The second default model: the small SE-ResNet (Hu et al., 2018) on the same shapes, so the SE Attention page
# shows trained excitations offline (an untrained SE gate sits at 0.5 and says nothing). Trained with the fast
# recipe (whitened stem, no-bias-decay, flips, 16,000 images, 4 epochs): 99.6% validation accuracy in about
# 5.5 minutes on 2 cores, and its Grad-CAM maps pass the randomisation sanity check (the older 6-epoch, 5,000
# image model reached 83% and its maps survived random weights). Every field spelled out, as above.
SE_DEFAULT_CONFIG = TrainConfig(
    model="se_resnet_small", dataset="shapes", train_size=16_000, val_size=4000, image_size=32, epochs=4,
    batch_size=128, optimizer="nesterov", lr=0.3, momentum=0.9, schedule="cosine", warmup_epochs=0.5,
    weight_decay=5e-4, no_bias_decay=True, label_smoothing=0.0, augment="flip", seed=0, data_seed=0,
    whiten_stem=True, tta_flip=True, channels_last=True, device="cpu", time_budget_s=4 * 3600.0,
)

DEFAULT_CONFIGS: dict[str, TrainConfig] = {"small_cnn": DEFAULT_CONFIG, "se_resnet_small": SE_DEFAULT_CONFIG}

_DEFAULT_LOCK = threading.Lock()
_RESOURCES = Path(__file__).resolve().parents[1] / "resources"


def _file_name(model: str) -> str:
    if model not in DEFAULT_CONFIGS:
        raise ValueError(f"expected a default model from {', '.join(DEFAULT_CONFIGS)}, got {model!r}")
    return f"default_{model}_shapes.pt"


def default_model_path(model: str = "small_cnn") -> Path:
    """Where a default model's state_dict is cached (``data_dir()/models/default_<model>_shapes.pt``)."""
    name = _file_name(model)
    d = paths.data_dir() / "models"
    d.mkdir(parents=True, exist_ok=True)
    return d / name


def shipped_path(model: str = "small_cnn") -> Path:
    """The checkpoint of default model ``model`` shipped with ConvScope (``vizcore/resources``)."""
    return _RESOURCES / _file_name(model)


SHIPPED_DEFAULT = shipped_path("small_cnn")


def _same_config(stored: Any, cfg: TrainConfig) -> bool:
    """``stored`` (a config dict from a checkpoint's metadata) describes ``cfg``; fields added to TrainConfig
    since it was written count as equal when ``cfg`` has the value that reproduces the old behaviour (the
    field's legacy value, else its default)."""
    if not isinstance(stored, dict):
        return False
    current, defaults = cfg.to_dict(), {**TrainConfig().to_dict(), **legacy_values()}
    return (all(k in current and current[k] == v for k, v in stored.items())
            and all(current[k] == defaults[k] for k in current if k not in stored))


def data_fingerprint(cfg: TrainConfig) -> str:
    """sha256 of 16 validation images + labels + class names of ``cfg``'s data set, generated as a run would.

    The shapes are generated from a seed by code that may change between versions; a default model trained on
    other images is stale even when its config matches. Costs a few milliseconds.
    """
    import hashlib

    from vizcore.data import datasets as vdata

    ds = vdata.load_dataset(cfg.dataset, split="val", n=16, size=cfg.image_size, seed=cfg.effective_data_seed,
                            root=cfg.data_root)
    h = hashlib.sha256()
    h.update(ds.images.contiguous().numpy().tobytes())
    h.update(ds.labels.numpy().astype("int64").tobytes())
    h.update("\n".join(ds.classes).encode())
    return h.hexdigest()


def _is_complete(path: Path, cfg: TrainConfig, fingerprint: str) -> bool:
    meta = checkpoint_meta(path)
    return (path.is_file() and meta is not None and bool(meta.get("complete")) and _same_config(meta.get("config"), cfg)
            and meta.get("data_fingerprint") == fingerprint)


def default_model_ready(model: str = "small_cnn") -> bool:
    """True when default model ``model`` needs no training: a complete copy is cached or shipped."""
    cfg = DEFAULT_CONFIGS[model] if model in DEFAULT_CONFIGS else None
    if cfg is None:
        raise ValueError(f"expected a default model from {', '.join(DEFAULT_CONFIGS)}, got {model!r}")
    fp = data_fingerprint(cfg)
    return _is_complete(default_model_path(model), cfg, fp) or _is_complete(shipped_path(model), cfg, fp)


def default_model(progress: Callable[[float, str], None] | None = None, retrain: bool = False,
                  config: TrainConfig | None = None, model: str = "small_cnn") -> Path:
    """The checkpoint of the default model (small_cnn on the embedded shapes), ready on first use.

    In order: the copy cached in the data directory; else the checkpoint shipped with ConvScope
    (``vizcore/resources``, made by ``python -m vizcore default-model --retrain --ship`` from :data:`DEFAULT_CONFIG`),
    copied there; else trained now from ``config`` (default :data:`DEFAULT_CONFIG`), calling
    ``progress(fraction in [0, 1], text)`` as it goes. ``retrain`` skips both copies and trains. A copy counts
    only if it was made from the same config and the same images (:func:`data_fingerprint`).
    Load it with :func:`vizcore.models.weights.load_trained` (its sidecar JSON names the model and classes).
    ``model`` picks the default model (a key of :data:`DEFAULT_CONFIGS`: ``small_cnn`` or ``se_resnet_small``).
    """
    path = default_model_path(model)
    shipped = shipped_path(model)
    cfg = config or DEFAULT_CONFIGS[model]
    with _DEFAULT_LOCK:
        fingerprint = data_fingerprint(cfg)
        if not retrain and _is_complete(path, cfg, fingerprint):
            if progress:
                progress(1.0, "default model ready (cached)")
            return path
        if not retrain and _is_complete(shipped, cfg, fingerprint):
            vio.copy_file(shipped, path)
            vio.copy_file(Path(str(shipped) + ".json"), Path(str(path) + ".json"))
            if progress:
                progress(1.0, "default model ready (shipped with ConvScope)")
            return path
        run = Run(cfg, "default", checkpoint_path=path)
        total = cfg.epochs * cfg.steps_per_epoch()

        def on_event(ev: Event) -> None:
            if progress is None:
                return
            if ev["kind"] == "step":
                progress(min(ev["step"] / total, 0.999), f"training the default model: epoch {ev['epoch']}/"
                                                         f"{cfg.epochs}, loss {ev['loss']:.3f}")
            elif ev["kind"] == "epoch":
                progress(min(ev["epoch"] / cfg.epochs, 0.999),
                         f"epoch {ev['epoch']}/{cfg.epochs}: val accuracy {100 * ev['val_acc']:.1f}%")

        run.subscribe(on_event)
        status = run.run_sync()
        if status != "done":
            raise RuntimeError(f"default model training ended {status}: {run.message}")
        meta = checkpoint_meta(path) or {}
        meta["complete"] = True
        meta["history"] = run.history
        meta["data_fingerprint"] = fingerprint
        # readers see the old or the complete new metadata, never half
        vio.write_text(Path(str(path) + ".json"), json.dumps(meta, sort_keys=True))
        if progress:
            progress(1.0, f"default model ready: val accuracy {100 * run.history[-1]['val_acc']:.1f}%")
        return path
