"""The main flows of issue 9 in a real browser, on a server whose store already holds runs (tests/seed.py).

Each flow fails on any Streamlit error element, any browser console or JavaScript error, and (conftest.py)
anything in the server log that looks like a warning, an error or a traceback. One flow trains for real (a run
cancelled from a second tab, an A/B of runs of 64 images and one epoch queued behind it); the page tests drive the
same pages with stub runs.
"""
from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import app, assert_clean, go_to, set_number, wait_until_idle

pytestmark = pytest.mark.e2e

PROGRESS = '[data-testid="stProgress"]'
# (an element being redrawn stays on the page, marked data-stale="true", until its replacement arrives)


WATCH_BOX = '[class*="st-key-lab_watch"] input'  # the live view's box (a new key each time it follows a run)


def _watched(page, timeout_ms: int = 60_000) -> str:
    """The run the live view's box shows, read while nothing is being redrawn (during a rerun the box being
    replaced and its replacement are both on the page for a moment)."""
    return page.wait_for_function(
        "sel => { const boxes = document.querySelectorAll(sel);"
        " return !document.querySelector('[data-stale=true]') && boxes.length === 1 ? boxes[0].value : null; }",
        arg=WATCH_BOX, timeout=timeout_ms, polling=100).json_value()


def _count_settled(page, text: str, expected: int, timeout_ms: int = 60_000) -> None:
    """Wait until ``text`` shows ``expected`` times on the page while nothing is being redrawn; fails (saying what
    was seen) when it never does: a copy that stays is a defect, one in a rerun's moment is not."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    js = ("([t, n]) => !document.querySelector('[data-stale=true]')"
          " && document.querySelector('[data-testid=stMain]').innerText.split(t).length - 1 === n")
    try:
        page.wait_for_function(js, arg=[text, expected], timeout=timeout_ms, polling=100)
    except PlaywrightTimeout:
        seen = page.locator('[data-testid="stMain"]').inner_text().count(text)
        raise AssertionError(f"{text!r} shown {seen} times, expected {expected}") from None


# every live chart that is not being redrawn has a trace with data (numpy arrays arrive base64-encoded: bdata)
CHART_HAS_DATA = ("() => [...document.querySelectorAll('.st-key-lab_live_chart[data-stale=false] .js-plotly-plot')]"
                  ".every(gd => (gd.data || []).some(t => t.x && (t.x.length || (t.x.bdata || '').length)))")


def _shown(page, key: str) -> str:
    """The option a select box shows."""
    return page.locator(f".st-key-{key} input").input_value()


def _wait_text(page, selector: str, pattern: str, timeout_ms: int = 180_000) -> str:
    """Wait (without touching the page) until an element matching ``selector`` has text matching ``pattern``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        found = page.wait_for_function(
            "([sel, pat]) => { const e = [...document.querySelectorAll(sel)].find(e => new RegExp(pat).test(e.innerText));"
            " return e ? e.innerText : null; }",
            arg=[selector, pattern], timeout=timeout_ms, polling=300)
    except PlaywrightTimeout:  # say what was there instead
        seen = page.locator(selector).all_inner_texts()
        raise AssertionError(f"no {selector} matched {pattern!r} in {timeout_ms / 1000:.0f} s; shown: {seen}") from None
    return found.json_value()


def _one_fresh(page, selector: str, timeout_ms: int = 60_000) -> None:
    """Wait until exactly one element matches ``selector`` (a live fragment rerunning marks its chart stale for a
    moment; an instant count races it on a loaded machine)."""
    page.wait_for_function("sel => document.querySelectorAll(sel).length === 1", arg=selector,
                           timeout=timeout_ms, polling=200)


def _runs_table_fits(page) -> None:
    """The Runs table is no wider than its area: no column cut off at the right (issue 9: "cancell")."""
    fits = page.evaluate("""() => { const tables = [...document.querySelectorAll('[data-testid="stDataFrame"]')];
        const t = tables[tables.length - 1]; const s = t.querySelector('.dvn-scroller');
        return s ? s.scrollWidth <= s.clientWidth + 1 : null; }""")
    assert fits, "the Runs table scrolls sideways: a column is cut off"


def _lab_idle(server, timeout_s: float = 300.0) -> None:
    """Wait until no run of the shared server is queued or training: queue positions count from an idle lab."""
    import time

    from vizcore.lab.store import RunStore

    end = time.monotonic() + timeout_s
    while True:
        store = RunStore(server.data_dir / "runs.sqlite", readonly=True)
        busy = [r.name for r in store.list() if r.status in ("queued", "running")]
        store.close()
        if not busy:
            return
        assert time.monotonic() < end, f"runs still queued or training: {busy}"
        time.sleep(1.0)


