"""Page tests (AppTest): a store that already holds finished runs, and no Arrow fallback in any table.

Issue 9: the Lab's A/B flow crashed only when runs already existed, and a table column mixing '' and integers
logged a traceback on every rerun — neither showed in page tests that started from an empty store and did not
read Streamlit's log.
"""
from __future__ import annotations

import logging

import pytest

from tests.seed import Seeded, seed_store, stub_training

ARROW_FALLBACK = "Serialization of dataframe to Arrow table was unsuccessful"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_arrow_fallback():
    """Fail any page test whose tables Streamlit had to re-type column by column (it logs a traceback)."""
    logger = logging.getLogger("streamlit.dataframe_util")  # the logger streamlit.dataframe_util writes to
    handler, level = _Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    bad = [r.getMessage() for r in handler.records if ARROW_FALLBACK in r.getMessage()]
    assert not bad, f"a table mixes types in a column: {bad[0]}"


@pytest.fixture(autouse=True, scope="session")
def _components_scanned_once():
    """Each new AppTest's first run scans the metadata of every installed distribution for Streamlit components
    (``BidiComponentManager.discover_and_register_components``): about a tenth of a second each time, a tenth of
    these tests' time in all. The installed packages do not change during a test session, so the first scan's
    result is handed to every later AppTest (a Streamlit without the scanner is left as it is)."""
    try:
        from streamlit.components.v2 import manifest_scanner
    except ImportError:
        yield
        return
    found = manifest_scanner.scan_component_manifests()
    patch = pytest.MonkeyPatch()
    patch.setattr(manifest_scanner, "scan_component_manifests", lambda *args, **kwargs: list(found))
    yield
    patch.undo()


POLL_S = 0.01  # how often a test looks whether an AppTest script run has ended


@pytest.fixture(autouse=True, scope="session")
def _script_runs_polled_gently():
    """AppTest waits for each script run by looking every millisecond whether it has ended (``time.sleep(0.001)``
    in ``require_widgets_deltas``), and each look scans the run's events and takes the interpreter lock from the
    script's thread, which is computing: a few per cent of these tests' CPU time. Here it looks every
    :data:`POLL_S` seconds instead, with the same timeout and the same error (a Streamlit without that function
    is left as it is)."""
    import time

    try:
        from streamlit.testing.v1 import local_script_runner as runner_module
    except ImportError:
        yield
        return
    if not callable(getattr(runner_module, "require_widgets_deltas", None)):
        yield
        return

    def require_widgets_deltas(runner, timeout: float = 3) -> None:
        t0 = time.time()
        while time.time() - t0 < timeout:
            time.sleep(POLL_S)
            if runner.script_stopped():
                return
        runner.request_stop()  # as Streamlit's own: stop the run before raising, so it does not run on
        runner.join()
        raise RuntimeError(f"AppTest script run timed out after {timeout}(s)")

    patch = pytest.MonkeyPatch()
    patch.setattr(runner_module, "require_widgets_deltas", require_widgets_deltas)
    yield
    patch.undo()


def _shutdown_labs() -> None:
    from vizcore.lab import queue as runs

    for lab in list(runs._LABS.values()):  # no run outlives its test
        lab.shutdown(wait=True, timeout=30)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An empty data directory (no runs yet)."""
    d = tmp_path / "convscope"
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(d))
    yield d
    _shutdown_labs()


@pytest.fixture
def seeded(tmp_path, monkeypatch) -> Seeded:
    """A data directory whose store already holds finished runs, a cancelled one and a finished A/B."""
    d = tmp_path / "seeded"
    out = seed_store(d)
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(d))
    yield out
    _shutdown_labs()


@pytest.fixture
def stub_runs(monkeypatch) -> None:
    """Runs started from a page train nothing and finish at once, each epoch of their config recorded as the engine
    records it (tests/seed.py: StubRun): the page's logic is under test here, training is not."""
    stub_training(monkeypatch)
