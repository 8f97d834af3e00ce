"""Refresh README's screenshots: one per page of the app, as a user sees it on a server that already holds runs.

    python docs/screenshots.py [--out docs/screenshots] [--width 1400] [--height 1000]

Starts ``streamlit run app.py`` on a free local port over a temporary data directory seeded with finished runs
and comparisons (the browser tests' seed), opens every page of the navigation (pages/_nav.SECTIONS) in
headless Chromium (Debian's chromium-headless-shell or chromium, or CONVSCOPE_CHROMIUM), waits until the page's script run ends,
and writes ``<out>/<page file stem>.png``. Fails, naming the page, when a page shows an exception or an error
box, or when the server log holds a warning or a traceback.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=1000)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from pages._nav import all_pages
    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, SERVER_LOG_PROBLEMS, running_server, wait_until_idle
    from tests.seed import seed_few_labels, seed_store

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        seed_store(Path(tmp))
        seed_few_labels(Path(tmp))
        with running_server(Path(tmp)) as srv, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            for info in all_pages():
                url = srv if info.default else f"{srv}/{Path(info.path).stem}"
                page.goto(url, wait_until="domcontentloaded", timeout=120_000)
                wait_until_idle(page)
                bad = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]')
                if bad.count():
                    raise SystemExit(f"error: {info.title} shows an error: {bad.first.inner_text()[:300]}")
                target = args.out / f"{Path(info.path).stem}.png"
                page.screenshot(path=str(target))
                print(f"{info.title:<28} -> {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
            browser.close()
            log = srv.log_path.read_text(encoding="utf-8", errors="replace")
            problems = [ln for ln in log.splitlines() if SERVER_LOG_PROBLEMS.search(ln)]
            if problems:
                raise SystemExit("error: the server log holds problems:\n" + "\n".join(problems[:20]))


if __name__ == "__main__":
    main()
