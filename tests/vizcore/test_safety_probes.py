"""Hostile probes of a class server's command line, each answered in one line or a valid answer, never a
traceback, a runaway allocation or a side effect: the effective receptive field's memory budget, files read
with no size limit, overflowing statistics, one damaged run record, listings that create folders, Python's own
wording in errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.vizcore.test_safety_faults import cli, one_error_line
from vizcore.lab import power as P
from vizcore.lab.store import DamagedRunError, RunStore
from vizcore.train.config import TrainConfig

# ---------------------------------------------------------------------------------------------- memory budget


def test_erf_on_a_huge_input_is_refused_before_allocating(capsys: pytest.CaptureFixture) -> None:
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rc, out, err = cli(capsys, "rf", "--model", "resnet18", "--node", "layer4", "--erf", "--input-size", "3x4000x4000")
    line = one_error_line(err)
    assert rc == 2 and out == ""
    assert "effective receptive field" in line and "memory budget" in line and "GB" in line
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 500  # the 4-input forward and backward at 4000 px would take gigabytes


def test_erf_estimate_counts_every_map_on_the_way() -> None:
    import torch
    from torch import nn

    from vizcore.arch import receptive_field as rf
    from vizcore.arch.rf_measured import backprop_bytes

    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1))
    table = rf.analyze(model, (3, 10, 10))
    last = table.resolve(table.nodes[-1].node)
    maps = sum(int(torch.Size(n.out_shape).numel()) for n in table.nodes)
    assert backprop_bytes(table, last, 2, 4) == 2 * 2 * 4 * (3 * 10 * 10 + maps)
    first = table.resolve(table.nodes[0].node)
    assert backprop_bytes(table, first, 1, 4) < backprop_bytes(table, last, 1, 4)


# ---------------------------------------------------------------------------------------------- files the CLI reads


@pytest.mark.parametrize("argv, what", [
    (["train", "--config", "/dev/zero"], "config file"),
    (["ab", "--trick", "label_smoothing", "--config", "/dev/zero"], "config file"),
    (["summary", "--spec", "/dev/zero"], "spec file"),
    (["augment", "--pipeline", "/dev/zero"], "pipeline"),
])
def test_endless_files_are_refused_at_once(argv: list[str], what: str, capsys: pytest.CaptureFixture) -> None:
    rc, _, err = cli(capsys, *argv)
    assert rc == 2 and what in one_error_line(err)


def test_a_large_file_is_read_only_up_to_its_limit(tmp_path: Path) -> None:
    from vizcore.core.io import read_capped, read_text_capped

    big = tmp_path / "big.json"
    big.write_bytes(b"x" * 1001)
    with pytest.raises(ValueError, match=r"expected a config file of at most 1 KB, got .*big.json.* \(larger\)"):
        read_capped(big, 1000, "config file")
    assert read_capped(big, 1001) == b"x" * 1001
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="UTF-8 text"):
        read_text_capped(tmp_path / "bin", 100, "spec file")
    with pytest.raises(ValueError, match="got the folder"):
        read_capped(tmp_path, 100)


def test_a_huge_image_file_is_refused_after_reading_its_limit(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    huge = tmp_path / "image.png"
    with open(huge, "wb") as f:
        f.truncate(8 << 30)  # 8 GB, sparse: reading it whole would exhaust memory
    for argv in (["activations", "--model", "small_cnn", "--node", "features.0", "--image", str(huge)],
                 ["cam", "--image", str(huge)]):
        rc, _, err = cli(capsys, *argv)
        assert rc == 2 and "image file of at most 20 MB" in one_error_line(err)


# ---------------------------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("effect, sd", [(1e-300, 1e300), (1e-300, 1.0), (1e300, 1e-300), (5.0, 1e-300)])
def test_power_at_extreme_ratios_answers(effect: float, sd: float, capsys: pytest.CaptureFixture) -> None:
    rc, out, err = cli(capsys, "power", "--effect", repr(effect), "--sd", repr(sd), "--json")
    assert rc == 0 and err == ""
    res = json.loads(out)
    if effect / sd < 1e-6:
        assert res["seeds_needed"] is None and "more than 100,000 seeds" in res["text"]
    else:
        assert res["seeds_needed"] == 2
    # the smallest detectable effect scales with the spread: 3 seeds per arm find about 3.07 sd
    assert res["min_detectable_effect"] == pytest.approx(3.0709 * sd, rel=1e-3)


def test_power_stays_exact_at_ordinary_spreads() -> None:
    # G*Power, two-sample, d = 2 (0.5 at sd 0.25), alpha 0.05, power 0.8: 6 per group
    assert P.seeds_needed(0.5, 0.25) == 6
    assert P.min_detectable_effect(3, 0.25) == pytest.approx(0.25 * P.min_detectable_effect(3, 1.0))


# ---------------------------------------------------------------------------------------------- run store


def _store_with_a_damaged_run(path: Path) -> tuple[RunStore, str, str]:
    store = RunStore(path)
    good = store.create(TrainConfig(model="small_cnn"), "good")
    bad = store.create(TrainConfig(model="small_cnn"), "bad")
    store.set_status(good, "done")
    store.set_status(bad, "done")
    store._db.execute("UPDATE runs SET config='{not json' WHERE id=?", (bad,))
    return store, good, bad


def test_one_damaged_record_hides_no_other_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db = tmp_path / "runs.sqlite"
    store, good, bad = _store_with_a_damaged_run(db)
    assert [r.id for r in store.list()] == [good]
    [damaged] = store.damaged_runs()
    assert damaged.id == bad and "config cannot be read" in damaged.reason
    with pytest.raises(DamagedRunError, match=f"runs --delete {bad}"):
        store.get(bad)

    rc, out, _ = cli(capsys, "runs", "--db", str(db), "--json")
    listed = {r["id"]: r for r in json.loads(out)}
    assert rc == 0 and listed[good]["status"] == "done" and listed[bad]["status"] == "damaged"
    assert f"runs --export {bad}" in listed[bad]["message"]
    rc, out, _ = cli(capsys, "runs", "--db", str(db), "--export", bad, "--json")
    exported = json.loads(out)["config"]
    assert rc == 0 and exported["config_text"] == "{not json" and "cannot be read" in exported["damaged"]
    rc, out, _ = cli(capsys, "runs", "--db", str(db), "--metrics", bad, "--json")
    assert rc == 0 and json.loads(out) == []
    rc, out, _ = cli(capsys, "runs", "--db", str(db), "--delete", bad, "--json")
    assert rc == 0 and json.loads(out) == {"deleted": bad}
    assert store.damaged_runs() == [] and [r.id for r in store.list()] == [good]


def test_listing_never_creates_a_store_or_its_folders(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "x.sqlite"
    rc, out, err = cli(capsys, "runs", "--db", str(missing), "--json")
    assert rc == 2 and out == "" and "no such file" in one_error_line(err)
    assert not (tmp_path / "no").exists()
    rc, _, err = cli(capsys, "runs", "--db", str(missing), "--metrics", "abc")
    assert rc == 2 and not (tmp_path / "no").exists()
    assert RunStore(missing, readonly=True).list() == [] and not (tmp_path / "no").exists()


@pytest.mark.slow
def test_a_writing_command_says_it_created_the_store(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db = tmp_path / "new" / "runs.sqlite"
    rc, out, _ = cli(capsys, "train", "--db", str(db), "--model", "small_cnn", "--epochs", "1", "--train-size", "32",
                     "--val-size", "16", "--image-size", "16", "--batch-size", "16", "--json")
    summary = json.loads(out.strip().splitlines()[-1])
    assert rc == 0 and summary["store_created"] is True and summary["store"] == str(db) and db.is_file()
    rc, out, _ = cli(capsys, "train", "--db", str(db), "--model", "small_cnn", "--epochs", "1", "--train-size", "32",
                     "--val-size", "16", "--image-size", "16", "--batch-size", "16", "--json")
    assert rc == 0 and json.loads(out.strip().splitlines()[-1])["store_created"] is False


# ---------------------------------------------------------------------------------------------- wording


@pytest.mark.parametrize("pipeline", ['[{"op": ["hflip"]}]', '[{"op": {"a": 1}}]', '[{"op": 3}]'])
def test_an_operation_that_is_not_a_name_is_explained(pipeline: str, capsys: pytest.CaptureFixture) -> None:
    rc, _, err = cli(capsys, "augment", "--pipeline", pipeline)
    line = one_error_line(err)
    assert rc == 2 and line.startswith("error: expected an operation from hflip") and "unhashable" not in line
