"""An experiment: a few training configurations ("arms"), each repeated over seeds, and their comparison.

The Bag of Tricks paper (He et al., CVPR 2019) measures each trick by adding it to a baseline; this module
plans the same on a small scale — the same config with one trick toggled (A/B) or a small grid of tricks —
repeats every arm over several seeds (Bouthillier et al., "Accounting for Variance in Machine Learning
Benchmarks", MLSys 2021: one seed per arm cannot separate a trick from noise) and summarises finished runs with
:mod:`vizcore.lab.results`.

Experiments are plain JSON files (``<data dir>/experiments/<id>.json``) naming the run ids of each arm and seed;
the runs themselves live in the run store (:mod:`vizcore.lab.store`).
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vizcore.core import io as vio
from vizcore.core import paths
from vizcore.train.config import ROBUST_EVAL_DEFAULT, TrainConfig

MAX_ARMS = 16  # a sweep of 4 tricks (vizcore.lab.sweep); more would not finish in a class hour on a CPU
MAX_SEEDS = 10  # repeats per arm
DEFAULT_SEEDS = 3  # the fewest that gives a t-interval with some width


@dataclass(frozen=True)
class Trick:
    """A trick that can be toggled on a config: what "off" and "on" set, and its Bag of Tricks reference."""

    key: str  # lab key, e.g. "cosine"
    label: str  # human name
    group: str  # the paper's grouping: efficient training, model tweaks, training refinements, ...
    off: Callable[[TrainConfig], dict[str, Any]]  # field overrides that turn it off
    on: Callable[[TrainConfig], dict[str, Any]]  # field overrides that turn it on (keeping the base's value)
    is_on: Callable[[TrainConfig], bool]  # whether a config uses it
    reference: str | None = None  # key in vizcore.lab.reference (published delta), None when the paper has none


def _keep(value: Any, default: Any) -> Any:
    return value if value else default


def _tweak(form: str) -> Trick:
    """Bag of Tricks §4 on the small bottleneck ResNet: form A (off) against ``form`` (on)."""
    model = f"resnet_small_{form}"
    return Trick(f"resnet_{form}", f"ResNet-{form.upper()} tweak (vs ResNet-A; small bottleneck ResNet)",
                 "model tweaks", lambda c: {"model": "resnet_small_a"}, lambda c: {"model": model},
                 lambda c: c.model == model, f"resnet_{form}")


TRICKS: dict[str, Trick] = {t.key: t for t in (
    Trick("linear_scaling", "linear LR scaling (lr·b/256)", "efficient training",
          lambda c: {"linear_scaling": False}, lambda c: {"linear_scaling": True}, lambda c: c.linear_scaling),
    Trick("warmup", "LR warmup", "efficient training",
          lambda c: {"warmup_epochs": 0.0},
          lambda c: {"warmup_epochs": _keep(c.warmup_epochs, min(1.0, float(c.epochs)))},
          lambda c: c.warmup_epochs > 0, "warmup"),
    Trick("zero_gamma", "zero γ in the last BN of residual blocks", "efficient training",
          lambda c: {"zero_gamma": False}, lambda c: {"zero_gamma": True}, lambda c: c.zero_gamma, "zero_gamma"),
    Trick("no_bias_decay", "no bias decay", "efficient training",
          lambda c: {"no_bias_decay": False}, lambda c: {"no_bias_decay": True}, lambda c: c.no_bias_decay,
          "no_bias_decay"),
    Trick("whiten_stem", "whitened, frozen first conv (airbench)", "efficient training",
          lambda c: {"whiten_stem": False}, lambda c: {"whiten_stem": True}, lambda c: c.whiten_stem),
    Trick("channels_last", "channels_last memory format", "efficient training",
          lambda c: {"channels_last": False}, lambda c: {"channels_last": True}, lambda c: c.channels_last),
    Trick("mixed_precision", "mixed precision (bf16/fp16)", "efficient training",
          lambda c: {"precision": "fp32"}, lambda c: {"precision": c.precision if c.precision != "fp32" else "bf16"},
          lambda c: c.precision != "fp32", "fp16"),
    Trick("cosine", "cosine LR decay (vs step decay)", "training refinements",
          lambda c: {"schedule": "step"}, lambda c: {"schedule": "cosine"}, lambda c: c.schedule == "cosine",
          "cosine"),
    Trick("label_smoothing", "label smoothing", "training refinements",
          lambda c: {"label_smoothing": 0.0}, lambda c: {"label_smoothing": _keep(c.label_smoothing, 0.1)},
          lambda c: c.label_smoothing > 0, "label_smoothing"),
    Trick("tta_flip", "flip test-time augmentation (airbench)", "training refinements",
          lambda c: {"tta_flip": False}, lambda c: {"tta_flip": True}, lambda c: c.tta_flip),
    Trick("mixup", "mixup", "training refinements",
          lambda c: {"mixup_alpha": 0.0}, lambda c: {"mixup_alpha": _keep(c.mixup_alpha, 0.2)},
          lambda c: c.mixup_alpha > 0, "mixup"),
    Trick("cutmix", "cutmix", "data augmentation",
          lambda c: {"cutmix_alpha": 0.0}, lambda c: {"cutmix_alpha": _keep(c.cutmix_alpha, 1.0)},
          lambda c: c.cutmix_alpha > 0),
    Trick("augment", "data augmentation preset", "data augmentation",
          lambda c: {"augment": "none"}, lambda c: {"augment": c.augment if c.augment != "none" else "flip_crop"},
          lambda c: c.augment != "none"),
    *(_tweak(f) for f in ("b", "c", "d")),
    Trick("adv_train", "adversarial training (FGSM-RS; both arms attacked with PGD-10 each epoch)",
          "robustness",
          lambda c: {"adv_train": "none", "robust_eval": c.robust_eval or ROBUST_EVAL_DEFAULT},
          lambda c: {"adv_train": c.adv_train if c.adv_train != "none" else "fgsm_rs",
                     "robust_eval": c.robust_eval or ROBUST_EVAL_DEFAULT},
          lambda c: c.adv_train != "none"),
    Trick("distillation", "knowledge distillation", "knowledge distillation",
          lambda c: {"distill_teacher": None}, lambda c: {"distill_teacher": _need_teacher(c)},
          lambda c: c.distill_teacher is not None, "distillation"),
)}


def _need_teacher(c: TrainConfig) -> str:
    if not c.distill_teacher:
        raise ValueError("expected a teacher run or checkpoint to toggle distillation, got none "
                         "(choose a finished run as the teacher first)")
    return c.distill_teacher


def _trick(key: str) -> Trick:
    if key not in TRICKS:
        raise ValueError(f"expected a trick from {', '.join(TRICKS)}, got {key!r}")
    return TRICKS[key]


def with_trick(config: TrainConfig, key: str, on: bool) -> TrainConfig:
    """``config`` with trick ``key`` turned on (keeping the config's own setting when it has one) or off."""
    t = _trick(key)
    return dataclasses.replace(config, **(t.on(config) if on else t.off(config)))


@dataclass(frozen=True)
class Arm:
    """One configuration of an experiment (its seed is set per run)."""

    name: str  # "cosine off", "cosine on + label smoothing on" ...
    config: TrainConfig  # the config, seed field ignored (each run gets its own)
    tricks: tuple[tuple[str, bool], ...] = ()  # (trick key, on?) that define this arm


@dataclass(frozen=True)
class Plan:
    """Arms × seeds to run, baseline first."""

    name: str  # shown to the user
    arms: tuple[Arm, ...]  # the first is the baseline the others are compared to
    seeds: tuple[int, ...]  # the seeds every arm runs with (same seeds: paired comparisons)

    def __post_init__(self) -> None:
        if not 1 <= len(self.arms) <= MAX_ARMS:
            raise ValueError(f"expected 1 to {MAX_ARMS} configurations, got {len(self.arms)}")
        if not 1 <= len(self.seeds) <= MAX_SEEDS:
            raise ValueError(f"expected 1 to {MAX_SEEDS} seeds, got {len(self.seeds)}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"expected distinct seeds, got {list(self.seeds)}")
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"expected distinct configuration names, got {names}")

    def runs(self) -> list[tuple[str, int, TrainConfig]]:
        """(arm name, seed, config with that seed) for every run, seed-major so early results cover all arms."""
        return [(a.name, s, dataclasses.replace(a.config, seed=s)) for s in self.seeds for a in self.arms]


def _seeds(n_seeds: int, first_seed: int) -> tuple[int, ...]:
    if not isinstance(n_seeds, int) or not 1 <= n_seeds <= MAX_SEEDS:
        raise ValueError(f"expected 1 to {MAX_SEEDS} seeds, got {n_seeds!r}")
    return tuple(range(first_seed, first_seed + n_seeds))


def plan_ab(base: TrainConfig, trick: str, n_seeds: int = DEFAULT_SEEDS, first_seed: int = 0) -> Plan:
    """A/B: ``base`` with ``trick`` off (A, the baseline) and on (B), each over ``n_seeds`` seeds."""
    t = _trick(trick)
    a = Arm(f"{t.key} off", with_trick(base, trick, False), ((trick, False),))
    b = Arm(f"{t.key} on", with_trick(base, trick, True), ((trick, True),))
    return Plan(f"A/B: {t.label}", (a, b), _seeds(n_seeds, first_seed))


def plan_grid(base: TrainConfig, tricks: Sequence[str], n_seeds: int = DEFAULT_SEEDS, first_seed: int = 0) -> Plan:
    """Every on/off combination of ``tricks`` (at most 3: 8 arms), all off first, each over ``n_seeds``."""
    keys = list(dict.fromkeys(tricks))
    if not 1 <= len(keys) <= 3:
        raise ValueError(f"expected 1 to 3 distinct tricks for a grid, got {len(keys)}")
    arms = []
    for combo in itertools.product((False, True), repeat=len(keys)):
        cfg = base
        for k, on in zip(keys, combo):
            cfg = with_trick(cfg, k, on)
        on_keys = [k for k, on in zip(keys, combo) if on]
        arms.append(Arm("baseline" if not on_keys else " + ".join(on_keys), cfg, tuple(zip(keys, combo))))
    return Plan(f"grid: {', '.join(keys)}", tuple(arms), _seeds(n_seeds, first_seed))


def plan_shape_texture(base: TrainConfig, n_seeds: int = DEFAULT_SEEDS, first_seed: int = 0,
                       heavy: str = "trivialaugment") -> Plan:
    """Shape-vs-texture experiment (Geirhos et al., ICLR 2019): ``base`` trained on the embedded shapes with
    no augmentation and with a heavier augmentation preset (default TrivialAugment), each over ``n_seeds``.

    Shape bias is then measured on the cue-conflict set (:func:`vizcore.inspect.shape_bias.shape_bias_of_checkpoint`).
    Mixing tricks are switched off in both arms so augmentation is the only difference.
    """
    if heavy == "none":
        raise ValueError("expected a heavier augmentation preset than 'none' for the second arm, got 'none'")
    shapes = dataclasses.replace(base, dataset="shapes", transfer="none", transfer_from=None, distill_teacher=None,
                                 mixup_alpha=0.0, cutmix_alpha=0.0, augment_pipeline=None)  # the arms' presets decide
    plain = Arm("no augmentation", dataclasses.replace(shapes, augment="none"))
    strong = Arm(f"{heavy} augmentation", dataclasses.replace(shapes, augment=heavy))  # type: ignore[arg-type]  # checked above
    return Plan("shape vs texture", (plain, strong), _seeds(n_seeds, first_seed))


def plan_scaling(base: TrainConfig, phis: Sequence[int] = (0, 1, 2), n_seeds: int = 1, first_seed: int = 0) -> Plan:
    """Compound scaling on the embedded data (Tan & Le, 2019): ``base`` trained as each ``efficientnet_s<φ>``, each
    at its own resolution (32 · γ^φ px), over ``n_seeds`` seeds; the first φ is the baseline.

    Transfer and distillation are switched off (they would bring in weights of another size), and so is the
    whitened stem (the fast recipe's initialisation for its 2x2 stem): every member starts from torchvision's
    own EfficientNet initialisation, so the arms differ only in depth, width and resolution.
    """
    from vizcore.models.efficientnet_small import FAMILY_PHIS, small_scale

    keys = list(dict.fromkeys(phis))
    if not keys or any(p not in FAMILY_PHIS for p in keys):
        raise ValueError(f"expected one or more φ from {', '.join(map(str, FAMILY_PHIS))}, got {list(phis)!r}")
    plain = dataclasses.replace(base, transfer="none", transfer_from=None, distill_teacher=None, whiten_stem=False)
    arms = []
    for phi in sorted(keys):
        s = small_scale(phi)
        arms.append(Arm(f"φ={phi} ({s.resolution} px)", dataclasses.replace(plain, model=s.name, image_size=s.resolution)))
    return Plan(f"scaling: φ = {', '.join(map(str, sorted(keys)))}", tuple(arms), _seeds(n_seeds, first_seed))


# ---------------------------------------------------------------------------------------- stored experiments


def _dir() -> Path:
    return paths.sub_dir("experiments")


@dataclass
class Experiment:
    """A plan whose runs were submitted: run ids per (arm, seed)."""

    id: str  # file name stem
    name: str  # the plan's name
    arms: list[str]  # arm names, baseline first
    runs: list[dict[str, Any]]  # {"arm", "seed", "run_id"}
    created: float = field(default_factory=time.time)  # unix time
    kind: str = "compare"  # "compare", "shape_bias" or "scaling"
    # how it was asked for, to show it again as it was queued (a reload, a second tab): the base config
    # ("base", TrainConfig fields) and the design ("design": "A/B" or "grid", "tricks", "n_seeds", "first_seed")
    form: dict[str, Any] = field(default_factory=dict)

    def save(self) -> Path:
        return vio.write_text(_dir() / f"{self.id}.json", json.dumps(dataclasses.asdict(self), indent=1))

    def run_ids(self) -> list[str]:
        return [r["run_id"] for r in self.runs]


def new_experiment(plan: Plan, run_ids: Sequence[str], kind: str = "compare") -> Experiment:
    """Record that ``plan``'s runs (in :meth:`Plan.runs` order) were submitted as ``run_ids``."""
    planned = plan.runs()
    if len(run_ids) != len(planned):
        raise ValueError(f"expected {len(planned)} run ids, got {len(run_ids)}")
    exp = Experiment(uuid.uuid4().hex[:10], plan.name, [a.name for a in plan.arms],
                     [{"arm": arm, "seed": seed, "run_id": rid} for (arm, seed, _), rid in zip(planned, run_ids)],
                     kind=kind)
    exp.save()
    return exp


def list_experiments() -> list[Experiment]:
    """Stored experiments, newest first; unreadable files are skipped."""
    out = []
    for p in _dir().glob("*.json"):
        try:
            out.append(Experiment(**json.loads(p.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(out, key=lambda e: e.created, reverse=True)


def get_experiment(exp_id: str) -> Experiment:
    if not re.fullmatch(r"[0-9a-f]{1,32}", str(exp_id)):
        raise ValueError(f"expected an experiment id of hex digits, got {exp_id!r}")
    p = _dir() / f"{exp_id}.json"
    if not p.is_file():
        raise ValueError(f"expected a stored experiment id, got {exp_id!r}")
    return Experiment(**json.loads(p.read_text()))


def delete_experiment(exp_id: str) -> None:
    get_experiment(exp_id)
    (_dir() / f"{exp_id}.json").unlink()


# ---------------------------------------------------------------------------------------- lab wiring


def submit_plan(lab: Any, plan: Plan, kind: str = "compare", data: tuple[Any, Any] | None = None,
                form: dict[str, Any] | None = None, reuse: bool = False) -> Experiment:
    """Queue every run of ``plan`` in ``lab`` (a :class:`vizcore.lab.queue.Lab`) and record the experiment.

    Each run is named "<arm> · seed <s>" and grouped under the plan's name and experiment id, so the run list
    shows which experiment it belongs to. Configs are checked by the lab before anything is queued: a config
    refused by its budget raises ValueError and queues nothing. ``data`` overrides loading (tests). ``form``: how
    it was asked for (:attr:`Experiment.form`), kept with it. ``reuse``: a run identical to a finished one (same
    config and seed) is not trained again; the experiment names the finished run.
    """
    from vizcore.lab import history
    from vizcore.train.preflight import preflight

    runs = plan.runs()
    past = history.past_runs(getattr(getattr(lab, "store", None), "path", None))
    for _, _, cfg in runs[: len(plan.arms)]:  # one seed per arm is enough: budgets do not depend on the seed
        preflight(cfg, _num_classes(cfg, data), past)
    exp_id = uuid.uuid4().hex[:10]
    group = f"{plan.name} #{exp_id}"
    ids = [lab.submit(cfg, name=f"{arm} · seed {seed}", group=group, data=data, **({"reuse": True} if reuse else {}))
           for arm, seed, cfg in runs]
    exp = Experiment(exp_id, plan.name, [a.name for a in plan.arms],
                     [{"arm": arm, "seed": seed, "run_id": rid} for (arm, seed, _), rid in zip(runs, ids)], kind=kind,
                     form=dict(form or {}))
    exp.save()
    return exp


def _num_classes(cfg: TrainConfig, data: tuple[Any, Any] | None) -> int:
    if data is not None:
        return len(data[0].classes)
    from vizcore.data import datasets as vdata

    info = vdata.DATASETS.get(cfg.dataset)
    return int(info.num_classes) if info is not None and info.num_classes else 10
