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
