"""Learning from few labels: the label-efficiency experiment, its recipe per method, and Noisy Student rounds.

A label budget of K images per class (:attr:`vizcore.train.config.TrainConfig.labelled_per_class`) turns the rest
of the training pool into unlabelled images. Each method of the comparison is one config of the same recipe
(same model, pool, steps and validation images), so a curve of validation accuracy against K compares them
at equal cost: supervised, + augmentation (RandAugment), + transfer (fine-tuned from a model trained on another
embedded task), + distillation (Hinton et al., 2015, from a teacher trained on the same labels), pseudo-labels
(Lee 2013), Noisy Student (Xie et al., CVPR 2020) and FixMatch (Sohn et al., NeurIPS 2020). USB (Wang et al.,
*USB: A Unified Semi-supervised Learning Benchmark*, NeurIPS 2022) gives the target picture on CIFAR-10 with
40 labels (:data:`USB_CIFAR10_40`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vizcore.train.config import TrainConfig
from vizcore.train.ssl import invariant_strong_pipeline

if TYPE_CHECKING:
    import torch

    from vizcore.inspect.pseudo_labels import PseudoLabelReport

GROUP = "few-labels"  # the run-store group of the label-efficiency runs
METHODS: tuple[str, ...] = ("supervised", "augment", "transfer", "distill", "pseudo_label", "noisy_student",
                            "fixmatch")
METHOD_TITLES = {"supervised": "Supervised", "augment": "+ augmentation", "transfer": "+ transfer",
                 "distill": "+ distillation", "pseudo_label": "Pseudo-label", "noisy_student": "Noisy Student",
                 "fixmatch": "FixMatch"}
LABEL_BUDGETS: tuple[int | None, ...] = (1, 4, 25, 100, None)  # None: every label
POOL_SIZE = 4000  # unlabelled images of the shapes pool
SOURCE_DATASET = "digits"  # the other embedded task a transfer source is trained on
# Error rates (%) on CIFAR-10 with 40 labels in USB's classic-CV setting (Wang et al., 2022).
USB_CIFAR10_40 = {"supervised": 77.6, "pseudo_label": 76.3, "fixmatch": 8.3}

# The shared recipe (fast_cnn at 32 px, 2 CPU cores): B labelled + μ·B unlabelled images a step, an epoch is a
# pass over the 4,000-image pool (35 steps). With 4 labels per class on shapes (bench/few_labels.py, seeds 0-2,
# one core each): supervised 30.7 ± 5.0%, FixMatch 49.3 ± 34.0% (61.1, 52.6, 34.3; 265-273 CPU s a run, about
# 2.3 min on 2 cores), +18.7 points; with RandAugment + Cutout as the strong view and 20 epochs it was 28.2% against
# 38.3% (seed 0 on one core: 28.8%). FixMatch's τ = 0.9 (FIXMATCH_TAU) instead of 0.95: 53.9 ± 29.9% (62.0, 59.7,
# 40.1; 248-253 CPU s), +23.3 points over supervised, every seed above τ = 0.95's.
RECIPE: dict[str, Any] = {
    "model": "fast_cnn", "image_size": 32, "val_size": 1000, "batch_size": 16, "ssl_mu": 7, "epochs": 32,
    "lr": 0.03, "warmup_epochs": 0.5, "ssl_tau": 0.95, "time_budget_s": 7200.0, "log_every": 10,
    "augment": "flip_crop",  # every method's labelled images get FixMatch's weak view: the gaps are the methods'
}
# The strong view of FixMatch and Noisy Student (FewLabelsSpec.strong): "invariant" is the shapes' own nuisances
# (any angle, any colour; :func:`vizcore.train.ssl.invariant_strong_pipeline`) in place of RandAugment, whose
# Equalize turns the shapes' background grain into a class's texture; "randaugment" is the paper's RandAugment +
# Cutout. "auto": invariant on the embedded shapes, RandAugment on an image folder (whose classes may depend on
# orientation or colour: a 6 is a 9 upside down).
STRONG_VIEWS: tuple[str, ...] = ("auto", "randaugment", "invariant")


FIXMATCH_TAU = 0.9  # FixMatch's confidence threshold in this recipe: more pseudo-labels pass early in a short run


def train_size_for(k: int | None, num_classes: int = 10, pool: int = POOL_SIZE) -> int:
    """Training images to draw so that K per class stay labelled and ``pool`` become unlabelled."""
    return (k or 0) * num_classes + pool if k is not None else pool


@dataclass(frozen=True)
class FewLabelsSpec:
    """One cell of the experiment: a method at a label budget with a seed."""

    method: str  # one of METHODS
    k: int | None  # labels per class; None = every label
    seed: int = 0
    dataset: str = "shapes"
    data_root: str | None = None
    source: str | None = None  # transfer: a run id or checkpoint of the same model trained on another task
    teacher: str | None = None  # distill / noisy_student: the teacher's run id or checkpoint (see prerequisite)
    strong: str = "auto"  # the strong view of FixMatch and Noisy Student, one of STRONG_VIEWS

    def __post_init__(self) -> None:
        if self.strong not in STRONG_VIEWS:
            raise ValueError(f"expected a strong view from {', '.join(STRONG_VIEWS)}, got {self.strong!r}")
        if self.method not in METHODS:
            raise ValueError(f"expected a method from {', '.join(METHODS)}, got {self.method!r}")
        if self.k is not None and (isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1):
            raise ValueError(f"expected labels per class of at least 1 (or None for all), got {self.k!r}")
        if self.method in ("pseudo_label", "noisy_student", "fixmatch") and self.k is None and self.dataset != "folder":
            raise ValueError(f"expected a label budget for {self.method!r} (with every label there is no "
                             "unlabelled pool), got all labels")


def config_for(spec: FewLabelsSpec, **overrides: Any) -> TrainConfig:
    """The :class:`TrainConfig` of a cell: the shared :data:`RECIPE` plus the method's own fields."""
    if spec.method == "transfer" and not spec.source:
        raise ValueError("expected a transfer source (a run id or checkpoint) for method 'transfer', got none")
    if spec.method in ("distill", "noisy_student") and not spec.teacher:
        raise ValueError(f"expected a teacher (a run id or checkpoint) for method {spec.method!r}, got none")
    fields: dict[str, Any] = {**RECIPE, "dataset": spec.dataset, "data_root": spec.data_root, "seed": spec.seed,
                              "labelled_per_class": spec.k, "train_size": train_size_for(spec.k)}
    m = spec.method
    if m == "augment":
        fields["augment"] = "randaugment"
    elif m == "transfer":
        fields.update(transfer="finetune", transfer_from=spec.source)
    elif m == "distill":
        fields.update(distill_teacher=spec.teacher)
    elif m == "pseudo_label":
        fields.update(ssl=m)
    elif m == "fixmatch":  # with ReMixMatch's distribution alignment: without it, 26% against supervised's 28%
        fields.update(ssl=m, ssl_align=True, ssl_tau=FIXMATCH_TAU)
    elif m == "noisy_student":
        fields.update(ssl="noisy_student", distill_teacher=spec.teacher, ssl_tau=0.7,
                      ssl_soft=True)
    if m in ("fixmatch", "noisy_student") and strong_view(spec) == "invariant":
        fields["ssl_strong_pipeline"] = invariant_strong_pipeline(int(RECIPE["image_size"])).to_json(None)
    if spec.k is None and m in ("supervised", "augment", "transfer", "distill"):
        fields["labelled_per_class"] = None
        fields["train_size"] = POOL_SIZE
    fields.update(overrides)
    return TrainConfig.from_dict(fields)


