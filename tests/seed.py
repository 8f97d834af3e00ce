"""A run store that already holds runs, written directly through :class:`vizcore.lab.store.RunStore` (no training).

Page tests and browser tests start from it as well as from an empty store: the defects of issue 9 (a crash when
any run exists, stale statuses) only showed with runs already there. Each seeded run looks like a real one:
config, status, per-step and per-epoch metrics (with images/s), a loadable checkpoint with its sidecar, an A/B
experiment over two seeds and a scaling experiment (Model tweaks & scaling page), both already finished.
"""
from __future__ import annotations

import functools
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from vizcore.lab.store import RunStore
from vizcore.train.config import TrainConfig

SEED_CONFIG = TrainConfig(model="small_cnn", dataset="shapes", train_size=256, val_size=64, image_size=32,
                          epochs=2, batch_size=32, lr=0.05, schedule="cosine")
IMAGES_PER_S = 1500.0  # the throughput the seeded runs record (per model and image size)
SETUP_S = 0.4  # seconds between "running" and the first step (data generation, model build)


@dataclass
class Seeded:
    """What :func:`seed_store` wrote."""

    data_dir: Path
    done: list[str] = field(default_factory=list)  # finished runs with a checkpoint
    cancelled: str = ""  # a run cancelled before any epoch
    experiment: str = ""  # an A/B experiment whose four runs are done
    ab_runs: list[str] = field(default_factory=list)
    scaling: str = ""  # a finished scaling experiment (efficientnet_s0 and s1, one seed each)
    scaling_runs: list[str] = field(default_factory=list)  # its runs, the newest runs of the store


@contextmanager
def _data_dir(d: Path):
    old = os.environ.get("CONVSCOPE_DATA_DIR")
    os.environ["CONVSCOPE_DATA_DIR"] = str(d)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("CONVSCOPE_DATA_DIR", None)
        else:
            os.environ["CONVSCOPE_DATA_DIR"] = old


@functools.lru_cache(maxsize=16)
def _seeded_model(name: str, seed: int):
    """The model a seeded run saves (built once per process and name/seed: only its weights are written, never
    changed)."""
    from vizcore.models import registry as zoo

    return zoo.build_model(name, num_classes=3, seed=seed)


def _finished_run(store: RunStore, cfg: TrainConfig, name: str, accs: list[float], group: str | None = None,
                  images_per_s: float = IMAGES_PER_S, start: float | None = None) -> str:
    """A run as the engine records it: steps and epochs with throughput, a checkpoint per epoch, then 'done'."""
    import time

    from vizcore.models.weights import save_checkpoint

    rid = store.create(cfg, name=name, group=group)
    store.set_status(rid, "running")
    spe = cfg.steps_per_epoch()
    n_img = spe * cfg.batch_size
    train_s = n_img / images_per_s
    val_s = cfg.val_size / (3 * images_per_s)
    store.set_info(rid, {"classes": ["circle", "square", "triangle"], "num_classes": 3, "device": "cpu",
                         "steps_per_epoch": spe, "params": 0, "notes": []})
    model = _seeded_model(cfg.model, cfg.seed)
    ckpt = store.checkpoint_path(rid)
    step = 0
    for epoch, acc in enumerate(accs, start=1):
        for _ in range(spe):
            step += 1
            if step % cfg.log_every == 0 or step % spe == 0:
                store.add_metric(rid, {"kind": "step", "step": step, "epoch": epoch, "loss": 1.5 / step,
                                       "lr": cfg.lr, "throughput": images_per_s})
        store.add_metric(rid, {"kind": "epoch", "epoch": epoch, "train_loss": 1.0 / epoch, "train_acc": acc,
                               "val_loss": 1.1 / epoch, "val_acc": acc, "lr": cfg.lr,
                               "time_s": train_s + val_s, "train_time_s": train_s, "images_per_s": images_per_s,
                               "elapsed_s": SETUP_S + epoch * (train_s + val_s)})
        save_checkpoint(model, ckpt, {"model": cfg.model, "num_classes": 3, "classes": ["circle", "square", "triangle"],
                                      "dataset": cfg.dataset, "image_size": cfg.image_size, "epoch": epoch,
                                      "run_id": rid, "val_acc": acc, "config": cfg.to_dict()})
        store.set_checkpoint(rid, ckpt)
    store.set_status(rid, "done", f"{len(accs)} epochs; val accuracy {100 * accs[-1]:.1f}%")
    # wall time as the engine would have taken it
    t0 = time.time() - 60 if start is None else start
    store._db.execute("UPDATE runs SET started_at=?, finished_at=? WHERE id=?",
                      (t0, t0 + SETUP_S + len(accs) * (train_s + val_s), rid))
    return rid