def test_a_run_an_ab_behind_it_a_second_tab_that_cancels_it_and_the_comparison_by_itself(tab, server,
                                                                                          context) -> None:
    """The one browser flow that really trains (page tests use stub runs). A run starts; an A/B of four tiny runs
    is queued behind it and the live view follows the A/B's first run, saying where it stands in the queue; a
    second tab (a reload, a classmate) watches the run that trains, shows the A/B as it was queued, and cancels
    the run; the first tab, left alone, sees the A/B's first run train and finish and the comparison drawn by
    itself; then a stored run is opened in another page."""
    page, problems = tab
    _lab_idle(server)
    go_to(page, "Training Lab")
    caption = page.get_by_text(re.compile(r"^Peak LR")).inner_text()
    assert re.search(r"(\d+ min )?\d+ s to (\d+ min )?\d+ s per run \(", caption), caption  # a range, in words
    assert "images/s" not in caption and "steps of" not in caption  # no internals

    # 1 · a run that trains a while: few images (its data are made at once) and many epochs; the A/B's validation
    # size and seeds set now, so that only two settings change while this run trains (its CPU time is the flow's)
    set_number(page, "lab_time_budget", 3600)  # a loaded machine's estimate must not refuse the run
    set_number(page, "lab_val_size", 32)
    set_number(page, "lab_n_seeds", 2)
    set_number(page, "lab_train_size", 2000)
    set_number(page, "lab_epochs", 100)
    page.locator(".st-key-lab_run_name input").fill("long run")
    page.locator(".st-key-lab_run_name input").press("Enter")
    wait_until_idle(page)
    page.get_by_role("button", name="Start run").click()
    wait_until_idle(page)
    assert_clean(page, problems)  # started, not refused
    _wait_text(page, PROGRESS, r"long run: (training|preparing)")

    # 2 · an A/B of tiny runs (64 images, batch 64: one step each) queued behind it
    set_number(page, "lab_train_size", 64)
    set_number(page, "lab_epochs", 1)
    # said before queueing (waited for: on a loaded machine the rerun for the last number may still be on its way;
    # the seeds' warning shows since the seeds were set, the one-step warning only once the epochs' rerun is done)
    _wait_text(page, '[data-testid="stAlertContentWarning"]', r"optimizer step")
    assert "too few to decide" in " ".join(page.locator('[data-testid="stAlertContentWarning"]').all_inner_texts())
    queue = page.get_by_role("button", name=re.compile(r"Queue 4 runs"))
    assert re.search(r"\d+ s to (\d+ min )?\d+ s in all", queue.inner_text()), queue.inner_text()
    queue.click()
    wait_until_idle(page)
    assert_clean(page, problems)
    # the live view follows the comparison's first run: it waits, and says where it stands
    where = _wait_text(page, '[data-testid="stAlertContainer"]', r"Waiting: place 1 in the queue, 1 run ahead")
    assert "the lab trains 1 at a time" in where
    # the new comparison is the one shown (the seeded A/B is older), before any of its runs has finished
    page.wait_for_function("() => { const e = document.querySelector('.st-key-lab_exp_select input');"
                           " return e && e.value.includes('A/B: cosine'); }", timeout=60_000, polling=300)

    # 3 · a second tab: it watches the run that trains, shows the A/B as it was queued, and cancels the run
    with app(context, server, height=1400, path="training_lab") as (other, other_problems):  # a link, a new tab
        watched = _wait_text(other, PROGRESS, r".")
        assert re.match(r"long run: (training|preparing)", watched), watched
        assert "long run" in _watched(other)
        assert other.locator(".st-key-lab_train_size input").input_value() == "64"
        assert other.locator(".st-key-lab_n_seeds input").input_value() == "2"
        assert "is training (4 runs)" in other.locator('[data-testid="stAlertContainer"]').first.inner_text()
        assert "A/B: cosine" in _shown(other, "lab_exp_select")
        assert_clean(other, other_problems)
        wait_until_idle(other)
        other.get_by_role("button", name="Cancel this run").click()
        said = _wait_text(other, '[data-testid="stAlertContainer"]', r"^long run: cancelled", 120_000)
        # the status once (not also in a progress bar), and no chart frames without data
        _count_settled(other, said.strip().split(" — ")[0], 1)
        assert other.locator(PROGRESS).count() == 0 or "cancelled" not in other.locator(PROGRESS).first.inner_text()
        # (waited for, not read at once: a fragment tick may be redrawing the chart; a frame left empty fails)
        other.wait_for_function(CHART_HAS_DATA, timeout=30_000, polling=200)
        assert "running" not in _watched(other)
        assert_clean(other, other_problems)
        wait_until_idle(other)  # closed only once its script run ended (a tab closed mid-handshake logs a traceback)

    # 4 · the first tab, untouched since: the A/B's runs train and its comparison is drawn by itself
    _wait_text(page, '[data-testid="stAlertContainer"]', r"too few seeds to decide|no seed-to-seed variation",
               300_000)  # both seeds of both arms done
    _one_fresh(page, ".st-key-lab_bar_chart[data-stale=false] .js-plotly-plot")
    assert "A/B: cosine" in _shown(page, "lab_exp_select")
    assert page.get_by_text("4 · Paper says vs you measured").count() == 1  # sections 4-6 still there
    # wall time is never presented as the trick's effect: the table's caption (or warning) says why
    _wait_text(page, '[data-testid="stCaptionContainer"], [data-testid="stAlertContainer"]',
               r"Wall time and throughput depend on what else the server ran")
    # the watched run (the A/B's first) trained and finished while watched: said with its accuracy, no stale
    # status in the box, and its live chart drawn with data
    done = _wait_text(page, PROGRESS, r": finished")
    assert "final val accuracy" in done
    wait_until_idle(page)
    watched = _watched(page)
    assert "cosine" in watched and "running" not in watched
    _one_fresh(page, ".st-key-lab_live_chart[data-stale=false] .js-plotly-plot")
    assert page.locator(".st-key-lab_live_chart[data-stale=false] .js-plotly-plot").evaluate("gd => gd.data.length") > 0
    _runs_table_fits(page)
    assert_clean(page, problems)

    # 5 · a stored run opened in another page: that page shows its model and weights
    box = page.locator(".st-key-lab_manage_select input")
    box.click()
    box.fill("seeded baseline")  # typing filters the (virtualised) list of runs
    page.get_by_role("option", name=re.compile(r"^seeded baseline")).click()
    wait_until_idle(page)
    page.get_by_role("button", name="Open in other pages").click()
    wait_until_idle(page)
    page.get_by_role("link", name="Open the Receptive Field page").click()
    page.wait_for_function("() => { const h = document.querySelector('h1'); return h && h.innerText.includes('Receptive'); }",
                           timeout=120_000)
    wait_until_idle(page)
    assert "Small CNN" in _shown(page, "rf_model")
    caption = _wait_text(page, '[data-testid="stCaptionContainer"]', r"Weights: Training Lab run")
    assert "seeded baseline" in caption
    assert_clean(page, problems)


