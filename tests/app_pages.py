"""The pages app.py registers with st.navigation, read from its source (no Streamlit run needed)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def app_pages() -> list[tuple[str, bool]]:
    """(page file path, is the default page) for every ``st.Page("...")`` in app.py, in order."""
    tree = ast.parse((ROOT / "app.py").read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Page" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                default = any(k.arg == "default" and getattr(k.value, "value", False) for k in node.keywords)
                found.append((arg.value, default))
    return found
