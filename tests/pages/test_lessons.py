"""The "Start here" path on Home: every lesson opens a page of the app's navigation, in the notes' order, its link's
URL parameters are ones that page binds, and opening the link sets the page up with those values."""
from __future__ import annotations

import ast
from pathlib import Path
from urllib.parse import parse_qs

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
            assert not lesson.params, lesson.title
    assert len(LINKED) >= 10


@pytest.mark.parametrize("lesson", LINKED, ids=lambda le: le.title)
def test_every_link_parameter_is_bound_by_its_page(lesson: Lesson) -> None:
    keys = _page_strings(lesson.page)
    missing = [k for k in lesson.params if k not in keys]
    assert not missing, f"{lesson.page} binds no URL parameter with these names: {missing}"


def _open_lesson(at: AppTest, title: str) -> AppTest:
    """Follow the lesson's link on Home as the browser would: its page, with the link's query parameters."""
    lesson = next(le for le in LESSONS if le.title == title)
    link = next(p for p in at.get("page_link") if p.proto.label == f"Open {dict(_titles())[lesson.page]}")
    at.query_params = parse_qs(link.proto.query_string)
    return at.switch_page(lesson.page).run()


def _titles() -> list[tuple[str, str]]:
    return [(p.path, p.title) for p in all_pages()]


@pytest.mark.slow
def test_a_lesson_link_opens_its_page_set_up() -> None:
    at = AppTest.from_file("../../app.py", default_timeout=240).run()
    assert not at.exception, [e.message for e in at.exception]
    coming = [lesson for lesson in LESSONS if lesson.page not in NAV]
    lesson_links = [p for p in at.get("page_link") if p.proto.label.startswith("Open ")]
    assert len(lesson_links) == len(LINKED)
    assert sum("Coming" in c.value for c in at.caption) == len(coming)

    _open_lesson(at, "Output size")
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == "Conv Arithmetic"
    params = next(le for le in LESSONS if le.title == "Output size").params
    for key in ("ca_h", "ca_k", "ca_s", "ca_p"):
        assert at.number_input(key=key).value == params[key], key
    assert not at.sidebar.info  # every parameter of the link was taken

    at.switch_page("pages/home.py").run()
    _open_lesson(at, "Architectures")
    assert not at.exception, [e.message for e in at.exception]
    assert at.multiselect(key="arch_compare").value == ["vgg16", "resnet18"] and not at.sidebar.info

    at.query_params = {}
    at.switch_page("pages/home.py").run()
    _open_lesson(at, "Watch a network train")
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == "Training playground"
    assert at.select_slider(key="pg_lr").value == 0.05