def test_click_a_unit_on_the_receptive_field_page(tab) -> None:
    page, problems = tab
    go_to(page, "Receptive Field")
    _wait_text(page, '[data-testid="stMetric"]', r"Centre \(row, col\)")
    before = _wait_text(page, '[data-testid="stMetric"]', r"Centre")
    grid = page.locator('[class*="st-key-rf_grid"] .js-plotly-plot').first
    xy = grid.evaluate("""gd => { const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        const r = gd.getBoundingClientRect();
        return [r.left + xa._offset + xa.l2p(1), r.top + ya._offset + ya.l2p(2)]; }""")
    page.mouse.click(*xy)  # unit row 2, column 1
    after = _wait_text(page, '[data-testid="stMetric"]', r"Centre")
    page.wait_for_function("b => ![...document.querySelectorAll('[data-testid=\"stMetric\"]')]"
                           ".some(e => e.innerText === b)", arg=before, timeout=120_000)
    wait_until_idle(page)
    after = _wait_text(page, '[data-testid="stMetric"]', r"Centre")
    assert after != before
    assert page.locator('[class*="st-key-rf_i_"] input[type=range]').input_value() == "2"
    assert page.locator('[class*="st-key-rf_j_"] input[type=range]').input_value() == "1"
    assert_clean(page, problems)


def test_impossible_conv_arithmetic_setting(tab) -> None:
    page, problems = tab
    go_to(page, "Conv Arithmetic")
    # Play/Pause do not overlap the position slider or its label
    boxes = page.locator(".st-key-ca_anim .js-plotly-plot").evaluate("""gd => {
        const r = e => e.getBoundingClientRect();
        const buttons = [...gd.querySelectorAll('.updatemenu-button')].map(r);
        const slider = [...gd.querySelectorAll('.slider-label, .slider-rail-rect, .slider-grip-rect')].map(r);
        return {buttons: buttons.map(b => [b.left, b.top, b.right, b.bottom]),
                slider: slider.map(b => [b.left, b.top, b.right, b.bottom])}; }""")
    assert boxes["buttons"] and boxes["slider"]
    for b in boxes["buttons"]:
        for s in boxes["slider"]:
            assert b[2] <= s[0] or s[2] <= b[0] or b[3] <= s[1] or s[3] <= b[1], (b, s)
    # a widget changes the output: stride 2 (the box found by its label)
    assert "16×7×7" in page.locator('[data-testid="stMetric"]').first.inner_text()
    stride = page.get_by_label("Stride S")
    stride.fill("2")
    stride.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stMetric\"]').innerText.includes('16×4×4')",
        timeout=60_000)
    wait_until_idle(page)
    assert_clean(page, problems)
    set_number(page, "ca_s", 1)  # back to stride 1: the settings below and what would work are said for it
    set_number(page, "ca_k", 11)
    set_number(page, "ca_p", 0)
    msg = _wait_text(page, '[data-testid="stAlertContentError"]', r"Impossible settings")
    assert msg.lower().count("impossible settings") == 1
    _wait_text(page, '[data-testid="stMain"]', r"K = 7")  # what would work, in place (waited for: a loaded machine
    # may show the error box a moment before the rest of the rerun)
    assert page.locator(".st-key-ca_k input").is_visible()
    assert_clean(page, problems, expected_error="Impossible settings:")
    set_number(page, "ca_k", 7)
    assert "16×1×1" in _wait_text(page, '[data-testid="stMetric"]', r"Output")
    assert_clean(page, problems)
