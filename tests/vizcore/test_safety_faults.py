"""Faults end in one sentence and lose nothing: run store, file system, checkpoints, CLI arguments, output.

CLI probes run in-process through ``main`` (exit status and stderr line) except where the process's own
standard output must be closed or full."""
from __future__ import annotations

import errno
import json
import sqlite3
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch

from vizcore.cli.main import main
from vizcore.lab.store import RunStore, StoreError
from vizcore.models import weights
from vizcore.models.registry import build_model
from vizcore.train.config import TrainConfig

TINY = ["--model", "small_cnn", "--epochs", "1", "--train-size", "32", "--val-size", "16", "--image-size", "16",
        "--batch-size", "16"]


def cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


# ---------------------------------------------------------------------------------------------- run store

def test_store_that_is_not_a_database(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db = tmp_path / "runs.sqlite"
    db.write_bytes(b"this is not a database" * 100)
    for cmd in (["runs", "--db", str(db)], ["train", "--db", str(db), *TINY]):
        rc, out, err = cli(capsys, *cmd)
        assert rc == 2 and out == ""
        assert one_error_line(err) == (
            f"error: the run store {db} is not a usable ConvScope database (file is not a database); move it "
            f"aside to start a new one and keep the old file (mv {db} {db}.corrupt)")
    assert db.read_bytes() == b"this is not a database" * 100  # untouched


def test_store_of_another_program_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE runs (x INTEGER)")
    with pytest.raises(StoreError, match="no runs table of ConvScope's"):
        RunStore(db)


def test_server_keeps_a_damaged_store_aside_and_starts_a_new_one(tmp_path: Path) -> None:
    from vizcore.lab.queue import Lab

    db = tmp_path / "runs.sqlite"
    db.write_bytes(b"garbage" * 50)
    lab = Lab(db)
    try:
        kept = lab.store.recovered_from
        assert kept is not None and kept.name.startswith("runs.sqlite.corrupt-")
        assert kept.read_bytes() == b"garbage" * 50  # the old file is kept as it was
        assert lab.store.list() == []
    finally:
        lab.shutdown()


@pytest.mark.parametrize("where, reason", [("folder", "got a folder"), ("device", "got a device or other special file")])
def test_db_pointing_at_a_folder_or_a_device(tmp_path: Path, capsys: pytest.CaptureFixture, where: str,
                                            reason: str) -> None:
    target = tmp_path if where == "folder" else Path("/dev/null")
    rc, _, err = cli(capsys, "runs", "--db", str(target))
    assert rc == 2
    assert one_error_line(err) == f"error: expected a run store database file at {target}, {reason}"


def test_listings_open_the_store_read_only(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db = tmp_path / "runs.sqlite"
    store = RunStore(db)
    rid = store.create(TrainConfig())
    store.close()
    before = db.read_bytes()
    rc, out, _ = cli(capsys, "runs", "--db", str(db), "--json")
    assert rc == 0 and [r["id"] for r in json.loads(out)] == [rid]
    assert db.read_bytes() == before  # not even the "interrupted" marking was written
    ro = RunStore(db, readonly=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly database"):
        ro.create(TrainConfig())
    rc, _, err = cli(capsys, "runs", "--db", str(db), "--metrics", "nope")
    assert rc == 2 and one_error_line(err) == "error: expected a stored run id, got 'nope'"


def test_sqlite_and_memory_errors_become_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    RunStore(tmp_path / "r.sqlite").close()
    with mock.patch.object(RunStore, "list", side_effect=sqlite3.OperationalError("database is locked")):
        rc, _, err = cli(capsys, "runs", "--db", str(tmp_path / "r.sqlite"))
    assert rc == 2 and one_error_line(err) == "error: the run store failed: database is locked"
    with mock.patch.object(RunStore, "list", side_effect=MemoryError()):
        rc, _, err = cli(capsys, "runs", "--db", str(tmp_path / "r.sqlite"))
    assert rc == 2 and "error: out of memory" in one_error_line(err)
    perm = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "r.sqlite"))
    with mock.patch.object(RunStore, "list", side_effect=perm):
        rc, _, err = cli(capsys, "runs", "--db", str(tmp_path / "r.sqlite"))
    assert rc == 2 and one_error_line(err) == f"error: Permission denied: {tmp_path / 'r.sqlite'}"


# ---------------------------------------------------------------------------------------------- before a run exists

def _no_runs(db: Path) -> bool:
    return not db.exists() or RunStore(db, readonly=True).list() == []


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--dataset", "nope"], "error: expected a data set from shapes, shapes_cue_conflict, digits, cifar10, mnist, "
                            "fashion_mnist, folder, got 'nope'"),
    (["--distill-teacher", "/no/such/teacher.pt"],
     "error: expected distill_teacher to be an existing checkpoint file or a stored run id, got "
     "'/no/such/teacher.pt' (no such file)"),
    (["--transfer", "finetune", "--transfer-from", "runs/none.pt"],
     "error: expected transfer_from to be an existing checkpoint file or a stored run id, got 'runs/none.pt' "
     "(no such file)"),
    (["--time-budget-s", "0.001"], "error: expected a run that fits the time budget of 0.001 s, got an estimate of "),
])
def test_refused_runs_leave_no_record(tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str],
                                      message: str) -> None:
    db = tmp_path / "runs.sqlite"
    rc, out, err = cli(capsys, "train", "--db", str(db), *TINY, *args)
    assert rc == 2 and out == ""
    assert one_error_line(err).startswith(message)
    assert _no_runs(db)


