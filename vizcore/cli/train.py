"""CLI sub-commands for training: ``train``, ``estimate``, ``runs``, ``default-model``.

``python -m vizcore train --config run.json --json`` (or ``--epochs 3 --lr 0.05 ...``, flags override the file)
trains in the foreground, records the run in the store, prints one JSON line per epoch and a final summary
line. ``python -m vizcore runs --json`` lists stored runs. ``python -m vizcore default-model --json`` builds
(or reuses) the default trained model and prints its checkpoint path and accuracy. ``python -m vizcore estimate
--json`` (the same flags as ``train``; ``--ab TRICK --seeds N`` for a comparison) says how long it would take on
this machine, from the runs that finished here: the estimate the Training Lab shows.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path
from typing import Any

from vizcore.cli.registry import MAX_CONFIG_BYTES, CLIError, command, print_json


def _config_fields() -> list[dataclasses.Field]:
    from vizcore.train.config import TrainConfig

    return list(dataclasses.fields(TrainConfig))


def _bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _optional_str(text: str) -> str | None:
    return None if text.strip().lower() in ("", "none", "null") else text


def _optional_int(text: str) -> int | None:
    if text.strip().lower() in ("", "none", "null"):
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or none, got {text!r}") from None


def _add_train(p: argparse.ArgumentParser) -> None:
    from vizcore.train.config import TrainConfig, field_docs

    hints = typing.get_type_hints(TrainConfig)
    docs = field_docs()
    p.add_argument("--config", type=Path, help="JSON file of TrainConfig fields (flags override it)")
    p.add_argument("--name", help="run name shown in the lab")
    p.add_argument("--group", help="comparison group")
    p.add_argument("--db", type=Path, help="run store database (default: data dir/runs.sqlite)")
    p.add_argument("--epochs-dir", type=Path, metavar="DIR",
                   help="with --keep-epochs E: folder for the last E epochs' weights (default: beside the run's "
                        "checkpoint in the data dir; the run record names it either way)")
    for f in _config_fields():
        flag = "--" + f.name.replace("_", "-")
        hint = hints[f.name]
        origin_args = typing.get_args(hint)
        default = getattr(TrainConfig(), f.name)
        kw: dict[str, Any] = {"help": f"{docs.get(f.name, '')} (default {default})".replace("%", "%%")}
        if hint is bool:
            p.add_argument(flag, type=_bool, metavar="BOOL", default=argparse.SUPPRESS, **kw)
        elif hint is int:
            p.add_argument(flag, type=int, default=argparse.SUPPRESS, **kw)
        elif hint is float:
            p.add_argument(flag, type=float, default=argparse.SUPPRESS, **kw)
        elif int in origin_args and type(None) in origin_args:
            p.add_argument(flag, type=_optional_int, default=argparse.SUPPRESS, **kw)
        elif typing.get_origin(hint) is typing.Literal:
            p.add_argument(flag, choices=list(origin_args), default=argparse.SUPPRESS, **kw)
        else:  # str or str | None
            p.add_argument(flag, type=_optional_str if type(None) in origin_args else str, default=argparse.SUPPRESS,
                           **kw)


def _load_config(args: argparse.Namespace):
    from vizcore.train.config import TrainConfig

    data: dict[str, Any] = {}
    if args.config is not None:
        from vizcore.core.io import read_text_capped

        try:
            text = read_text_capped(Path(args.config), MAX_CONFIG_BYTES, "config file")
        except OSError as exc:
            raise CLIError(f"expected a readable config file, got {str(args.config)!r} ({exc.strerror})") from None
        try:
            try:
                raw = json.loads(text)
            except json.JSONDecodeError:
                raw = None  # from_json words the error
            data = (TrainConfig.from_dict(_pipeline_replaces_preset(raw)) if isinstance(raw, dict)
                    else TrainConfig.from_json(text)).to_dict()
        except (ValueError, TypeError, AttributeError) as exc:
            raise CLIError(f"expected a valid config file, got {str(args.config)!r}: {exc}") from None
    for f in _config_fields():
        if hasattr(args, f.name):  # flags default to SUPPRESS: only the ones given are present
            data[f.name] = getattr(args, f.name)
    return TrainConfig.from_dict(_pipeline_replaces_preset(data))


def _pipeline_replaces_preset(data: dict[str, Any]) -> dict[str, Any]:
    """An augmentation pipeline given without a preset replaces the default preset (a preset named as well is
    refused by TrainConfig)."""
    if data.get("augment_pipeline") and "augment" not in data:
        return {**data, "augment": "none"}
    return data


def _add_train_cmd(p: argparse.ArgumentParser) -> None:
    from vizcore.cli.lab import add_executor_args

    _add_train(p)
    add_executor_args(p)


@command("train", "Train a model (flags or --config run.json); one JSON line per epoch, then a summary.",
         _add_train_cmd)
def run_train(args: argparse.Namespace) -> None:
    import os

    from vizcore.lab.store import RunStore

    config = _load_config(args)
    kind = args.executor or os.environ.get("CONVSCOPE_EXECUTOR") or ("ray" if os.environ.get("RAY_ADDRESS") else None)
    if kind not in (None, "inprocess"):  # one run gains nothing from a pool: it trains here unless asked otherwise
        return _train_elsewhere(args, config, kind)
    store = RunStore(args.db)
    store.mark_interrupted()
    from vizcore.lab.queue import check_before_create
    from vizcore.lab.queue import dataset_num_classes as _num_classes

    check_before_create(store, config, _num_classes(config.dataset))  # refused runs leave no record behind
    if args.epochs_dir is not None:
        _check_epochs_dir(args.epochs_dir, config)
    run_id = store.create(config, args.name, args.group)
    run = store.make_run(run_id, epochs_dir=args.epochs_dir)

    def on_event(ev: dict) -> None:
        if ev["kind"] == "epoch":
            print_json({"run_id": run_id, **ev}, lines=True)

    run.subscribe(on_event)
    try:
        status = run.run_sync()
    except KeyboardInterrupt:  # Ctrl-C: leave a consistent record
        store.set_status(run_id, "cancelled", "cancelled from the keyboard")
        raise
    rec = store.get(run_id)
    summary = {"kind": "summary", "run_id": run_id, "name": rec.name, "status": status, "message": rec.message,
               "epochs_done": rec.epochs_done, "val_acc": rec.val_acc, "best_val_acc": rec.best_val_acc,
               "checkpoint": rec.checkpoint, "kept_epochs": rec.kept_epochs, "info": rec.info,
               "labelled": rec.info.get("labelled"), "unlabelled": rec.info.get("unlabelled"),
               # a writing command says what it creates
               "store": str(store.path), "store_created": not store.existed,
               "executor": "inprocess", "worker": _here()}
    print_json(summary, lines=True)
    if status == "failed":
        raise CLIError(rec.message)


def _here() -> str:
    from vizcore.lab.executors import here

    return here()


def _train_elsewhere(args: argparse.Namespace, config, kind: str) -> None:
    """``train`` on a worker process or the Ray cluster: the same lines, the summary saying where it ran."""
    from vizcore.cli.lab import executor_json, run_json
    from vizcore.lab.queue import Lab

    if args.epochs_dir is not None:
        raise CLIError(f"expected --epochs-dir only with the in-process executor, got --executor {kind}")
    lab = Lab(args.db, executor=kind, workers=args.workers)
    existed = lab.store.existed
    try:
        run_id = lab.submit(config, args.name, args.group)
        run = lab.get_run(run_id)
        if run is not None:
            run.subscribe(lambda ev: print_json({"run_id": run_id, **ev}, lines=True) if ev["kind"] == "epoch" else None)
        status = lab.wait(run_id)
    except KeyboardInterrupt:
        lab.shutdown(wait=True, timeout=10)
        raise
    rec = lab.store.get(run_id)
    lab.shutdown(wait=False)
    summary = {"kind": "summary", **run_json(rec), "name": rec.name, "epochs_done": rec.epochs_done,
               "best_val_acc": rec.best_val_acc, "kept_epochs": rec.kept_epochs, "info": rec.info,
               "labelled": rec.info.get("labelled"), "unlabelled": rec.info.get("unlabelled"),
               "store": str(lab.store.path), "store_created": not existed, **executor_json(lab)}
    print_json(summary, lines=True)
    if status == "failed":
        raise CLIError(rec.message)


def _check_epochs_dir(folder: Path, config) -> None:
    """--epochs-dir: only with --keep-epochs, a writable folder with room, holding no other run's epoch files
    (their names would collide)."""
    from vizcore.core.io import check_writable
    from vizcore.lab.queue import dataset_num_classes
    from vizcore.train.disk import kept_epochs_bytes

    if not config.keep_epochs:
        raise CLIError(f"expected --keep-epochs E > 0 with --epochs-dir, got keep_epochs={config.keep_epochs}")
    if folder.exists() and not folder.is_dir():
        raise CLIError(f"expected --epochs-dir to be a folder, got {str(folder)!r} (a file)")
    taken = sorted(folder.glob("epoch_*.pt")) if folder.is_dir() else []
    if taken:
        raise CLIError(f"expected an --epochs-dir without epoch checkpoints, got {str(folder)!r} holding "
                       f"{len(taken)} (e.g. {taken[0].name}) from another run; choose a new folder")
    check_writable(folder, kept_epochs_bytes(config, dataset_num_classes(config.dataset)))


def _add_estimate(p: argparse.ArgumentParser) -> None:
    _add_train(p)
    p.add_argument("--ab", metavar="TRICK", help="estimate an A/B of this trick over --seeds seeds instead of one run")
    p.add_argument("--seeds", type=int, default=3, help="with --ab: seeds per arm (default 3)")


@command("estimate", "How long a run (or an --ab comparison) would take here, from the runs that finished here.",
         _add_estimate)
def run_estimate(args: argparse.Namespace) -> dict:
    from vizcore.lab import history

    config = _load_config(args)
    if args.ab is not None:
        from vizcore.lab import experiment as vexp

        if args.ab not in vexp.TRICKS:
            raise CLIError(f"expected --ab from {', '.join(vexp.TRICKS)}, got {args.ab!r}")
        if not 1 <= args.seeds <= vexp.MAX_SEEDS:
            raise CLIError(f"expected --seeds between 1 and {vexp.MAX_SEEDS}, got {args.seeds}")
        configs = [cfg for _, _, cfg in vexp.plan_ab(config, args.ab, args.seeds).runs()]
        planned = history.estimate_plan(configs, args.db)
        assert planned is not None  # calibrate=True always gives one
        est = planned
    else:
        configs = [config]
        found = history.estimate(config, args.db)
        assert found is not None  # calibrate=True always gives one
        est = found
    return {"runs": len(configs), "seconds": est.seconds, "low_s": est.low, "high_s": est.high,
            "text": est.text(), "source": est.source, "finished_runs_used": est.runs, "setup_s": est.setup_s,
            "train_s_per_epoch": est.train_s_per_epoch, "val_s_per_epoch": est.val_s_per_epoch,
            "tail_s": est.tail_s}


def _add_runs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--group", help="only runs of this group")
    p.add_argument("--db", type=Path, help="run store database (default: data dir/runs.sqlite)")
    p.add_argument("--metrics", metavar="RUN_ID", help="print this run's epoch metrics instead of the list")
    p.add_argument("--steps", action="store_true", help="with --metrics: per-step metrics")
    p.add_argument("--delete", metavar="RUN_ID", help="delete a finished run and its checkpoint")
    p.add_argument("--export", metavar="RUN_ID", help="print {config, metrics_csv} of a run")


@command("runs", "List stored training runs (or show one's metrics, export or delete it).", _add_runs)
def run_runs(args: argparse.Namespace) -> Any:
    from vizcore.lab.store import RunStore

    if args.db is not None and not args.db.exists():  # a listing never creates a store
        raise CLIError(f"expected an existing run store, got {str(args.db)!r} (no such file; `train --db` creates one)")
    store = RunStore(args.db, readonly=not args.delete)  # listings open the store read-only
    store.mark_interrupted()
    if args.metrics:
        if not store.exists(args.metrics):
            raise CLIError(f"expected a stored run id, got {args.metrics!r}")
        return store.metrics(args.metrics, "step" if args.steps else "epoch")
    if args.delete:
        store.delete(args.delete)
        return {"deleted": args.delete}
    if args.export:
        cfg, csv_text = store.export(args.export)
        return {"config": json.loads(cfg), "metrics_csv": csv_text}
    out = []
    for r in store.list(args.group):
        out.append({"id": r.id, "name": r.name, "group": r.group, "status": r.status, "message": r.message,
                    "model": r.config.model, "dataset": r.config.dataset, "epochs": r.config.epochs,
                    "epochs_done": r.epochs_done, "val_acc": r.val_acc, "best_val_acc": r.best_val_acc,
                    "created_at": r.created_at, "checkpoint": r.checkpoint, "kept_epochs": r.kept_epochs})
    for d in store.damaged_runs(args.group):  # listed, not hidden: the message says how to export or delete it
        out.append({"id": d.id, "name": d.name, "group": None, "status": "damaged", "message": d.message,
                    "created_at": d.created_at, "stored_status": d.status})
    return out


def _add_default(p: argparse.ArgumentParser) -> None:
    p.add_argument("--retrain", action="store_true",
                   help="train again from DEFAULT_CONFIG (reproduces the shipped checkpoint) even if one exists")
    p.add_argument("--ship", action="store_true",
                   help="also copy the result into vizcore/resources as the checkpoint shipped with ConvScope")
    p.add_argument("--model", default="small_cnn", choices=["small_cnn", "se_resnet_small"],
                   help="which default model: small_cnn (default) or se_resnet_small (for the SE Attention page)")


@command("default-model", "Build (or reuse) a default trained model: small_cnn (or se_resnet_small) on the embedded shapes.", _add_default)
def run_default(args: argparse.Namespace) -> dict:
    import time

    from vizcore.lab.default_model import DEFAULT_CONFIGS, default_model, shipped_path
    from vizcore.models.weights import checkpoint_meta

    last = [""]

    def progress(frac: float, text: str) -> None:
        last[0] = text
        if not args.json:
            sys.stderr.write(f"\r{100 * frac:5.1f}% {text[:100]:<100}")
            sys.stderr.flush()

    t = time.perf_counter()
    path = default_model(progress, retrain=args.retrain, model=args.model)
    if not args.json:
        sys.stderr.write("\n")
    if args.ship:
        from vizcore.core import io as vio
        shipped = shipped_path(args.model)
        vio.copy_file(path, shipped)
        vio.copy_file(Path(str(path) + ".json"), Path(str(shipped) + ".json"))
    meta = checkpoint_meta(path) or {}
    hist = meta.get("history") or []
    source = "cached" if "cached" in last[0] else "shipped" if "shipped" in last[0] else "trained"
    return {"checkpoint": str(path), "source": source, "model": meta.get("model"), "classes": meta.get("classes"),
            "val_acc": meta.get("val_acc"), "epochs": len(hist),
            "train_time_s": hist[-1]["elapsed_s"] if hist else None, "wall_s": time.perf_counter() - t,
            "config": DEFAULT_CONFIGS[args.model].to_dict()}
