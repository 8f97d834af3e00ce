"""Published reference numbers: the Bag of Tricks paper's ImageNet accuracy tables, as per-trick deltas.

He, Zhang, Zhang, Zhang, Xie, Li. "Bag of Tricks for Image Classification with Convolutional Neural Networks".
CVPR 2019 (arXiv:1812.01187). Its tables add tricks one after another, so the published effect of a trick is
the difference between a row and the row before it (e.g. Table 6, ResNet-50-D: "+ cosine decay" 77.73 minus
"efficient baseline" 77.26 = +0.47 points). The figures ship inside the package
(``vizcore/resources/bag_of_tricks.json``) as one record per figure: table, row, column, value, a status
(``verified`` against the paper's table, or ``unverified``) and the source it was checked against. Every delta
carries its table number, rows and status so a reader can check it.

They are ImageNet-scale numbers (1.28 M images, 1000 classes, ResNet-50 for 120 epochs): a lab run on a small
data set can show a different effect, and usually a noisier one.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

SCALE_NOTE = (
    "The paper's deltas are ImageNet top-1 accuracy (1.28 M images, 1000 classes, 120 epochs of ResNet-50); "
    "a small data set trained for a few epochs can show a different effect, often a noisier one."
)


@lru_cache(maxsize=1)
def _raw() -> str:
    return resources.files("vizcore").joinpath("resources/bag_of_tricks.json").read_text(encoding="utf-8")


STATUSES = ("verified", "unverified")
_TABLE_KEY = {"Table 1": "table1", "Table 4": "table4_resnet50_large_batch", "Table 5": "table5_resnet50_tweaks",
              "Table 6": "table6_refinements"}
_COLUMNS = {"Table 4": ["batch 256", "batch 1024"], "Table 6": ["ResNet-50-D", "Inception-V3", "MobileNet"]}


def figures() -> list[dict[str, Any]]:
    """Every stored figure with its provenance: ``table``, ``row``, ``column``, ``value`` (top-1 %), ``status``
    (one of :data:`STATUSES`), ``source`` (a key of :func:`sources`) and, for Table 6's ResNet-50-D, ``std``."""
    return list(json.loads(_raw())["figures"])


def sources() -> dict[str, dict[str, str]]:
    """What each source key is (``what``) and where it can be read (``where``)."""
    return dict(json.loads(_raw())["sources"])


def figure(table: str, row: str, column: str) -> dict[str, Any]:
    """One figure's record; ValueError if the paper's table has no such cell here."""
    for f in figures():
        if (f["table"], f["row"], f["column"]) == (table, row, column):
            return f
    raise ValueError(f"expected a stored figure of the Bag of Tricks tables, got {table!r}, {row!r}, {column!r}")


def load_tables() -> dict[str, Any]:
    """The paper's tables built from the figure records (a fresh copy each call, so callers cannot change the
    reference): ``table1`` and ``table5_resnet50_tweaks`` map a row to its top-1; ``table4_resnet50_large_batch``
    and ``table6_refinements`` have ``columns`` and ``rows`` (row -> one value per column)."""
    raw = json.loads(_raw())
    out: dict[str, Any] = {"source": raw["source"], "verified": raw["verified"], "notes": raw["notes"]}
    for f in raw["figures"]:
        key = _TABLE_KEY[f["table"]]
        if f["table"] in _COLUMNS:
            cols = _COLUMNS[f["table"]]
            t = out.setdefault(key, {"columns": list(cols), "rows": {}})
            t["rows"].setdefault(f["row"], [None] * len(cols))[cols.index(f["column"])] = float(f["value"])
        else:
            out.setdefault(key, {})[f["row"]] = float(f["value"])
    return out


def citation() -> str:
    """The paper the numbers come from, with what they measure."""
    return str(load_tables()["source"])


def verified_note() -> str:
    """How the figures were checked against the paper, and where the paper disagrees with itself."""
    return str(load_tables()["verified"])


@dataclass(frozen=True)
class PublishedDelta:
    """A trick's published effect: ``value - baseline`` in the named table, column and rows."""

    trick: str  # lab key: cosine, label_smoothing, mixup, distillation, warmup, zero_gamma, no_bias_decay, fp16, ...
    label: str  # human name of the trick
    table: str  # "Table 6" etc., so a reader can check the paper
    column: str  # model or setting the numbers are for ("ResNet-50-D", "batch 1024")
    baseline_row: str  # row the trick is added to
    row: str  # row with the trick
    baseline: float  # top-1 % of the baseline row
    value: float  # top-1 % with the trick
    delta: float  # value - baseline, in points
    status: str = "verified"  # "verified" when both figures were checked against the paper's table, else "unverified"

    def text(self) -> str:
        return (f"{self.label}: {self.delta:+.2f} points ({self.table}, {self.column}: "
                f"{self.baseline:.2f} -> {self.value:.2f})")