def test_config_with_a_non_string_data_root(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = tmp_path / "run.json"
    cfg.write_text('{"data_root": 5}')
    rc, _, err = cli(capsys, "train", "--config", str(cfg), "--db", str(tmp_path / "r.sqlite"), *TINY)
    assert rc == 2 and one_error_line(err) == "error: expected data_root to be a path or name as text, got 5"
    cfg.write_text("[1, 2]")
    rc, _, err = cli(capsys, "train", "--config", str(cfg), "--db", str(tmp_path / "r.sqlite"))
    assert rc == 2 and one_error_line(err).startswith(f"error: expected a valid config file, got '{cfg}'")


def test_read_only_checkpoint_folder_is_found_before_training(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db = tmp_path / "runs.sqlite"
    denied = PermissionError(errno.EACCES, "Permission denied")
    with mock.patch("vizcore.core.io.tempfile.mkstemp", side_effect=denied), \
            mock.patch("vizcore.train.engine.Run.run_sync") as trained:
        rc, _, err = cli(capsys, "train", "--db", str(db), *TINY)
    assert rc == 2 and not trained.called
    assert one_error_line(err) == f"error: expected a writable folder, got {tmp_path / 'checkpoints'} (Permission denied)"
    assert _no_runs(db)


def test_full_disk_before_the_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")(10 << 30, 10 << 30, 1 << 20)
    with mock.patch("vizcore.core.io.shutil.disk_usage", return_value=usage):
        rc, _, err = cli(capsys, "train", "--db", str(tmp_path / "r.sqlite"), *TINY)
    assert rc == 2
    line = one_error_line(err)
    assert line.startswith("error: expected at least 65 MB free in ")  # small_cnn: 242,474 x 4 bytes + 64 MB margin
    assert line.endswith(f"{tmp_path / 'checkpoints'}, got 1 MB; free some disk space")


@pytest.mark.slow
def test_full_disk_at_the_checkpoint_write_leaves_no_temporary_file(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    db = tmp_path / "runs.sqlite"
    full = OSError(errno.ENOSPC, "No space left on device")
    with mock.patch("torch.save", side_effect=full):
        rc, _, err = cli(capsys, "train", "--db", str(db), *TINY)
    assert rc == 2
    assert one_error_line(err) == (f"error: could not write the checkpoint: No space left on device: "
                                   f"{tmp_path / 'checkpoints'}/{RunStore(db, readonly=True).list()[0].id}.pt")
    assert list((tmp_path / "checkpoints").iterdir()) == []  # no orphan .pt.tmp
    rec, = RunStore(db, readonly=True).list()
    assert rec.status == "failed" and "No space left on device" in rec.message
    rc, out, _ = cli(capsys, "runs", "--db", str(db), "--json")
    assert rc == 0 and json.loads(out)[0]["status"] == "failed"  # the store still lists


# ---------------------------------------------------------------------------------------------- checkpoints

@pytest.fixture
def lenet_state() -> dict[str, torch.Tensor]:
    return build_model("lenet5").state_dict()


def test_checkpoint_messages(tmp_path: Path, lenet_state: dict[str, torch.Tensor]) -> None:
    model = build_model("lenet5")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"^expected a checkpoint file with weights, got empty.pt \(an empty file\)$"):
        weights.load_checkpoint(model, empty)
    text = tmp_path / "text.pt"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"^expected a PyTorch state_dict file, got text.pt, which is truncated or not a PyTorch file$"):
        weights.load_checkpoint(model, text)
    obj = tmp_path / "obj.pt"
    torch.save({"a": Path("x")}, obj)
    with pytest.raises(ValueError, match=r"holds other Python objects \(refused: loading them could run code") as exc:
        weights.load_checkpoint(model, obj)
    assert "weights_only" not in str(exc.value)  # never advises turning the safety off
    nothing = tmp_path / "nothing.pt"
    torch.save({}, nothing)
    with pytest.raises(ValueError, match="got an empty one"):
        weights.load_checkpoint(model, nothing)


def test_checkpoint_with_nan_or_integer_tensors_is_refused(tmp_path: Path,
                                                          lenet_state: dict[str, torch.Tensor]) -> None:
    key = next(k for k, v in lenet_state.items() if v.is_floating_point())
    nan = dict(lenet_state, **{key: torch.full_like(lenet_state[key], float("nan"))})
    torch.save(nan, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match=f"got NaN or infinite values in {key}"):
        weights.load_checkpoint(build_model("lenet5"), tmp_path / "nan.pt")
    ints = dict(lenet_state, **{key: lenet_state[key].to(torch.int64)})
    torch.save(ints, tmp_path / "int.pt")
    with pytest.raises(ValueError, match=f"expected floating-point weights in int.pt, got torch.int64 for {key}"):
        weights.load_checkpoint(build_model("lenet5"), tmp_path / "int.pt")


def test_sidecar_with_wrong_types(tmp_path: Path, lenet_state: dict[str, torch.Tensor]) -> None:
    ck = tmp_path / "m.pt"
    torch.save(lenet_state, ck)
    Path(str(ck) + ".json").write_text('{"model": "lenet5", "classes": 5}')
    with pytest.raises(ValueError, match=r"expected 'classes' in m.pt.json to be a list of class names, got 5"):
        weights.checkpoint_meta(ck)
    Path(str(ck) + ".json").write_text('{"model": "lenet5", "num_classes": "ten"}')
    with pytest.raises(ValueError, match="expected 'num_classes' in m.pt.json to be a positive integer"):
        weights.load_trained(ck)


def test_save_checkpoint_removes_its_temporary_file_on_failure(tmp_path: Path) -> None:
    full = OSError(errno.ENOSPC, "No space left on device")
    with mock.patch("torch.save", side_effect=full), pytest.raises(OSError, match="No space left"):
        weights.save_checkpoint(build_model("lenet5"), tmp_path / "m.pt", {"model": "lenet5"})
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------- arguments, output

def test_summary_with_an_empty_model_name(capsys: pytest.CaptureFixture) -> None:
    rc, _, err = cli(capsys, "summary", "--model", "")
    assert rc == 2 and one_error_line(err).startswith("error: expected a model name from lenet5, ")
    assert one_error_line(err).endswith("got ''")


def test_compare_seed_count_must_match(capsys: pytest.CaptureFixture) -> None:
    rc, _, err = cli(capsys, "compare", "--a", "1,2,3", "--b", "2,3,4", "--seeds-a", "0,1")
    assert rc == 2 and one_error_line(err) == "error: expected --seeds-a to give one seed per value (3), got 2"


def test_library_prints_go_to_stderr_not_into_json(capsys: pytest.CaptureFixture) -> None:
    from vizcore.cli import registry

    def noisy(_args):
        print("Downloading: https://example.org/weights.pth")
        return {"ok": True}

    with mock.patch.dict(registry.COMMANDS, {"outsize": registry._Command("h", registry.COMMANDS["outsize"].add,
                                                                          noisy)}):
        rc, out, err = cli(capsys, "outsize", "--input", "5", "--kernel", "3", "--json")
    assert rc == 0 and json.loads(out) == {"ok": True} and "Downloading" in err


class _FullStream:
    def write(self, _text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("stdout, reason", [(None, "standard output is closed"),
                                            (_FullStream(), "No space left on device")])
def test_closed_or_full_standard_output(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                                        stdout: object, reason: str) -> None:
    monkeypatch.setattr(sys, "stdout", stdout)  # `>&-` leaves sys.stdout None; `> /dev/full` fails every write
    rc = main(["outsize", "--input", "5", "--kernel", "3", "--json"])
    assert rc == 2
    assert one_error_line(capsys.readouterr().err) == f"error: cannot write the output: {reason}"
