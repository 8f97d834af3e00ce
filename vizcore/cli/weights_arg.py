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
        "Lab run's checkpoint) | a weights file: safetensors or a state_dict saved with torch.save (classes and input "
        "channels read off its tensors; with --model spec:SPEC_FILE, weights of a custom stack)")
SPEC_PREFIX = "spec:"
_TEXT_MAX = 1 << 20  # bytes of a spec or class-name file
RUN_PREFIX = "run:"


def resolve(model: str, spec: str) -> tuple[str, str]:
    """(weights argument for :func:`vizcore.models.weights.load_model`, a label saying where they come from).

    The argument is "random", "pretrained" or a checkpoint path (a weights file of any classes: the loader reads
    them off its tensors). CLIError (one line, exit 2) for ``trained`` on a
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


def _read_text(path: str, what: str) -> str:
    p = Path(path).expanduser()
    if not p.is_file():
        raise CLIError(f"expected {what} file, got {path!r} (no such file)")
    from vizcore.core.io import read_capped

    try:
        return read_capped(p, _TEXT_MAX, what).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CLIError(f"expected {what} as UTF-8 text, got {p.name}, which is not") from None


def apply_own(args: Any) -> None:
    """Before a command runs: ``--model spec:SPEC_FILE`` (a custom stack in the Architectures grammar) or
    ``--classes NAMES_FILE`` (one class name per line) with ``--weights FILE`` make a private model entry for that
    file (:mod:`vizcore.arch.own_model`: classes and input channels read off the tensors, strict load, one forward
    pass on a dummy batch, finite outputs, the Grad-CAM layer picked), and ``args.model`` names it. The check runs
    in this process: the file is the user's own, on their own machine (the app checks uploads in a child process)."""
    model = getattr(args, "model", None)
    classes = getattr(args, "classes", None)
    if not isinstance(model, str) or not (model.startswith(SPEC_PREFIX) or classes):
        return
    weights = getattr(args, "weights", None)
    if not isinstance(weights, str) or not Path(weights).expanduser().is_file():
        raise CLIError(f"expected --weights FILE (safetensors or a state_dict) with --model spec:… or --classes, got "
                       f"{weights!r}")
    from vizcore.arch import own_model

    spec_text = _read_text(model[len(SPEC_PREFIX):], "a spec") if model.startswith(SPEC_PREFIX) else None
    names = _read_text(classes, "a class-name") if classes else None
    base = own_model.SPEC if spec_text is not None else model
    own = own_model.validate(base, Path(weights).expanduser(), spec_text, names, in_child=False)
    own_model.register(own)
    args.model = own.name