def seed_store(data_dir: str | Path, with_experiment: bool = True) -> Seeded:
    """Write finished runs (two plain, one cancelled) and, with ``with_experiment``, a finished A/B (2 seeds) and a
    finished scaling experiment (two members of the small EfficientNet family)."""
    import dataclasses

    from vizcore.lab import experiment as vexp

    d = Path(data_dir)
    d.mkdir(parents=True, exist_ok=True)
    out = Seeded(d)
    with _data_dir(d):
        store = RunStore(d / "runs.sqlite")
        try:
            out.done.append(_finished_run(store, SEED_CONFIG, "seeded baseline", [0.55, 0.71]))
            out.done.append(_finished_run(store, dataclasses.replace(SEED_CONFIG, seed=1), "seeded seed 1",
                                          [0.52, 0.68]))
            rid = store.create(SEED_CONFIG, name="seeded cancelled")
            store.set_status(rid, "running")
            store.set_status(rid, "cancelled", "cancelled in epoch 1 at step 2; no epoch completed, no checkpoint")
            out.cancelled = rid
            if with_experiment:
                plan = vexp.plan_ab(SEED_CONFIG, "label_smoothing", n_seeds=2)
                accs = {("label_smoothing off", 0): [0.60, 0.70], ("label_smoothing off", 1): [0.58, 0.74],
                        ("label_smoothing on", 0): [0.61, 0.72], ("label_smoothing on", 1): [0.60, 0.75]}
                exp_id = "5eed0ab000"
                group = f"{plan.name} #{exp_id}"
                ids = [_finished_run(store, cfg, f"{arm} · seed {seed}", accs[(arm, seed)], group=group)
                       for arm, seed, cfg in plan.runs()]
                exp = vexp.Experiment(exp_id, plan.name, [a.name for a in plan.arms],
                                      [{"arm": arm, "seed": seed, "run_id": r}
                                       for (arm, seed, _), r in zip(plan.runs(), ids)], kind="compare")
                exp.save()
                out.experiment, out.ab_runs = exp_id, ids
                fam = vexp.plan_scaling(dataclasses.replace(SEED_CONFIG, batch_size=64), [0, 1], n_seeds=1)
                exp_id, group = "5eed5ca1e0", f"{fam.name} #5eed5ca1e0"
                ids = [_finished_run(store, cfg, f"{arm} · seed {seed}", [0.40 + 0.1 * i, 0.62 + 0.1 * i], group=group,
                                     images_per_s=400.0) for i, (arm, seed, cfg) in enumerate(fam.runs())]
                vexp.Experiment(exp_id, fam.name, [a.name for a in fam.arms],
                                [{"arm": arm, "seed": seed, "run_id": r} for (arm, seed, _), r in zip(fam.runs(), ids)],
                                kind="scaling").save()
                out.scaling, out.scaling_runs = exp_id, ids
        finally:
            store.close()
    return out


# ---------------------------------------------------------------------------------------- a run that trains nothing

def stub_accuracy(cfg: TrainConfig, epoch: int) -> float:
    """The validation accuracy a :class:`StubRun` reports after ``epoch``: rises with the epoch, and the seed and
    every other config field move it by up to 5 points (a CRC of the config), so arms and seeds differ."""
    import json
    import zlib

    h = zlib.crc32(json.dumps(cfg.to_dict(), sort_keys=True, default=str).encode())
    return round(0.45 + 0.4 * epoch / max(cfg.epochs, 1) + (h % 101) / 2000, 4)


def _stub_run_class():
    from vizcore.train.engine import Run

    class StubRun(Run):
        """The engine's :class:`~vizcore.train.engine.Run` — its thread, statuses, cancel and events — with a
        ``_train`` that trains nothing: it emits what a real run emits (info, step events with throughput, one
        epoch event per epoch) with :func:`stub_accuracy`, and saves a real checkpoint of the untrained model after
        each epoch. Page tests use it so that the page, not training, is under test; real training is tested in
        tests/vizcore (engine, store, queue) and once in a browser (tests/e2e/test_flows.py)."""

        def _train(self):
            from vizcore.data.shapes import SHAPE_CLASSES
            from vizcore.models import registry as zoo
            from vizcore.train.data import load_data

            cfg = self.config
            if self._data is not None:
                classes = list(self._data[0].classes)
            elif cfg.dataset in ("shapes", "shapes_cue_conflict"):
                classes = list(SHAPE_CLASSES)
            else:
                classes = list(load_data(cfg)[0].classes)
            spe = cfg.steps_per_epoch()
            model = zoo.build_model(cfg.model, num_classes=len(classes), seed=cfg.seed)
            self.info.update({"classes": classes, "num_classes": len(classes), "device": "cpu",
                              "params": sum(p.numel() for p in model.parameters()), "steps_per_epoch": spe,
                              "notes": []})
            self._emit({"kind": "info", **self.info})
            step = 0
            for epoch in range(1, cfg.epochs + 1):
                for i in range(spe):
                    step += 1
                    if step % cfg.log_every == 0 or i == spe - 1:
                        ev = {"kind": "step", "step": step, "epoch": epoch, "loss": 2.0 / step, "lr": cfg.lr,
                              "throughput": IMAGES_PER_S}
                        self.last_step = ev
                        self._emit(ev)
                    if self._cancel.is_set():
                        return "cancelled", f"cancelled in epoch {epoch} at step {step}; " + self._keep_note(epoch)
                acc = stub_accuracy(cfg, epoch)
                train_s = spe * cfg.batch_size / IMAGES_PER_S
                ev = {"kind": "epoch", "epoch": epoch, "train_loss": 1.0 / epoch, "train_acc": acc,
                      "val_loss": 1.1 / epoch, "val_acc": acc, "lr": cfg.lr, "time_s": 1.25 * train_s,
                      "train_time_s": train_s, "images_per_s": IMAGES_PER_S,
                      "elapsed_s": SETUP_S + epoch * 1.25 * train_s}
                self.history.append(ev)
                self.epochs_done = epoch
                self._save(model, epoch)
                self._emit(ev)
            self.model = model.eval()
            return "done", f"{cfg.epochs} epochs (stub); val accuracy {100 * self.history[-1]['val_acc']:.1f}%"

    return StubRun


