"""The run store (SQLite) and the lab queue: records survive reopening, interrupted runs are marked, cancel is clean."""
from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
import torch

from tests.helpers import tiny_config, tiny_data
from vizcore.cli.main import main as cli_main
from vizcore.lab import default_model as default_models
from vizcore.lab import queue as lab_queue
from vizcore.lab import store as run_store
from vizcore.models import weights as mweights
from vizcore.train import config as train_config

pytestmark = pytest.mark.usefixtures("one_thread")


def data():
    return tiny_data(64), tiny_data(32, seed=1)


def test_store_records_a_run_and_survives_reopening(tmp_path):
    db = tmp_path / "runs.sqlite"
    store = run_store.RunStore(db)
    cfg = tiny_config(epochs=2)
    rid = store.create(cfg, name="baseline", group="g1")
    run = store.make_run(rid, data())
    assert run.run_sync() == "done", run.message
    store.close()

    store = run_store.RunStore(db)  # a new process would see the same
    rec = store.get(rid)
    assert (rec.name, rec.group, rec.status, rec.epochs_done, rec.config) == ("baseline", "g1", "done", 2, cfg)
    epochs = store.metrics(rid)
    steps = store.metrics(rid, "step")
    assert [e["epoch"] for e in epochs] == [1, 2] and len(steps) == 2 * cfg.steps_per_epoch()
    assert rec.val_acc == epochs[-1]["val_acc"] and rec.best_val_acc == max(e["val_acc"] for e in epochs)
    assert rec.info["classes"] == ["c0", "c1", "c2", "c3"]
    m = mweights.load_trained(rec.checkpoint)
    assert mweights.checkpoint_meta(rec.checkpoint)["epoch"] == 2 and m.fc.out_features == 4
    assert store.db_journal_mode() == "wal"

    config_json, csv_text = store.export(rid)
    assert train_config.TrainConfig.from_dict(json.loads(config_json)["config"]) == cfg
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("epoch,train_loss") and len(lines) == 3

    store.rename(rid, "renamed")
    assert [r.name for r in store.list("g1")] == ["renamed"] and store.list("other") == []
    store.delete(rid)
    assert store.list() == [] and not store.checkpoint_path(rid).exists()
    with pytest.raises(ValueError, match="expected a stored run id"):
        store.get(rid)


def test_runs_of_dead_processes_are_marked_interrupted(tmp_path):
    db = tmp_path / "runs.sqlite"
    store = run_store.RunStore(db)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    rid_dead = store.create(tiny_config())
    store.set_status(rid_dead, "running")
    store.add_metric(rid_dead, {"kind": "epoch", "epoch": 1, "val_acc": 0.5})
    store._db.execute("UPDATE runs SET pid=? WHERE id=?", (dead.pid, rid_dead))  # as if its process died
    rid_live = store.create(tiny_config())
    store.set_status(rid_live, "running")  # owned by this (live) process
    store.close()

    lab = lab_queue.Lab(db)
    assert lab.interrupted_on_start == [rid_dead]
    rec = lab.store.get(rid_dead)
    assert rec.status == "interrupted" and "after 1 completed epoch" in rec.message and rec.finished_at
    assert lab.store.get(rid_live).status == "running"
    lab.shutdown()


def test_lab_queue_runs_one_at_a_time_and_cancel_leaves_a_consistent_record(tmp_path):
    lab = lab_queue.Lab(tmp_path / "runs.sqlite", concurrency=1)
    first_epoch = threading.Event()
    long_cfg = tiny_config(epochs=50, batch_size=16)
    a = lab.submit(long_cfg, name="long", data=data())
    lab.get_run(a).subscribe(lambda e: first_epoch.set() if e["kind"] == "epoch" else None)
    b = lab.submit(tiny_config(), name="waits", data=data())
    c = lab.submit(tiny_config(), name="cancelled in the queue", data=data())
    assert lab.queued() == [b, c] and lab.running() == [a]
    lab.cancel(c)
    assert lab.status(c) == "cancelled" and lab.queued() == [b]
    assert first_epoch.wait(60)
    lab.cancel(a)
    assert lab.wait(a, 60) == "cancelled"
    assert lab.wait(b, 60) == "done"

    rec = lab.store.get(a)
    epochs = lab.store.metrics(a)
    assert rec.epochs_done == len(epochs) >= 1 and rec.finished_at is not None
    assert mweights.checkpoint_meta(rec.checkpoint)["epoch"] == rec.epochs_done  # checkpoint = last recorded epoch
    assert "cancelled in epoch" in rec.message
    with pytest.raises(ValueError, match="cancel it first"):
        lab.store.delete(lab.submit(long_cfg, data=data()))
    lab.shutdown()
    assert all(r.status != "running" for r in lab.store.list())


def test_submit_checks_budgets_before_queueing(tmp_path):
    lab = lab_queue.Lab(tmp_path / "runs.sqlite")
    with pytest.raises(ValueError, match="memory within the budget"):
        lab.submit(tiny_config(memory_budget_mb=1), data=data())
    assert lab.store.list() == []
    lab.shutdown()


