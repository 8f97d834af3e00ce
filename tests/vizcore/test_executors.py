"""The executor seam (vizcore.lab.executors): a 2-seed A/B through the process pool and through a real local Ray
head gives the same accuracies and lands in one store; a killed worker costs one run, recorded as failed with its
reason; cancel works in the pool; an identical finished run is reused; bad settings are refused in words."""
from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import cli_json as _cli
from vizcore.lab.executors import settings
from vizcore.train.config import TrainConfig

RAY = shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray")
TINY = ["--set", "model=\"small_cnn\"", "--set", "dataset=\"shapes\"", "--set", "train_size=128",
        "--set", "val_size=64", "--set", "epochs=1", "--set", "batch_size=16", "--set", "lr=0.1"]


def _wait_for(cond, limit_s: float = 120.0) -> None:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """A real local Ray head with 1 CPU, stopped after this module's tests (its idle processes would otherwise poll
    for the rest of the session): one Ray worker trains the runs one after the
    other (each worker process imports torch; the two-at-once case is the pool's, below). No idle workers are
    started ahead (they would serve only tasks without the lab's runtime environment), and no log monitor (the lab
    connects with log_to_driver=False). ``ray start --block`` keeps the head's processes in its care: terminating
    it stops this head only (``ray stop`` would stop every Ray head of this user on the machine, another test
    session's included)."""
    if RAY is None:
        pytest.fail("ray is not installed: pip install -r requirements-dev.txt")
    tmp = tempfile.mkdtemp(prefix="cs-ray-")  # short: Ray's socket paths must fit in 107 characters
    port = _free_port()
    # a head of the test's own, on localhost, without token authentication: a token left in ~/.ray by an earlier
    # head on this machine must not decide whether the test connects
    before = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    log = Path(tmp) / "ray-start.log"
    with open(log, "wb") as out:
        head = subprocess.Popen([RAY, "start", "--head", "--block", "--port", str(port), "--num-cpus", "1",
                                 "--include-dashboard=false", "--include-log-monitor=false", "--disable-usage-stats",
                                 "--temp-dir", tmp], stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "RAY_enable_worker_prestart": "0"})
    try:
        _wait_for(lambda: head.poll() is not None or "block forever" in log.read_text(errors="replace"), 120)
        assert head.poll() is None, f"ray start exited with {head.returncode}: {log.read_text()[-2000:]}"
        yield f"127.0.0.1:{port}"
    finally:
        import ray

        ray.shutdown()
        head.terminate()  # ray start stops the processes it started, then exits
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
        if before is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = before


