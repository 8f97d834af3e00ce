"""What a newcomer meets (issue 26), in a real browser on a server whose store already holds runs, with a run in
flight: every page linked from Home, the scaling explorer at its widgets' extremes, time estimates as ranges in
words, a queued run's place in the queue, and a second tab during a comparison that watches the run training
and shows the comparison as it was queued.
"""
from __future__ import annotations

import re

import pytest

from pages._nav import all_pages
from tests.e2e.conftest import app, assert_clean, go_to, set_number, wait_until_idle
from tests.e2e.test_flows import PROGRESS, WATCH_BOX, _shown, _wait_text, _watched

pytestmark = pytest.mark.e2e


def _set_float(page, key: str, value: float) -> None:
    box = page.locator(f".st-key-{key} input")
    box.fill(f"{value}")
    box.press("Enter")
    wait_until_idle(page)


def test_home_links_every_page_and_scaling_survives_its_extremes(server: str, browser) -> None:
    with app(browser, server) as (page, problems):
        main = page.locator('[data-testid="stMain"]')
        for info in all_pages():
            if not info.default:
                assert main.get_by_text(info.title, exact=True).count() >= 1, info.title
        go_to(page, "Model tweaks & scaling")
        _set_float(page, "sc_alpha", 1.5)  # α = 1.5 at φ = 1: depth 1.5 (issue 26 defect 1 broke here)
        slider = page.locator(".st-key-sc_phi input[type=range]")
        slider.focus()
        slider.press("End")  # φ = 7 with α = 1.5: the family's deep end cannot be built
        wait_until_idle(page)
        assert_clean(page, problems)
        text = page.locator('[data-testid="stMain"]').inner_text()
        assert "depth_mult" not in text  # no internal names
        assert page.locator(".st-key-sc_train_queue").count() == 1  # the sections below are still there


def _lab_idle(server, timeout_s: float = 300.0) -> None:
    """Wait until no run of the shared server is queued or training (an earlier browser test may have left one):
    this test's queue positions count from an idle lab."""
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


def test_a_second_tab_during_a_comparison(server, browser) -> None:
    _lab_idle(server)
    with app(browser, server, height=1400) as (page, problems):
        go_to(page, "Training Lab")
        caption = page.get_by_text(re.compile(r"^Peak LR")).inner_text()
        assert re.search(r"(\d+ min )?\d+ s to (\d+ min )?\d+ s per run \(", caption), caption  # a range
        assert "images/s" not in caption and "steps of" not in caption  # no internals
        # a run that trains a while (the default recipe), then a tiny A/B queued behind it
        set_number(page, "lab_time_budget", 3600)  # a loaded machine's estimate must not refuse the run
        set_number(page, "lab_epochs", 4)  # twice the default run: it trains while the second tab opens
        page.locator(".st-key-lab_run_name input").fill("long run")
        page.locator(".st-key-lab_run_name input").press("Enter")
        wait_until_idle(page)
        page.get_by_role("button", name="Start run").click()
        wait_until_idle(page)
        assert_clean(page, problems)  # started, not refused
        _wait_text(page, PROGRESS, r"long run: (training|preparing)")
        set_number(page, "lab_train_size", 640)
        set_number(page, "lab_val_size", 100)
        set_number(page, "lab_epochs", 1)
        set_number(page, "lab_n_seeds", 1)
        queue = page.get_by_role("button", name=re.compile(r"Queue 2 runs"))
        assert re.search(r"\d+ s to (\d+ min )?\d+ s in all", queue.inner_text()), queue.inner_text()
        queue.click()
        wait_until_idle(page)
        # the live view follows the comparison's first run: it waits, and says where it stands
        where = _wait_text(page, '[data-testid="stAlertContainer"]', r"Waiting: place 1 in the queue, 1 run ahead")
        assert "the lab trains 1 at a time" in where
        assert_clean(page, problems)
        # a second tab (a reload, a classmate): it watches the run that trains and shows the A/B as it was queued
        with app(browser, server, height=1400) as (tab, tab_problems):
            go_to(tab, "Training Lab")
            watched = _wait_text(tab, PROGRESS, r".")
            assert re.match(r"long run: (training|preparing)", watched), watched
            assert "long run" in _watched(tab)
            assert tab.locator(".st-key-lab_train_size input").input_value() == "640"
            assert tab.locator(".st-key-lab_n_seeds input").input_value() == "1"
            assert "is training (2 runs)" in tab.locator('[data-testid="stAlertContainer"]').first.inner_text()
            assert "A/B: cosine" in _shown(tab, "lab_exp_select")
            assert_clean(tab, tab_problems)
            wait_until_idle(tab)  # closed only once its script run ended (a tab closed mid-handshake logs a traceback)
        # the long run is cancelled; the A/B's tiny runs then train and the comparison fills in by itself
        box = page.locator(WATCH_BOX)
        box.click()
        box.fill("long run")  # typing filters the (virtualised) list of runs
        page.get_by_role("option", name=re.compile(r"^long run")).click()
        wait_until_idle(page)
        # the live view shows the chosen run (its status line) before its Cancel button is pressed
        _wait_text(page, PROGRESS, r"^long run: (training|preparing)", 60_000)
        wait_until_idle(page)
        page.get_by_role("button", name="Cancel this run").click()
        _wait_text(page, '[data-testid="stAlertContainer"]', r"^long run: cancelled after", 120_000)
        _wait_text(page, '[data-testid="stAlertContainer"]', r"can't tell|too few seeds to decide|no seed-to-seed variation",
                   300_000)  # one seed a side: the verdict says it cannot tell
        # wall time is never presented as the trick's effect: the table's caption (or warning) says why
        _wait_text(page, '[data-testid="stCaptionContainer"], [data-testid="stAlertContainer"]',
                   r"Wall time and throughput depend on what else the server ran")
        assert_clean(page, problems)
