"""A class opens the app at once: how long until every page is idle, on a fresh server and on a warm one.

Starts ``streamlit run app.py`` on a free localhost port over a seeded data directory, then opens every page in
N browser sessions at the same moment (Debian's Chromium via Playwright), twice: right after the server starts
(fresh: the first sessions pay for the one-time imports and model loads) and again on the same server (warm).
Prints, per wave, when each session's page was idle (its script run over) and whether any showed an error, and
the ratio of the slowest page to a single session opening the home page alone on the warm server (the peer).

    python bench/class_load.py            # 12 sessions
    python bench/class_load.py --sessions 20
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.app_pages import app_pages  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, running_server  # noqa: E402
from tests.seed import seed_store  # noqa: E402

IDLE_JS = ("() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
           " return !!(a && a.getAttribute('data-test-script-state') === 'notRunning'"
           " && document.querySelector('h1') && !document.querySelector('[data-testid=\"stStatusWidget\"]')); }")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (Linux /proc)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wave(browser, url: str, paths: list[str], timeout_s: float) -> tuple[dict[str, float], list[str]]:
    """Open ``paths`` (one session each) at once; seconds until each was idle, and the pages with an error."""
    pages = []
    t0 = time.monotonic()
    for p in paths:
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        page = ctx.new_page()
        page.goto(f"{url}/{p}", wait_until="commit", timeout=60_000)
        pages.append((p or "home", page))
    done: dict[str, float] = {}
    while len(done) < len(pages) and time.monotonic() - t0 < timeout_s:
        for i, (name, page) in enumerate(pages):
            key = f"{i:02d} {name}"
            if key not in done and page.evaluate(IDLE_JS):
                done[key] = time.monotonic() - t0
        time.sleep(0.25)
    bad = [name for name, page in pages if page.locator('[data-testid="stException"]').count()]
    for _, page in pages:
        page.context.close()
    return done, bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=12)
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    all_paths = ["" if default else Path(p).stem for p, default in app_pages()]
    paths = [all_paths[i % len(all_paths)] for i in range(args.sessions)]
    with tempfile.TemporaryDirectory() as d, sync_playwright() as pw:
        data = Path(d)
        seed_store(data)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        t_start = time.monotonic()
        with running_server(data) as url:
            print(f"server healthy after {time.monotonic() - t_start:.1f} s; {args.sessions} sessions per wave")
            results = {}
            for name in ("fresh", "warm"):
                cpu0 = cpu_seconds(url.pid)
                done, bad = wave(browser, url, paths, args.timeout)
                cpu = cpu_seconds(url.pid) - cpu0
                results[name] = done
                times = sorted(done.values())
                slowest = max(done, key=done.get) if done else "-"
                print(f"{name:5s}: {len(done)}/{len(paths)} idle; median {statistics.median(times):.1f} s, "
                      f"slowest {times[-1]:.1f} s ({slowest}); errors on: {bad or 'none'}")
                print("       " + ", ".join(f"{k.split()[1]} {v:.1f}" for k, v in sorted(done.items())))
                print(f"       server CPU for the wave: {cpu:.1f} s (the browsers' rendering, on the same cores "
                      f"here, is not in it: on 2 cores the server alone needs at least {cpu / 2:.1f} s of wall time)")
            alone, _ = wave(browser, url, [""], args.timeout)
            one = next(iter(alone.values()))
            print(f"peer: one session alone on the warm server, home idle after {one:.1f} s")
            for name, done in results.items():
                print(f"ratio {name} slowest / one session alone: {max(done.values()) / one:.1f}")
        browser.close()


if __name__ == "__main__":
    main()
