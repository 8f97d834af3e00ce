"""A real server (`streamlit run app.py`) on a free localhost port and Debian's Chromium driven by Playwright.

The server's store already holds runs (tests/seed.py: finished runs with checkpoints, a cancelled one, a
finished A/B, few-labels runs), as a user's would after a while: issue 9's crash only showed then. Every test fails on
anything new in the server log that looks like a warning, an error or a traceback (checked after each test),
and the flow tests on any browser console error or Streamlit error element.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Debian's chromium-headless-shell: Blink and V8 as in Chromium, without the desktop browser's shell (the headless
# build Playwright itself uses); a fifth less of the browser's CPU time in these tests than Chromium's --headless
CHROMIUM = os.environ.get("CONVSCOPE_CHROMIUM") or next(
    (p for p in ("/usr/bin/chromium-headless-shell", "/usr/bin/chromium") if Path(p).exists()),
    "/usr/bin/chromium-headless-shell")
# --process-per-site: the tabs of one context (one user's tabs) share a renderer process, as a desktop browser's tabs
# of one site often do, so Streamlit's frontend (several MB of JavaScript, Plotly's 4.7 MB chunk) is compiled once
# per context instead of once per tab (browser tests on 2 cores: about a sixth less browser CPU, 125-143 -> 111-121 s
# wall). A newcomer's context still has a process of its own.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--process-per-site"]


# Streamlit's spinners, skeletons and status icons animate for as long as a page waits; in a dozen headless tabs
# that repainting was most of the browser's CPU time. Tests look at what is shown, never at motion.
NO_MOTION = ("document.addEventListener('DOMContentLoaded', () => { const s = document.createElement('style');"
             " s.textContent = '*, *::before, *::after { animation: none !important; transition: none !important; }';"
             " document.head.appendChild(s); });")


# When the script last started running and when the user last acted (a click, a key, a changed input), in the
# page's own clock: an action's rerun is asked of the server asynchronously, so right after a click the app still
# says "notRunning" until the server's answer arrives. wait_until_idle waits for a run that started after the last
# action (or for a second without one: a click that reruns nothing, such as a tab of st.tabs).
RUN_WATCH = ("(() => { const w = window; w.__csActed = 0; w.__csStarted = 0;"
             " for (const t of ['click', 'keydown', 'change']) w.addEventListener(t, () => { w.__csActed = performance.now(); }, true);"
             " new MutationObserver(ms => { for (const m of ms) if (m.target.getAttribute('data-test-script-state') === 'running')"
             " w.__csStarted = performance.now(); }).observe(document, {attributes: true, subtree: true,"
             " attributeFilter: ['data-test-script-state']}); })();")


def new_page(browser_or_context, viewport: dict[str, int] | None = None):
    """A page with motion switched off: of a browser (in a context of its own, caches empty, as a newcomer's
    browser) or of a context (sharing its caches, as one user's tabs do), ``viewport`` sized."""
    from playwright.sync_api import BrowserContext

    if isinstance(browser_or_context, BrowserContext):
        page = browser_or_context.new_page()
        if viewport:
            page.set_viewport_size(viewport)
    else:
        page = browser_or_context.new_page(**({"viewport": viewport} if viewport else {}))
    page.add_init_script(NO_MOTION)
    page.add_init_script(RUN_WATCH)
    return page


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVER_LOG_PROBLEMS = re.compile(r"Traceback|Error|Exception|Warning|WARNING|unsuccessful")


class Server(str):
    """The server's URL (a str), with its data directory and log file."""

    data_dir: Path
    log_path: Path
    pid: int

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_since(self, offset: int) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            f.seek(offset)
            return f.read()


@contextmanager
def running_server(data: Path, env_extra: dict[str, str] | None = None) -> Iterator[Server]:
    """``streamlit run app.py`` on a free localhost port over data directory ``data``, healthy; stopped after."""
    port = _free_port()
    # the executor a user gets by default (the process pool: runs train in a spawned worker), not the in-process
    # one the unit tests' labs use; one worker, so the flows' queue positions are those of a lab training one run
    # at a time (tests/vizcore/test_executors.py runs two workers and a Ray head)
    env = {k: v for k, v in os.environ.items() if k not in ("CONVSCOPE_EXECUTOR", "RAY_ADDRESS")}
    env = {**env, "CONVSCOPE_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1", "CONVSCOPE_WORKERS": "1",
           **(env_extra or {})}
    log = open(data / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true", "--server.address=127.0.0.1",
         f"--server.port={port}", "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}: {(data / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("streamlit did not become healthy within 120 s")
            time.sleep(0.5)
        srv = Server(url)
        srv.data_dir, srv.log_path, srv.pid = data, data / "server.log", proc.pid
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from tests.seed import seed_few_labels, seed_store

    data = tmp_path_factory.mktemp("e2e-data")
    seeded = seed_store(data)
    seed_few_labels(data)  # the few-labels runs a user of that page would have, beside the Lab's
    with running_server(data) as srv:
        srv.seeded = seeded
        yield srv
    # and its stop: nothing in the log once the server has gone (workers ended with it, none respawned)
    log = (data / "server.log").read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log, "server log at stop:\n" + log[-3000:]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium-headless-shell (see README's "
                    "test command)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def context(browser) -> Iterator[object]:
    """One browser context for the session's tabs: they share Chromium's HTTP and compiled-code caches, as one
    user's tabs do (a tab still opens a Streamlit session of its own: its own websocket, its own state).
    Loading Streamlit's frontend into an empty cache costs the browser seconds of CPU per tab."""
    ctx = browser.new_context()
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture(autouse=True)
def server_log_stays_clean(request) -> Iterator[None]:
    """After each browser test: nothing in the server log that looks like a warning, an error or a traceback."""
    if "server" not in request.fixturenames:
        yield
        return
    srv: Server = request.getfixturevalue("server")
    start = srv.log_size()
    yield
    new = srv.log_since(start)
    bad = [ln for ln in new.splitlines() if SERVER_LOG_PROBLEMS.search(ln)]
    assert not bad, "server log:\n" + new[-4000:]


_IDLE = ("() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
         " return a && a.getAttribute('data-test-script-state') === 'notRunning'"
         " && !document.querySelector('[data-testid=\"stStatusWidget\"]'); }")
# idle, and no rerun of the last action still to come: one started since, or a second went by without one
_SETTLED = ("() => { const w = window; if (w.__csActed === undefined) return true;"
            " return w.__csStarted > w.__csActed || performance.now() - w.__csActed > 1000; }")


def wait_until_idle(page, timeout_ms: int = 180_000) -> None:
    """Wait for the script run to finish (the app reports notRunning) with a title rendered, after the run that
    the last action asked for has started (RUN_WATCH; a page without it waits half a second instead), and for
    it to be finished again a moment later: a rerun the run itself asked for starts within that moment."""
    page.wait_for_selector("h1", timeout=timeout_ms)
    page.wait_for_function(f"() => ({_SETTLED})() && ({_IDLE})()", timeout=timeout_ms, polling=50)
    if page.evaluate("() => window.__csActed === undefined"):
        page.wait_for_timeout(500)
    else:
        page.wait_for_timeout(200)
    page.wait_for_function(_IDLE, timeout=timeout_ms, polling=50)


@contextmanager
def opened(browser, url: str, height: int = 1000) -> Iterator[tuple[object, list[str]]]:
    """A new page at ``url``, loaded until the script run ends; yields (page, JavaScript errors seen), then closes."""
    page = new_page(browser, viewport={"width": 1400, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(url, wait_until="domcontentloaded", timeout=120_000)
        wait_until_idle(page)
        yield page, errors
    finally:
        page.close()


# ---------------------------------------------------------------------------------------- flows as a user


# Streamlit's frontend, opened at a link to a page, first looks for the server under that page's path (404), then
# at the root: its own probe, not a fault of the app
_BASE_PATH_PROBE = re.compile(r"/[^/]+/_stcore/(health|host-config)$")


@contextmanager
def app(browser, server: str, height: int = 1200, path: str = "") -> Iterator[tuple[object, list[str]]]:
    """The app opened at its home page (or at ``path``, a link to one page), as a user would (pages are then
    reached through the sidebar, so one browser session keeps its state); yields (page, problems), where problems
    collects JavaScript errors and browser console errors."""
    page = new_page(browser, viewport={"width": 1400, "height": height})
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" and not _BASE_PATH_PROBE.search(m.location.get("url", "")) else None)
    try:
        page.goto(f"{server}/{path}", wait_until="domcontentloaded", timeout=120_000)
        wait_until_idle(page)
        yield page, problems
    finally:
        page.close()


@pytest.fixture(scope="session")
def _shared_tab(context, server) -> Iterator[tuple[object, list[str]]]:
    with app(context, server, height=1400) as opened:  # one tab for the whole session
        yield opened


@pytest.fixture
def tab(_shared_tab) -> tuple[object, list[str]]:
    """The app in one browser tab (one session) that the flow tests share, as one user moving between pages:
    each test goes to its page through the sidebar (a new tab costs seconds of CPU for Streamlit's frontend
    alone). Yields (page, problems), problems collecting JavaScript and console errors seen during the test."""
    page, problems = _shared_tab
    problems.clear()
    return page, problems


def go_to(page, title: str, heading: str | None = None) -> None:
    """Open a page through the sidebar navigation; done when its title (``heading``, else the first word of
    ``title``) is shown."""
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    heading = heading or title.split()[0]
    page.wait_for_function(f"() => document.querySelector('h1') && document.querySelector('h1').innerText.includes({heading!r})",
                           timeout=120_000)
    wait_until_idle(page)


def set_number(page, key: str, value: int) -> None:
    box = page.locator(f".st-key-{key} input")
    box.fill(str(value))
    box.press("Enter")
    wait_until_idle(page)


def assert_clean(page, problems: list[str], expected_error: str | None = None) -> None:
    """No Streamlit error element (exceptions, st.error boxes — but the one ``expected_error`` starts, if given)
    and no browser problem so far."""
    exc = page.locator('[data-testid="stException"]')
    assert exc.count() == 0, exc.first.inner_text()
    errors = [t for t in page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
              if not (expected_error and t.strip().startswith(expected_error))]
    assert not errors, errors
    assert not problems, problems


def pytest_collection_modifyitems(session, config, items) -> None:
    """The class test first: it must meet the session's server fresh, before any other test has warmed it."""
    first = [i for i in items if i.nodeid.startswith("tests/e2e/test_class.py")]
    rest = [i for i in items if i not in first]
    at = next((k for k, i in enumerate(rest) if i.nodeid.startswith("tests/e2e/")), len(rest))
    items[:] = rest[:at] + first + rest[at:]
