"""The "Start here" path on Home: every lesson opens a page of the app's navigation, in the notes' order, its preset
names widget keys that page really draws, and pressing its button on Home opens that page with those values."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pages._lessons import LESSONS, Lesson
from pages._nav import all_pages

ROOT = Path(__file__).resolve().parents[2]
NAV = {p.path for p in all_pages()}
LINKED = [lesson for lesson in LESSONS if lesson.page in NAV]


def _call_strings(path: Path) -> set[str]:
    """String constants passed to any call in ``path`` (``key="x"`` or a helper's key argument)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    out.add(arg.value)
    return out


def _page_strings(page: str) -> set[str]:
    """:func:`_call_strings` of the page and of the pages/_*.py helpers it imports."""
    path = ROOT / page
    out = _call_strings(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pages._"):
            out |= _call_strings(ROOT / (node.module.replace(".", "/") + ".py"))
    return out


def test_lessons_follow_the_notes_and_open_pages_of_the_navigation() -> None:
    titles = [lesson.title for lesson in LESSONS]
    order = ["Output size", "Receptive field", "Architectures", "Tweaks and scaling", "Features",
             "Squeeze-and-excitation", "Grad-CAM", "Training tricks", "Augmentation", "Adversarial examples",
             "Few labels"]
    assert [t for t in titles if t in order] == order
    for lesson in LESSONS:
        assert lesson.look and lesson.question.endswith("?"), lesson.title
        if lesson.page not in NAV:  # a lesson whose page is being built: shown as coming, nothing to set up
            assert not (ROOT / lesson.page).exists(), f"{lesson.page} exists but is not in pages/_nav.py"
            assert not lesson.preset, lesson.title
    assert len(LINKED) >= 10


@pytest.mark.parametrize("lesson", LINKED, ids=lambda le: le.title)
def test_every_preset_key_is_a_widget_key_of_its_page(lesson: Lesson) -> None:
    keys = _page_strings(lesson.page)
    missing = [k for k in lesson.preset if k not in keys]
    assert not missing, f"{lesson.page} draws no widget with these keys: {missing}"


def _open_lesson(at: AppTest, title: str, asked: list[str]) -> AppTest:
    """Press the lesson's button on Home; it must ask for its page (st.switch_page, which AppTest follows)."""
    n = next(i + 1 for i, lesson in enumerate(LESSONS) if lesson.title == title)
    at.button(key=f"lesson_{n}").click().run()
    assert asked and asked[-1] == next(le.page for le in LESSONS if le.title == title)
    return at


@pytest.mark.slow
def test_a_lesson_button_opens_its_page_set_up(monkeypatch: pytest.MonkeyPatch) -> None:
    import streamlit

    asked: list[str] = []
    real = streamlit.switch_page
    monkeypatch.setattr(streamlit, "switch_page", lambda page, **kw: (asked.append(page), real(page, **kw)))
    at = AppTest.from_file("../../app.py", default_timeout=240).run()
    assert not at.exception, [e.message for e in at.exception]
    coming = [lesson for lesson in LESSONS if lesson.page not in NAV]
    assert len(at.get("button")) >= len(LINKED)
    assert sum("Coming" in c.value for c in at.caption) == len(coming)

    _open_lesson(at, "Output size", asked)
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == "Conv Arithmetic"
    preset = next(le for le in LESSONS if le.title == "Output size").preset
    for key in ("ca_h", "ca_k", "ca_s", "ca_p"):
        assert at.number_input(key=key).value == preset[key], key

    at.switch_page("pages/home.py").run()
    _open_lesson(at, "Watch a network train", asked)
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == "Training playground"
    assert at.select_slider(key="pg_lr").value == 0.05
