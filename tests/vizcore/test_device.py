"""Device choice: cuda, then mps, else cpu; an explicit choice is validated; CUDA paths run where CUDA is."""
from __future__ import annotations

import pytest
import torch

from vizcore.arch import summary
from vizcore.core import device
from vizcore.models import weights as zoo


def test_pick_device_falls_back_in_order(monkeypatch) -> None:
    monkeypatch.delenv("CONVSCOPE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device, "_mps_available", lambda: False)
    assert device.pick_device().type == "cpu"
    monkeypatch.setattr(device, "_mps_available", lambda: True)
    assert device.pick_device().type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device.pick_device().type == "cuda"


def test_explicit_choice_is_checked(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device.pick_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="CUDA is not available"):
        device.pick_device("cuda")
    monkeypatch.setenv("CONVSCOPE_DEVICE", "cpu")
    assert device.pick_device().type == "cpu"


def test_describe_cpu() -> None:
    old = torch.get_num_threads()
    try:
        for n, words in ((1, ", 1 thread"), (2, ", 2 threads")):
            torch.set_num_threads(n)
            info = device.describe("cpu")
            assert info.kind == "cpu" and info.name.endswith(words) and info.label.startswith("CPU")
    finally:
        torch.set_num_threads(old)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_summary_on_cuda_matches_cpu() -> None:
    m = zoo.get_model("resnet18")
    cpu = summary.summarize(m, (3, 224, 224))
    gpu = summary.summarize(m.cuda(), (3, 224, 224), device="cuda")
    assert [r.out_shape for r in cpu.layers] == [r.out_shape for r in gpu.layers]
    assert cpu.total_macs == gpu.total_macs and cpu.total_params == gpu.total_params
    assert device.describe().kind == "cuda"


def test_the_machine_says_when_it_is_busy(monkeypatch) -> None:
    """Issue 26, defect 4: under load a 47 s run took 537 s and nothing said why."""
    import os

    from vizcore.core import device

    monkeypatch.setattr(os, "getloadavg", lambda: (6.0, 5.0, 4.0))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert device.load_per_core() == 3.0
    assert device.busy_text().startswith("The server is busy (load 6.0 on 2 cores)")
    monkeypatch.setattr(os, "getloadavg", lambda: (1.0, 1.0, 1.0))
    assert device.busy_text() is None
    assert device.busy_text(float("nan")) is None


def test_app_threads_half_the_cores_or_the_setting_and_a_bad_setting_in_words(monkeypatch, capsys):
    import torch

    from vizcore.core.device import app_threads, use_app_threads

    assert [app_threads(c, env="") for c in (1, 2, 3, 4, 16, 64)] == [1, 1, 1, 2, 8, 8]
    assert app_threads(2, env="3") == 3
    with pytest.raises(ValueError, match="expected CONVSCOPE_APP_THREADS to be a whole number, got 'two'"):
        app_threads(2, env="two")
    with pytest.raises(ValueError, match="expected CONVSCOPE_APP_THREADS between 1 and 256, got 0"):
        app_threads(2, env="0")
    old = torch.get_num_threads()
    try:
        monkeypatch.setenv("CONVSCOPE_APP_THREADS", "2")
        assert use_app_threads() == 2 == torch.get_num_threads()
        monkeypatch.setenv("CONVSCOPE_APP_THREADS", "lots")
        assert use_app_threads() == app_threads(env="") == torch.get_num_threads()
        assert "expected CONVSCOPE_APP_THREADS to be a whole number, got 'lots'; using" in capsys.readouterr().err
    finally:
        torch.set_num_threads(old)


def _spin() -> None:  # a busy process: another session's work on a shared machine
    while True:
        pass


def test_runnable_now_sees_work_that_just_started_and_a_run_counts_its_own_thread(tmp_path):
    """Two busy processes started a moment ago are in the count at once (the 1-minute average lags them), and the
    load a run would meet adds its own thread (bench/estimates.py: under two busy processes the old estimate said
    27 s for a run that took 44 s)."""
    import multiprocessing as mp
    import os
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("the count of running threads is read from Linux's /proc/loadavg")
    from vizcore.lab import history

    ctx = mp.get_context("fork")  # the children only spin: nothing of torch's state is used in them
    procs = [ctx.Process(target=_spin, daemon=True) for _ in range(2)]
    for p in procs:
        p.start()
    try:
        import time

        time.sleep(0.2)  # both started
        device._RUNNABLE.clear()
        assert device.runnable_now(fresh_s=0) >= 2.0  # busy loops never wait: both always ready to run
        device._RUNNABLE.clear()
        cores = os.cpu_count() or 1
        assert history.load_for_a_run(tmp_path / "none.sqlite") >= (2 + 1) / cores  # empty store: nothing of the Lab's
    finally:
        for p in procs:
            p.kill()
            p.join()
        device._RUNNABLE.clear()
