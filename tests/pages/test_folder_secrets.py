"""No page lets a browser user read, or learn anything about, a server folder outside the operator's allow-list.

Every page of the app is driven with a secret image folder beside the allowed one: each choice that offers an
image folder is taken, each text box gets the secret path, and then a path that does not exist. The pages must
offer only the allowed folders by name, show nothing from inside the secret one (its class names), and answer the
secret path exactly as they answer a path that does not exist (so not even its existence shows).
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.app_pages import app_pages

SECRET_CLASS = "secretclass_zq91"


def _image_folder(root: Path, classes: list[str]) -> Path:
    for cls in classes:
        (root / cls).mkdir(parents=True)
        for i in range(3):
            buf = io.BytesIO()
            Image.new("RGB", (16, 16), (40 * i, 80, 120)).save(buf, "PNG")
            (root / cls / f"{i}.png").write_bytes(buf.getvalue())
    return root


def _text(node) -> str:
    """Everything an element tree shows (labels, values, options, messages), as text."""
    out = [str(getattr(node, "proto", "") or "")]
    for child in getattr(node, "children", {}).values():
        out.append(_text(child))
    return "\n".join(out)


def _page_text(at: AppTest) -> str:
    """The page's text without the ids of deferred downloads (fresh random ids each run, whatever the input)."""
    return re.sub(r'file_id: "[0-9a-f]+"', 'file_id: "<ID>"', _text(at._tree))


def _offers_a_folder(label: str) -> bool:
    return "folder" in label.lower() or "top-activating" in label.lower()


def _take_folder_choices(at: AppTest) -> None:
    """Pick, in every radio, select box and segmented control, the choice that reads an image folder; repeat as
    new widgets appear."""
    for _ in range(4):
        changed = False
        for w in [*at.radio, *at.selectbox, *at.get("button_group")]:
            if _offers_a_folder(str(getattr(w, "label", ""))):
                continue  # the folder picker itself
            opts = [str(o) for o in w.options]
            hit = next((i for i, o in enumerate(opts) if _offers_a_folder(o)), None)
            chosen = list(w.indices) if w.type == "button_group" else [w.index]
            if hit is None or hit in chosen:
                continue
            if w.type == "selectbox":
                w.select_index(hit)
            else:  # radio and segmented control: their options are the values here
                w.set_value(w.options[hit])
            changed = True
        if not changed:
            return
        at.run()


def _read_folders(at: AppTest) -> None:
    """Press every button that reads images from the chosen data set (not those that start training)."""
    for b in at.button:
        if any(w in b.label.lower() for w in ("find top patches", "by-class analysis")) and not b.disabled:
            b.click().run()


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    allowed = _image_folder(tmp_path / "offered" / "photos", ["cats", "dogs"])
    secret = _image_folder(tmp_path / "private_zq91", [f"{SECRET_CLASS}a", f"{SECRET_CLASS}b"])
    monkeypatch.setenv("CONVSCOPE_DATA_FOLDERS", str(allowed))
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path / "data"))
    return allowed, secret


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p, _ in app_pages()])
def test_no_page_reveals_a_folder_outside_the_allow_list(page: str, folders: tuple[Path, Path]) -> None:
    allowed, secret = folders
    at = AppTest.from_file("../../app.py", default_timeout=240).run()
    at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    _take_folder_choices(at)
    assert not at.exception, [e.message for e in at.exception]

    for box in at.selectbox:  # every folder choice is among the allowed names
        if "folder" in box.label.lower():
            assert set(map(str, box.options)) <= {"photos", "Data directory (downloads)"}, (page, box.options)
    shown = _page_text(at)
    assert SECRET_CLASS not in shown and "private_zq91" not in shown

    boxes = [(w.type, w.key) for w in [*at.text_input, *at.text_area]]
    missing = secret.parent / "nothere_zq91"  # as long as the secret path, and absent
    assert len(str(missing)) == len(str(secret))
    for kind, key in boxes:
        answers = []
        for path in (secret, missing):
            box = at.text_input(key=key) if kind == "text_input" else at.text_area(key=key)
            box.set_value(str(path)).run()
            _read_folders(at)
            assert not at.exception, (page, key, [e.message for e in at.exception])
            text = _page_text(at)
            assert SECRET_CLASS not in text, (page, key)
            answers.append(text.replace(str(path), "<PATH>").replace(path.name, "<NAME>"))
        assert answers[0] == answers[1], f"{page}: the box {key!r} answers a hidden folder differently"
