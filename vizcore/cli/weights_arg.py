"""``--weights`` of every command that loads a zoo model, parsed in one place.

``random`` (seeded), ``pretrained`` (torchvision's ImageNet weights), ``trained`` (ConvScope's shipped default of
that model: small_cnn, se_resnet_small), ``run:RUN_ID`` (the checkpoint of a run in the Training Lab's store,
``vizcore.core.paths.run_store_path()``), or a checkpoint file. Not a command: command modules import it inside
their ``run``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from vizcore.cli.registry import CLIError

HELP = ("random | pretrained | trained (ConvScope's default model: small_cnn, se_resnet_small) | run:RUN_ID (a Training "
        "Lab run's checkpoint) | checkpoint file")
RUN_PREFIX = "run:"


def resolve(model: str, spec: str) -> tuple[str, str]:
    """(weights argument for :func:`vizcore.models.weights.load_model`, a label saying where they come from).

    The argument is "random", "pretrained" or a checkpoint path. CLIError (one line, exit 2) for ``trained`` on a
    model without a default, a run id the store does not hold (or a run of another model, or without a
    checkpoint), and a file that does not exist."""
    from vizcore.models import weights as mweights

    if spec in ("random", "pretrained"):
        return spec, "random (untrained)" if spec == "random" else "pretrained"
    if spec == "trained":
        from vizcore.lab.default_model import DEFAULT_CONFIGS, default_model

        if model not in DEFAULT_CONFIGS:
            raise CLIError(f"expected --weights trained only for ConvScope's default trained models: "
                           f"{', '.join(DEFAULT_CONFIGS)}; got it for {model} (use random, pretrained, run:RUN_ID or a "
                           "checkpoint file)")
        path = default_model(model=model)
        meta = mweights.checkpoint_meta(path) or {}
        return str(path), f"trained on shapes (val. accuracy {meta.get('val_acc')})"
    if spec.startswith(RUN_PREFIX):
        return _run_checkpoint(model, spec[len(RUN_PREFIX):].strip())
    if not Path(spec).expanduser().is_file():
        raise CLIError(f"expected --weights random, pretrained, trained, run:RUN_ID or a checkpoint file, got {spec!r} "
                       "(no such file)")
    return str(Path(spec).expanduser()), f"checkpoint {spec}"


def _run_checkpoint(model: str, run_id: str) -> tuple[str, str]:
    from vizcore.lab.store import RunStore

    if not run_id:
        raise CLIError("expected --weights run:RUN_ID with a run id (python -m vizcore runs lists them), got none")
    store = RunStore(readonly=True)  # a listing: never creates a store
    try:
        if not store.exists(run_id):
            raise CLIError(f"expected a run id of the run store ({store.path}), got {run_id!r} (no such run)")
        path, meta = store.resolve(run_id)
        rec = store.get(run_id)
    finally:
        store.close()
    if meta.get("model") and meta["model"] != model:
        raise CLIError(f"expected --model {meta['model']} for run {run_id} (the model it trained), got {model}")
    acc = f", best val. accuracy {rec.best_val_acc:.3f}" if rec.best_val_acc is not None else ""
    return str(path), f"run {run_id} ({rec.name}, {rec.status}, {rec.epochs_done} epochs{acc})"


def load(model: str, spec: str) -> tuple[Any, str, str]:
    """(model in eval mode, weights argument, label): :func:`resolve` then the project's one loader."""
    from vizcore.models import weights as mweights

    weights, label = resolve(model, spec)
    return mweights.load_model(model, weights), weights, label
