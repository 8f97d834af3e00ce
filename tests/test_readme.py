"""README's install instructions (issue 9, defect 9): without a GPU, the default command pulled the CUDA build of
torch (3.2 GB of NVIDIA wheels). The CPU-only alternative sits next to it, pinned like requirements.txt."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        m = re.match(r"^(torch|torchvision)==([\w.]+)", line.strip())
        if m:
            pins[m.group(1)] = m.group(2)
    return pins


def test_readme_offers_the_cpu_wheel_index_next_to_the_default_install() -> None:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Start the app")
    section = text[start:text.index("\n## ", start + 1)]
    assert "pip install -r requirements.txt && streamlit run app.py" in section  # the default stays
    cpu = next(ln for ln in section.splitlines() if "--index-url https://download.pytorch.org/whl/cpu" in ln)
    pins = _pins()
    assert set(pins) == {"torch", "torchvision"}
    for name, version in pins.items():  # the same versions as requirements.txt, so the next install keeps them
        assert f"{name}=={version}" in cpu


def test_readme_lists_every_page_with_its_screenshot() -> None:
    """Issue 26, defect 6: README's introduction named 4 of 9 pages. It lists the app's page list (pages/_nav), each
    with a screenshot kept in the repository (docs/screenshots.py takes them)."""
    from pages._nav import all_pages

    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Pages"):text.index("\n## ", text.index("## Pages") + 1)]
    for info in all_pages():
        shot = f"docs/screenshots/{Path(info.path).stem}.png"
        assert f"**{info.title}**" in section and f"]({shot})" in section, info.title
        data = (ROOT / shot).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, shot  # a real picture, not a placeholder


def test_ci_runs_exactly_the_readme_test_command() -> None:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Run every test"):]
    command = re.search(r"```bash\n(.+?)\n```", section, re.S).group(1).strip()
    assert command.endswith(".venv/bin/python -m pytest") and "tests/quality.sh" in command
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()
