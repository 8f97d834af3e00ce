"""A class follows the teacher's link: a fresh server, and several pages opened in sessions of their own at the
same moment.

Before the app imported what pages need in one place, two script threads importing the same module at once made
pages fail on a fresh server ("cannot import name 'image_picker' from 'pages._common'", "partially initialized
module 'pandas'"). Four sessions start at the same moment, the first by a deep link (a fresh server's first visitor
must get the navigation app, not a bare page file), on pages that import different parts of the app (the linear
classifier and k-NN, the zoo's tables, the Lab and its process pool) and Home; each must render with a title, the
app's navigation and no error element, and the server log must stay free of tracebacks and warnings. That every
module a page imports is imported in that one place is checked without a browser (tests/test_startup.py). Every
other page is opened in a real browser by a flow test of its own (tests/e2e); AppTest renders every page
(tests/pages/test_all_pages.py).
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.app_pages import app_pages
from tests.e2e.conftest import SERVER_LOG_PROBLEMS, new_page, wait_until_idle

pytestmark = pytest.mark.e2e

# the pages opened at once (deep links first, Home last): the two no flow test opens, and the Lab (its process pool)
CLASS_PAGES = ["first_classifiers", "architectures", "training_lab", ""]


def test_a_class_opens_pages_at_once(browser, server) -> None:
    # The session's server, still fresh: tests/e2e/conftest.py runs this test before every other browser test.
    paths = {"" if default else Path(path).stem for path, default in app_pages()}
    urls = CLASS_PAGES
    assert set(urls) <= paths and urls[0] and urls[-1] == ""
    srv = server
    opened: list[tuple[str, object, list[str]]] = []
    try:
        t0 = time.monotonic()
        # one browser context, a tab per student: each tab's websocket is its own Streamlit session, as each student's
        # is (a context per tab would only add Chromium's cost of loading the frontend without a cache)
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        for u in urls:
            page = new_page(ctx)
            errors: list[str] = []
            page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
            page.goto(f"{srv}/{u}", wait_until="commit", timeout=60_000)
            opened.append((u, page, errors))
        idle_s = {}
        for u, page, _ in opened:
            wait_until_idle(page, timeout_ms=240_000)
            idle_s[u or "home"] = round(time.monotonic() - t0, 1)
        for u, page, errors in opened:
            exc = page.locator('[data-testid="stException"]')
            assert exc.count() == 0, f"/{u}: {exc.first.inner_text()}"
            assert page.locator("h1").first.inner_text().strip(), f"/{u}: no title"
            sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
            # the app's navigation (its page titles), not Streamlit's list of the files in pages/ ("common")
            assert "Compute device" in sidebar and "Conv Arithmetic" in sidebar and "common" not in sidebar, f"/{u}"
            assert not errors, (u, errors)
        print(f"{len(urls)} sessions idle after (s): {idle_s}")
    finally:
        if opened:
            opened[0][1].context.close()
    # the whole log: anything since the server started (the autouse check reads only this test's part)
    log = srv.log_path.read_text(encoding="utf-8", errors="replace")
    bad = [ln for ln in log.splitlines() if SERVER_LOG_PROBLEMS.search(ln)]
    assert not bad, "server log:\n" + log[-4000:]