def strong_view(spec: FewLabelsSpec) -> str:
    """The strong view a cell uses: ``spec.strong``, or for "auto" invariant on shapes and RandAugment elsewhere."""
    if spec.strong != "auto":
        return spec.strong
    return "invariant" if spec.dataset == "shapes" else "randaugment"


def with_fields(config: TrainConfig, **changes: Any) -> TrainConfig:
    """``config`` with some fields changed (validated again)."""
    return dataclasses.replace(config, **changes)


def source_config(seed: int = 0, **overrides: Any) -> TrainConfig:
    """A transfer source: the recipe's model trained on every label of another embedded task
    (:data:`SOURCE_DATASET`, grey digits shown as 3 channels by the model's input)."""
    return TrainConfig.from_dict({**RECIPE, "dataset": SOURCE_DATASET, "train_size": 1200, "val_size": 250,
                                  "epochs": 8, "batch_size": 64, "seed": seed, **overrides})


def run_name(spec: FewLabelsSpec) -> str:
    return f"{METHOD_TITLES[spec.method]}, {'all' if spec.k is None else spec.k} labels/class, seed {spec.seed}"


def noisy_student_round(teacher: str, teacher_model: str, k: int | None, seed: int = 0, grow: bool = False,
                        dataset: str = "shapes", data_root: str | None = None, **overrides: Any) -> TrainConfig:
    """One Noisy Student round: a student of ``teacher_model``'s size (or the next larger with ``grow``)
    learning the teacher's pseudo-labels with noise, on the teacher's data. The teacher is the previous round's
    run."""
    model = next_larger(teacher_model) if grow else teacher_model
    spec = FewLabelsSpec("noisy_student", k, seed, dataset, data_root, teacher=teacher)
    return config_for(spec, model=model, **overrides)


