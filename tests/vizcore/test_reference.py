"""Bag of Tricks reference deltas, checked against the table figures in the packaged JSON."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vizcore.lab import reference

RES = Path(reference.__file__).parents[1] / "resources" / "bag_of_tricks.json"


def test_packaged_file_keeps_citation_and_verified_note():
    raw = json.loads(RES.read_text())
    assert "Bag of Tricks" in raw["source"] and "1812.01187" in raw["source"]
    assert "table1" in raw["verified"]
    assert reference.citation() == raw["source"] and reference.verified_note() == raw["verified"]


def test_cosine_on_resnet50d_from_table6():
    d = reference.published_delta("cosine")
    assert d.table == "Table 6" and d.column == "ResNet-50-D"
    assert d.baseline == 77.16 and d.value == 77.91
    assert d.delta == pytest.approx(77.91 - 77.16)  # +0.75


def test_table6_cumulative_rows():
    assert reference.published_delta("label_smoothing").delta == pytest.approx(78.31 - 77.91)
    assert reference.published_delta("mixup").delta == pytest.approx(79.15 - 78.31)
    assert reference.published_delta("distillation").delta == pytest.approx(78.67 - 78.31)
    # distillation hurts MobileNet (the note in the table): 71.97 - 72.93 < 0
    assert reference.published_delta("distillation", model="MobileNet").delta == pytest.approx(71.97 - 72.93)


def test_table4_efficient_training_at_both_batches():
    assert reference.published_delta("warmup").delta == pytest.approx(75.93 - 75.17)
    assert reference.published_delta("warmup", batch="batch 256").delta == pytest.approx(76.03 - 75.87)
    assert reference.published_delta("zero_gamma").table == "Table 4"
    assert reference.published_delta("fp16").delta == pytest.approx(76.21 - 76.03)


def test_table5_tweaks_and_all_keys_present():
    assert reference.published_delta("resnet_d").delta == pytest.approx(77.16 - 76.21)
    keys = [d.trick for d in reference.published_deltas()]
    assert keys == list(reference.TRICKS)
    assert "ImageNet" in reference.SCALE_NOTE


def test_copies_cannot_change_the_reference():
    t = reference.load_tables()
    t["table6_refinements"]["rows"]["+ cosine decay"][0] = 0.0
    assert reference.published_delta("cosine").value == 77.91


def test_bad_keys():
    with pytest.raises(ValueError, match="expected a trick"):
        reference.published_delta("dropout")
    with pytest.raises(ValueError, match="expected a column of Table 6"):
        reference.published_deltas(model="VGG-16")