def stub_training(monkeypatch) -> None:
    """Every run the lab starts from now on (``RunStore.make_run``) is a :class:`StubRun`, recorded by the real
    store as the engine's runs are."""
    monkeypatch.setattr("vizcore.lab.store.Run", _stub_run_class())


# ---------------------------------------------------------------------------------------- few labels

FEW_SMALL = {"train_size": 140, "val_size": 20}  # K = 4: 40 labelled, a pool of 100 (a report scores it quickly)


def _few_run(store: RunStore, cfg: TrainConfig, accs: list[float], ssl: bool = False) -> str:
    """A finished run of the few-labels group with its epoch events (``ssl`` logs too) and a real checkpoint of an
    untrained model made overconfident."""
    from vizcore.lab import few_labels as fl
    from vizcore.models import registry as zoo
    from vizcore.models.weights import save_checkpoint

    rid = store.create(cfg, name=f"{cfg.ssl} seed {cfg.seed}", group=fl.GROUP)
    store.set_status(rid, "running")
    for e, acc in enumerate(accs, 1):
        ev: dict = {"kind": "epoch", "epoch": e, "val_acc": acc, "train_loss": 1.0, "val_loss": 1.0}
        if ssl:
            ev["ssl"] = {"pass_rate": 0.2 * e, "pseudo_label_accuracy": 0.5 + 0.1 * e, "threshold": 0.95,
                         "per_class_pass_rate": [0.1] * 10, "per_class_threshold": [0.95] * 10}
        store.add_metric(rid, ev)
    import torch

    from vizcore.data.shapes import make_shapes
    from vizcore.models.preprocess import for_model

    model = zoo.build_model(cfg.model, num_classes=10, seed=cfg.seed)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.momentum = None  # one pass sets the running statistics to the batch's
    with torch.no_grad():  # batch-norm statistics of real images, and a head sure of itself: confident (mostly
        model.train()(for_model(cfg.model).normalize(make_shapes(64, 32, cfg.seed).images.float() / 255))
        model.get_submodule(zoo.classifier_path(model)).weight.mul_(100)  # wrong) pseudo-labels at any τ
    for bn in bns:
        bn.momentum = 0.1
    ckpt = save_checkpoint(model, store.checkpoint_path(rid), {"model": cfg.model, "num_classes": 10})
    store.set_checkpoint(rid, ckpt)
    store.set_status(rid, "done", f"{len(accs)} epochs")
    return rid


def seed_few_labels(data_dir: str | Path) -> None:
    """Few-labels runs: supervised and FixMatch at 4 labels per class (seeds 0, 1), a teacher and one Noisy Student
    round (seed 2)."""
    from vizcore.lab import few_labels as fl

    d = Path(data_dir)
    d.mkdir(parents=True, exist_ok=True)
    with _data_dir(d):
        store = RunStore(d / "runs.sqlite")
        try:
            for seed in (0, 1):
                _few_run(store, fl.config_for(fl.FewLabelsSpec("supervised", 4, seed)), [0.30 + 0.04 * seed])
                _few_run(store, fl.config_for(fl.FewLabelsSpec("fixmatch", 4, seed), **FEW_SMALL),
                         [0.5, 0.7 + 0.02 * seed], ssl=True)
            teacher = _few_run(store, fl.config_for(fl.FewLabelsSpec("supervised", 4, 2)), [0.3])
            _few_run(store, fl.noisy_student_round(teacher, "fast_cnn", 4, 2, **FEW_SMALL), [0.35, 0.4], ssl=True)
        finally:
            store.close()