GROWTH = ("fast_cnn", "small_cnn", "se_resnet_small")  # small to larger models at 32 px


def next_larger(model: str) -> str:
    """The next larger model of :data:`GROWTH` (the same model at the end of it or outside it)."""
    if model in GROWTH[:-1]:
        return GROWTH[GROWTH.index(model) + 1]
    return model


def cell_of(config: dict[str, Any]) -> tuple[str, int | None] | None:
    """(method, labels per class) of a stored config, or None when it is not one of the experiment's cells."""
    ssl = config.get("ssl", "none")
    if ssl != "none":
        method = ssl
    elif config.get("transfer", "none") != "none":
        method = "transfer"
    elif config.get("distill_teacher"):
        method = "distill"
    elif config.get("augment") == "randaugment":
        method = "augment"
    else:
        method = "supervised"
    return method, config.get("labelled_per_class")


def curve_rows(records: Sequence[Any]) -> list[dict[str, Any]]:
    """One row per finished run of the experiment: method, k (labels per class, None = all), seed, val_acc (%),
    run_id, model; ``records`` are run-store records (``config``, ``status``, ``val_acc``). Noisy Student counts
    its first round (a student of a teacher that is not itself a student)."""
    rows = []
    later_rounds = {r.id for r in records if r.config.ssl == "noisy_student"}  # students that may teach again
    for rec in records:
        if rec.status != "done" or rec.val_acc is None:
            continue
        cfg = rec.config.to_dict() if hasattr(rec.config, "to_dict") else dict(rec.config)
        cell = cell_of(cfg)
        if cell is None or (cell[0] == "noisy_student" and cfg.get("distill_teacher") in later_rounds):
            continue  # a Noisy Student cell is its first round; later rounds have their own figure
        rows.append({"method": cell[0], "k": cell[1], "seed": cfg.get("seed", 0), "val_acc": 100 * rec.val_acc,
                     "run_id": rec.id, "model": cfg.get("model")})
    return rows


def summarize_curve(rows: Sequence[dict[str, Any]], confidence: float = 0.95) -> list[dict[str, Any]]:
    """Mean and t-interval of validation accuracy (%) per (method, k), over seeds."""
    from vizcore.lab.stats import mean_interval

    cells: dict[tuple[str, int | None], list[float]] = {}
    for r in rows:
        cells.setdefault((r["method"], r["k"]), []).append(float(r["val_acc"]))
    out = []
    for (method, k), vals in sorted(cells.items(), key=lambda kv: (METHODS.index(kv[0][0]) if kv[0][0] in METHODS
                                                                   else 99, kv[0][1] or 10**9)):
        iv = mean_interval(vals, confidence, bounds=(0.0, 100.0))
        out.append({"method": method, "k": k, "n": iv.n, "mean": iv.mean, "low": iv.low, "high": iv.high,
                    "text": iv.text(1)})
    return out