def test_settings_refuse_bad_values_in_words(monkeypatch):
    monkeypatch.delenv("CONVSCOPE_EXECUTOR", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    cores = os.cpu_count() or 1
    assert settings(None, 2) == ("process", 2, 1)  # the default: a pool, one torch thread per run
    assert settings(None, 1) == ("process", 1, 1)  # fewer workers never change a run's thread count
    assert settings(None, None)[1] == max(1, min(16, cores))  # cores ÷ threads per run: never oversubscribed
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    assert settings()[0] == "ray"
    with pytest.raises(ValueError, match="expected an executor from inprocess, process, ray, got 'spark'"):
        settings("spark")
    with pytest.raises(ValueError, match="expected between 1 and 16 workers, got 0"):
        settings("process", 0)
    monkeypatch.setenv("CONVSCOPE_WORKERS", "two")
    with pytest.raises(ValueError, match="expected CONVSCOPE_WORKERS to be a whole number, got 'two'"):
        settings("process")
    from vizcore.lab.pool import ProcessPool, train_nice

    assert train_nice() == 10
    monkeypatch.setenv("CONVSCOPE_TRAIN_NICE", "0")
    assert train_nice() == 0 and "nice" not in ProcessPool(1, 1).describe()  # no process started yet
    for bad in ("20", "-1", "low"):
        monkeypatch.setenv("CONVSCOPE_TRAIN_NICE", bad)
        with pytest.raises(ValueError, match=f"expected CONVSCOPE_TRAIN_NICE to be a whole number from 0 to 19, "
                                             f"got '{bad}'"):
            ProcessPool(1, 1)


def test_cli_refuses_bad_executor_settings_in_one_line(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    rc, _, err = _cli(["ab", "--trick", "cosine", "--workers", "0", "--executor", "process", "--json"])
    assert rc == 2 and err.strip() == "error: expected between 1 and 16 workers, got 0"
    rc, _, err = _cli(["train", "--executor", "ray", "--epochs", "1", "--json"])
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "RAY_ADDRESS" in err


@pytest.mark.slow
def test_ab_through_the_pool_and_ray_same_accuracies_one_store(ray_head, monkeypatch, tmp_path_factory):
    """2 arms × 2 seeds in a pool worker, then the same A/B under RAY_ADDRESS: same accuracies, one store, the
    JSON naming the executor and where each run ran; a third time every run is reused, not trained. One pool worker:
    each worker process imports torch, and two at once are tested below (a killed worker)."""
    base = ["ab", "--trick", "cosine", "--seeds", "2", *TINY, "--json"]
    rc, pool, err = _cli([*base, "--executor", "process", "--workers", "1"])
    assert rc == 0, err
    assert pool is not None and pool["executor"] == "process" and pool["workers"] == 1
    assert all(r["status"] == "done" and r["executor"] == "process" for r in pool["runs"]), pool["runs"]
    # in the worker process, not here
    assert all(r["worker"] and not r["worker"].endswith(f" pid {os.getpid()}") for r in pool["runs"]), pool["runs"]
    monkeypatch.delenv("CONVSCOPE_EXECUTOR", raising=False)
    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    rc, on_ray, err = _cli([*base, "--no-reuse"])
    assert rc == 0, err
    assert on_ray is not None and on_ray["executor"] == "ray"
    assert all(r["status"] == "done" and r["worker"].startswith("ray node") for r in on_ray["runs"]), on_ray["runs"]
    for r in on_ray["runs"]:  # the checkpoint came back into the app's data directory
        assert Path(r["checkpoint"]).is_file() and Path(r["checkpoint"]).parent == Path(os.environ["CONVSCOPE_DATA_DIR"]) / "checkpoints"
    acc = {(r["arm"], r["seed"]): r["val_acc"] for r in pool["runs"]}
    assert {(r["arm"], r["seed"]): r["val_acc"] for r in on_ray["runs"]} == acc
    assert len(set(acc.values())) > 1  # the seeds and arms differ: equal accuracies are not a constant
    from vizcore.lab.store import RunStore

    stored = {r.id: r for r in RunStore().list()}
    assert all(r["run_id"] in stored for r in pool["runs"] + on_ray["runs"])
    rc, again, err = _cli(base)  # identical finished runs are reused: nothing trains
    assert rc == 0, err
    assert again is not None and all(r["reused"] for r in again["runs"])
    assert {r["run_id"] for r in again["runs"]} <= {r["run_id"] for r in pool["runs"] + on_ray["runs"]}
    _ray_events_sent_before_submit_returns_are_kept(ray_head, tmp_path_factory.mktemp("early"))
    from vizcore.lab.queue import get_lab

    get_lab().shutdown(wait=True, timeout=30)


def _ray_events_sent_before_submit_returns_are_kept(address: str, folder: Path) -> None:
    """A warm Ray worker can start a task and send its first events (where it runs, the run's start) before
    ``.remote()`` returns to the app; the drain must not drop them as events of an unknown run (it did: the run
    ended ``done`` with no worker recorded). Here ``.remote()`` returns only after the task has started."""
    from vizcore.lab.executors import RunSpec
    from vizcore.lab.ray_executor import RayExecutor

    ex = RayExecutor(1, address)
    real = ex._task

    class SlowSubmit:
        def options(self, **kw):
            opts = real.options(**kw)

            class Late:
                def remote(self, *args):
                    ref = opts.remote(*args)
                    time.sleep(2.0)  # ten drains of the hub happen meanwhile
                    return ref
            return Late()

    ex._task = SlowSubmit()
    config = TrainConfig(model="small_cnn", dataset="shapes", train_size=64, val_size=32, epochs=1, batch_size=16)
    run = ex.submit(RunSpec("early0000001", config, str(folder / "early.pt")))
    seen: list[dict] = []
    run.subscribe(seen.append)
    try:
        run.start()
        assert run.wait(120) == "done", run.message
    finally:
        ex.shutdown()
    assert run.where.startswith("ray node"), run.where
    kinds = [e.get("kind") for e in seen]
    assert kinds.count("epoch") == 1 and {"status": "running"}.items() <= next(
        e for e in seen if e.get("kind") == "status").items(), kinds


@pytest.mark.slow
def test_a_killed_worker_costs_one_run_and_cancel_works_in_the_pool(tmp_path):
    from vizcore.lab.queue import Lab

    lab = Lab(tmp_path / "runs.sqlite", executor="process", workers=2)
    long = TrainConfig(model="small_cnn", dataset="shapes", train_size=256, val_size=32, epochs=50, batch_size=16,
                       log_every=1)
    short = TrainConfig(model="small_cnn", dataset="shapes", train_size=64, val_size=32, epochs=1, batch_size=16)
    try:
        doomed = lab.submit(long, name="doomed")
        cancelled = lab.submit(dataclasses.replace(long, seed=1), name="cancelled")
        after = lab.submit(short, name="after")
        assert lab.queued() == [after]  # two workers, two runs at once
        stepped: set[str] = set()
        for rid in (doomed, cancelled):
            lab.get_run(rid).subscribe(lambda ev, rid=rid: stepped.add(rid) if ev["kind"] == "step" else None)
        _wait_for(lambda: stepped == {doomed, cancelled})
        pid = int(lab.get_run(doomed).where.rsplit(" pid ", 1)[1])
        assert pid != os.getpid()
        # workers train 10 steps nicer than the app (pages first on a shared server), as the lab says
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
        assert "nice 10" in lab.describe()
        os.kill(pid, signal.SIGKILL)
        lab.cancel(cancelled)
        for rid in (doomed, cancelled, after):
            lab.wait(rid, 120)
        recs = {r.id: r for r in lab.store.list()}
        assert set(recs) == {doomed, cancelled, after}  # the store lists every run
        assert recs[doomed].status == "failed" and "killed by SIGKILL" in recs[doomed].message
        assert recs[cancelled].status == "cancelled"
        assert recs[after].status == "done" and recs[after].info["executor"] == "process"
        assert not any(r.status in ("queued", "running") for r in recs.values())
    finally:
        lab.shutdown(wait=True, timeout=30)


def test_a_worker_never_runs_the_apps_main_script(tmp_path, monkeypatch):
    # under `streamlit run` the main module is app.py: a spawned worker importing it again would run the whole app
    import multiprocessing as mp
    import types

    from vizcore.lab.pool import start_without_main

    marker = tmp_path / "ran"
    script = tmp_path / "app_like.py"
    script.write_text(f"open({str(marker)!r}, 'w').write('the main script ran in the worker')\n")
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", main)
    proc = mp.get_context("spawn").Process(target=os.getpid)
    start_without_main(proc)
    proc.join(60)
    assert proc.exitcode == 0 and not marker.exists()
    assert sys.modules["__main__"] is main  # put back
    # the plain start of the same process does run it: the check above can fail
    proc = mp.get_context("spawn").Process(target=os.getpid)
    proc.start()
    proc.join(60)
    assert marker.exists()
