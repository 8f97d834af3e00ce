"""Shared test set-up: a private data directory and a small thread count so runs are repeatable."""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    d = tmp_path_factory.mktemp("convscope-data")
    os.environ["CONVSCOPE_DATA_DIR"] = str(d)
    os.environ.setdefault("TORCH_HOME", str(d / "torch_home"))
    # Labs made by tests train in the test process (page tests stub the engine's run there); the process pool
    # and Ray executors are tested on their own (tests/vizcore/test_executors.py) and pick them explicitly.
    os.environ.setdefault("CONVSCOPE_EXECUTOR", "inprocess")
    os.environ.pop("RAY_ADDRESS", None)
    if os.environ.get("PYTEST_XDIST_WORKER"):  # two test processes on two cores: one torch thread each
        import torch

        torch.set_num_threads(1)


CALIBRATED_RATES = (1500.0, 4500.0)  # training and evaluation images per second a calibration reports here
# the tests of the measurement itself, and of what is computed from measured rates
MEASURING = {"tests.vizcore.test_timing", "tests.vizcore.test_sweep"}


@pytest.fixture(autouse=True)
def fixed_calibration(request, monkeypatch) -> None:
    """A training run's preflight estimates its time; with no finished run to rest on, the estimate times a few
    training steps of the model on this machine (a second or more per model and size, in every test that starts a
    run or draws the Training Lab). Here it reports CALIBRATED_RATES instead: what uses the estimate is under
    test; the measurement itself is tested in tests/vizcore/test_timing.py and runs for real in the browser
    tests' servers."""
    mod = request.module.__name__
    if mod in MEASURING or not mod.startswith(("tests.pages.", "tests.vizcore.")):  # (browser tests: real servers)
        return
    from vizcore.train import calibration

    monkeypatch.setattr(calibration, "calibrate", lambda *args, **kwargs: CALIBRATED_RATES)


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread for a module's training tests: two OpenMP threads on two shared cores mostly wait on
    each other. The previous count is restored afterwards."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


# Slow tests marked from here rather than by a decorator: the time-estimate tests that calibrate on this machine.
SLOW_BY_NAME = {
    "tests/vizcore/test_timing.py::test_a_stalled_step_does_not_set_the_calibrated_rate",
    "tests/vizcore/test_timing.py::test_without_history_a_short_calibration_measures_this_machine",
}


# The browser tests form two groups, each run in one test process against a server of its own (`--dist
# loadgroup`): both test processes drive a browser at once instead of one doing all of it while the other runs out
# of unit tests. Group "browser" holds the class test, which must meet its server fresh (tests/e2e/conftest.py puts
# it first); the groups are balanced by the CPU time their tests take.
BROWSER_GROUP_A = {"test_class.py", "test_adversarial_browser.py", "test_gradcam_browser.py", "test_newcomer.py",
                   "test_url_state_browser.py", "test_own_weights_browser.py", "test_playground_browser.py"}


def browser_group(nodeid: str) -> str | None:
    """The xdist group of a test: "browser" or "browser-b" for the browser tests, else None."""
    if not nodeid.startswith("tests/e2e/"):
        return None
    return "browser" if nodeid.split("::")[0].rsplit("/", 1)[-1] in BROWSER_GROUP_A else "browser-b"


def pytest_itemcollected(item) -> None:
    """Marked as each test is collected, before pytest-xdist reads the groups."""
    group = browser_group(item.nodeid)
    if group:
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_collection_modifyitems(session, config, items) -> None:
    """Every browser test is slow (a real server and Chromium); so are the tests named in SLOW_BY_NAME."""
    for item in items:
        if item.nodeid.startswith("tests/e2e/") or item.nodeid.split("[")[0] in SLOW_BY_NAME:
            item.add_marker(pytest.mark.slow)


def pytest_collection_finish(session) -> None:
    """Fail loudly when pytest-xdist did not group the browser tests (pytest 9.2 renamed the attribute xdist 3.8
    writes the group to: each test process would then start a server of its own)."""
    config = session.config
    if not (os.environ.get("PYTEST_XDIST_WORKER") and config.getvalue("loadgroup")):
        return
    loose = [i.nodeid for i in session.items if i.nodeid.startswith("tests/e2e/") and "@browser" not in i.nodeid]
    if loose:
        raise pytest.UsageError(f"pytest-xdist left {len(loose)} browser tests ungrouped (e.g. {loose[0]}): "
                                "check the pytest and pytest-xdist versions in requirements-dev.txt")