def prerequisite(store: Any, spec: FewLabelsSpec) -> tuple[FewLabelsSpec, TrainConfig | None]:
    """The cell with its source or teacher filled in from the store, and the config still to train first (None
    when nothing is missing). Transfer starts from :func:`source_config`'s run; distillation and a first Noisy
    Student round from the supervised run at the same labels per class and seed."""
    if spec.method == "transfer" and not spec.source:
        need = source_config(spec.seed)
        found = store.find_done(need)
        return (dataclasses.replace(spec, source=found), None) if found else (spec, need)
    if spec.method in ("distill", "noisy_student") and not spec.teacher:
        need = config_for(FewLabelsSpec("supervised", spec.k, spec.seed, spec.dataset, spec.data_root))
        found = store.find_done(need)
        return (dataclasses.replace(spec, teacher=found), None) if found else (spec, need)
    return spec, None


def noisy_student_rounds(records: Sequence[Any]) -> list[list[dict[str, Any]]]:
    """Chains of Noisy Student rounds among stored runs: each chain starts at a teacher (round 0) and follows
    each student whose ``distill_teacher`` is the previous round's run. Each item: round, run_id, model,
    val_acc (%), status."""
    by_id = {r.id: r for r in records}
    students: dict[str, list[Any]] = {}
    for r in records:
        if r.config.ssl == "noisy_student" and r.config.distill_teacher:
            students.setdefault(r.config.distill_teacher, []).append(r)

    def item(r: Any, rnd: int) -> dict[str, Any]:
        return {"round": rnd, "run_id": r.id, "model": r.config.model, "status": r.status,
                "val_acc": None if r.val_acc is None else 100 * r.val_acc, "k": r.config.labelled_per_class,
                "seed": r.config.seed, "dataset": r.config.dataset, "data_root": r.config.data_root}

    chains = []
    for teacher_id, kids in students.items():
        teacher = by_id.get(teacher_id)
        if teacher is None or teacher.config.ssl == "noisy_student":
            continue  # a later round: reached from its chain's start
        for kid in kids:
            chain, cur, rnd = [item(teacher, 0)], kid, 1
            while cur is not None and rnd <= 50:
                chain.append(item(cur, rnd))
                nxt = students.get(cur.id, [])
                cur, rnd = (nxt[0] if nxt else None), rnd + 1
            chains.append(chain)
    return chains


def run_pool(config: Any) -> tuple[torch.Tensor, torch.Tensor | None, list[str]]:
    """A run's unlabelled pool as it trained on it (same data seed, same split): (images (N, C, H, W) uint8,
    hidden labels (N,) or None when unknown, classes). ValueError for a run without a pool."""
    import torch

    from vizcore.inspect.pseudo_labels import MAX_POOL
    from vizcore.train.data import load_data, split_pool, to_tensor_data, uses_pool

    if not uses_pool(config):
        raise ValueError("expected a run with a label budget or a semi-supervised method, got one trained on "
                         "every label (it has no unlabelled pool)")
    train, _ = load_data(config)
    train = to_tensor_data(train)
    _, pool, hidden = split_pool(config, train)
    if pool is None or len(pool) == 0:
        raise ValueError("expected a run with an unlabelled pool, got one whose pool is empty")
    images = pool.images
    h = hidden.labels if hidden is not None and hidden.known else None
    if len(images) > MAX_POOL:
        pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:MAX_POOL].sort().values
        images, h = images[pick], None if h is None else h[pick]
    return images, h, list(train.classes)


def run_report(store: Any, run_id: str, tau: float | None = None, gallery: int = 12) -> PseudoLabelReport:
    """:func:`vizcore.inspect.pseudo_labels.report` for a stored run: its final weights on its own pool, at its τ unless ``tau`` is given."""
    from vizcore.inspect.pseudo_labels import report
    from vizcore.models.weights import load_model

    rec = store.get(run_id)
    path, _ = store.resolve(run_id)
    cfg = rec.config
    images, hidden, classes = run_pool(cfg)
    model = load_model(cfg.model, str(path))  # classes and architecture from the checkpoint's sidecar
    return report(model, cfg.model, images, hidden, classes, cfg.ssl_tau if tau is None else tau, gallery)