def test_teacher_and_transfer_by_run_id(tmp_path):
    lab = lab_queue.Lab(tmp_path / "runs.sqlite")
    teacher = lab.submit(tiny_config(), data=data())
    assert lab.wait(teacher, 60) == "done"
    student = lab.submit(tiny_config(model="lenet5", distill_teacher=teacher), data=data())
    probe = lab.submit(tiny_config(transfer="linear_probe", transfer_from=teacher), data=data())
    assert lab.wait(student, 60) == "done", lab.store.get(student).message
    assert lab.wait(probe, 60) == "done", lab.store.get(probe).message
    assert lab.store.get(student).info["teacher"]["model"] == "small_cnn"
    with pytest.raises(ValueError, match="stored run id"):  # refused at submission, nothing recorded
        lab.submit(tiny_config(distill_teacher="nosuchrun"), data=data())
    assert len(lab.store.list()) == 3
    lab.shutdown()


def test_default_model_is_built_once_then_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path))
    cfg = train_config.TrainConfig(train_size=64, val_size=32, epochs=1, batch_size=32, device="cpu")
    seen: list[float] = []
    path = default_models.default_model(lambda f, _t: seen.append(f), config=cfg)
    assert path.is_file() and seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen) and len(seen) > 2
    stamp = path.stat().st_mtime_ns
    again: list[str] = []
    assert default_models.default_model(lambda _f, t: again.append(t), config=cfg) == path
    assert path.stat().st_mtime_ns == stamp and "cached" in again[0]
    model = mweights.load_trained(path)
    assert model.fc.out_features == len(mweights.checkpoint_meta(path)["classes"]) == 10


def test_cli_train_and_runs(tmp_path, capsys):
    db = str(tmp_path / "cli.sqlite")
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({"train_size": 64, "val_size": 32, "epochs": 2, "batch_size": 32}))
    assert cli_main(["train", "--config", str(cfg), "--device", "cpu", "--db", db, "--name", "cli", "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [x.get("epoch") for x in lines[:-1]] == [1, 2]
    assert lines[-1]["kind"] == "summary" and lines[-1]["status"] == "done" and lines[-1]["epochs_done"] == 2
    assert cli_main(["runs", "--db", db, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in listed] == ["cli"] and listed[0]["id"] == lines[-1]["run_id"]


@pytest.mark.parametrize("argv,match", [
    (["train", "--epochs", "0"], "expected epochs"),
    (["train", "--optimizer", "rmsprop"], "invalid choice"),
    (["train", "--config", "/no/such.json"], "expected a config file, got '/no/such.json' (no such file)"),
    (["train", "--precision", "fp16", "--device", "cpu"], "fp16"),
    (["runs", "--metrics", "nosuchrun"], "stored run id"),
])
def test_cli_bad_input_exits_2_with_one_line(argv, match, tmp_path, capsys):
    if argv[0] == "runs":  # a listing reads an existing store (it never creates one)
        run_store.RunStore(tmp_path / "x.sqlite").close()
    with pytest.raises(SystemExit) if "invalid choice" in match else _nothing():
        code = cli_main(argv + ["--db", str(tmp_path / "x.sqlite")])
        assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and match in err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.skipif(not default_models.SHIPPED_DEFAULT.is_file(), reason="no shipped default model")
def test_shipped_default_model_is_used_and_has_learned(tmp_path, monkeypatch):
    from vizcore.data import datasets as vdata
    from vizcore.models import registry as zoo

    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path))
    assert default_models._is_complete(default_models.SHIPPED_DEFAULT, default_models.DEFAULT_CONFIG, default_models.data_fingerprint(default_models.DEFAULT_CONFIG)), (
        "the shipped default model was made from other images or another config: "
        "run `python -m vizcore default-model --retrain --ship`")
    texts: list[str] = []
    path = default_models.default_model(lambda _f, t: texts.append(t))
    assert "shipped" in texts[-1] and path.parent.parent == tmp_path
    assert default_models._same_config(mweights.checkpoint_meta(path)["config"], default_models.DEFAULT_CONFIG)
    model = mweights.load_trained(path)
    test = vdata.load_dataset("shapes", split="test", n=500, size=32, seed=123)  # images it never saw
    entry = zoo.get_entry("small_cnn")
    mean = torch.tensor(entry.mean).view(1, 3, 1, 1)
    std = torch.tensor(entry.std).view(1, 3, 1, 1)
    with torch.no_grad():
        pred = model((test.images.float() / 255 - mean) / std).argmax(1)
    assert (pred == test.labels).float().mean() >= 0.85  # learned shapes: chance is 0.10


def test_a_store_that_cannot_be_written_stops_the_run_with_one_line(tmp_path, monkeypatch, capfd):
    import sqlite3

    store = run_store.RunStore(tmp_path / "runs.sqlite")
    rid = store.create(tiny_config(epochs=3), name="disk full")
    run = store.make_run(rid, data())

    def full(*_a, **_k):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store, "add_metric", full)
    assert run.run_sync() == "failed"
    assert "could not be written (database or disk is full)" in run.message and run.epochs_done < 3
    err = capfd.readouterr().err
    assert "Traceback" not in err and err.count("database or disk is full") == 1