# (lab key, label, table key, baseline row, row). Tables 4 and 6 add tricks cumulatively; Table 5 compares
# each ResNet-50 variant with the original.
_TABLE6 = (
    ("cosine", "cosine LR decay", "table6_refinements", "efficient baseline", "+ cosine decay"),
    ("label_smoothing", "label smoothing", "table6_refinements", "+ cosine decay", "+ label smoothing"),
    ("distillation", "knowledge distillation (no mixup)", "table6_refinements", "+ label smoothing",
     "+ distillation w/o mixup"),
    ("mixup", "mixup (no distillation)", "table6_refinements", "+ label smoothing", "+ mixup w/o distillation"),
    ("distillation_with_mixup", "distillation on top of mixup", "table6_refinements", "+ mixup w/o distillation",
     "+ distillation w/ mixup"),
)
_TABLE4 = (
    ("warmup", "LR warmup", "table4_resnet50_large_batch", "linear LR scaling", "+ LR warmup"),
    ("zero_gamma", "zero gamma (last BN of each residual block)", "table4_resnet50_large_batch", "+ LR warmup",
     "+ zero gamma"),
    ("no_bias_decay", "no bias decay", "table4_resnet50_large_batch", "+ zero gamma", "+ no bias decay"),
    ("fp16", "FP16 / mixed precision", "table4_resnet50_large_batch", "+ no bias decay", "+ FP16"),
)
_TABLE_NUMBER = {"table4_resnet50_large_batch": "Table 4", "table5_resnet50_tweaks": "Table 5",
                 "table6_refinements": "Table 6"}

TABLE6_COLUMNS = ("ResNet-50-D", "Inception-V3", "MobileNet")
TABLE4_COLUMNS = ("batch 256", "batch 1024")
TRICKS = tuple(t[0] for t in _TABLE6 + _TABLE4) + ("resnet_b", "resnet_c", "resnet_d")


def _row_delta(spec: tuple[str, str, str, str, str], column: str, tables: dict[str, Any]) -> PublishedDelta:
    key, label, table_key, base_row, row = spec
    table = tables[table_key]
    cols = list(table["columns"])
    if column not in cols:
        raise ValueError(f"expected a column of {_TABLE_NUMBER[table_key]} in {cols}, got {column!r}")
    j = cols.index(column)
    base, value = float(table["rows"][base_row][j]), float(table["rows"][row][j])
    number = _TABLE_NUMBER[table_key]
    return PublishedDelta(key, label, number, column, base_row, row, base, value, round(value - base, 4),
                          _status(number, (base_row, row), column))


def _status(table: str, rows: tuple[str, str], column: str) -> str:
    both = [figure(table, r, column)["status"] for r in rows]
    return "verified" if all(s == "verified" for s in both) else "unverified"


def published_deltas(model: str = "ResNet-50-D", batch: str = "batch 1024") -> list[PublishedDelta]:
    """Every trick's published delta: Table 6 refinements for ``model``, Table 4 efficient-training tricks at
    ``batch`` (the paper introduces them for large batches), Table 5 ResNet-50 tweaks B/C/D."""
    tables = load_tables()
    out = [_row_delta(s, model, tables) for s in _TABLE6]
    out += [_row_delta(s, batch, tables) for s in _TABLE4]
    t5 = tables["table5_resnet50_tweaks"]
    base = float(t5["ResNet-50"])
    for variant in ("B", "C", "D"):
        v = float(t5[f"ResNet-50-{variant}"])
        out.append(PublishedDelta(f"resnet_{variant.lower()}", f"ResNet-50-{variant} tweak", "Table 5", "ResNet-50",
                                  "ResNet-50", f"ResNet-50-{variant}", base, v, round(v - base, 4),
                                  _status("Table 5", ("ResNet-50", f"ResNet-50-{variant}"), "top-1")))
    return out


def published_delta(trick: str, model: str = "ResNet-50-D", batch: str = "batch 1024") -> PublishedDelta:
    """The published delta of one trick (see :data:`TRICKS` for the keys)."""
    for d in published_deltas(model, batch):
        if d.trick == trick:
            return d
    raise ValueError(f"expected a trick in {list(TRICKS)}, got {trick!r}")
