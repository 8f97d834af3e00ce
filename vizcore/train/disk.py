"""The disk a run's kept epoch weights (``keep_epochs``) take, and the budget that bounds it."""
from __future__ import annotations

import functools
import os

from vizcore.core.meta import on_meta
from vizcore.models import registry as zoo
from vizcore.train.config import TrainConfig

__all__ = ["KEPT_EPOCHS_BUDGET_MB", "KEPT_EPOCHS_ENV_VAR", "checkpoint_bytes", "kept_epochs_budget_bytes",
           "kept_epochs_bytes"]

# Disk budget for the weights a run keeps per epoch (``keep_epochs``): a server shared by a class must not let
# one run fill its disk with 200 copies of a large model. Set CONVSCOPE_KEPT_EPOCHS_BUDGET_MB to change it.
KEPT_EPOCHS_ENV_VAR = "CONVSCOPE_KEPT_EPOCHS_BUDGET_MB"
KEPT_EPOCHS_BUDGET_MB = 1024
_SIDECAR_BYTES = 8 << 10  # the JSON metadata beside each checkpoint (config, classes): a few KB


def kept_epochs_budget_bytes() -> int:
    """The kept-epochs disk budget in bytes: ``CONVSCOPE_KEPT_EPOCHS_BUDGET_MB`` or 1,024 MB; ValueError when
    the variable is not a whole number of megabytes in [1, 1048576]."""
    raw = os.environ.get(KEPT_EPOCHS_ENV_VAR, "").strip()
    if not raw:
        return KEPT_EPOCHS_BUDGET_MB << 20
    try:
        mb = int(raw)
    except ValueError:
        raise ValueError(f"expected {KEPT_EPOCHS_ENV_VAR} to be a whole number of megabytes, got {raw!r}") from None
    if not 1 <= mb <= 1 << 20:
        raise ValueError(f"expected {KEPT_EPOCHS_ENV_VAR} between 1 and 1048576, got {mb}")
    return mb << 20


@functools.lru_cache(maxsize=256)
def _state_dict_bytes(model_name: str, num_classes: int) -> int:
    entry = zoo.get_entry(model_name)
    with on_meta():
        model = entry.builder(num_classes=num_classes)
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def checkpoint_bytes(config: TrainConfig, num_classes: int = 10) -> int:
    """Size of one checkpoint of ``config``'s model on disk: its state_dict (weights and buffers, counted on the
    meta device) plus the JSON sidecar."""
    return _state_dict_bytes(config.model, num_classes) + _SIDECAR_BYTES


def kept_epochs_bytes(config: TrainConfig, num_classes: int = 10) -> int:
    """Disk taken by the epoch weights a run keeps: min(keep_epochs, epochs) checkpoints (0 when off)."""
    return min(config.keep_epochs, config.epochs) * checkpoint_bytes(config, num_classes)
