"""Home: what ConvScope is, a "Start here" path through the pages, and what each page is for."""
from __future__ import annotations

from pages._startup import through_app  # first import of every page: imports all modules once, in one thread

import streamlit as st

from pages._common import view_link
from pages._lessons import LESSONS, Lesson, registered
from pages._nav import all_pages, page_link
from pages._url_state import encode_params

through_app()  # a fresh server's first deep links rerun through app.py's navigation

st.title("ConvScope")
st.markdown(
    "See how convolutional networks for image classification **work** and **train** — with real PyTorch "
    "models, real numbers and nothing to download: the defaults use synthetic shapes, sample photos shipped "
    "with scikit-image and models ConvScope trains itself.")

TITLES = {p.path: p.title for p in all_pages()}  # the app's own page list



def _lesson(n: int, lesson: Lesson) -> None:
    st.markdown(f"**{n}. {lesson.title}**")
    st.write(lesson.look)
    st.markdown(f"*Question:* {lesson.question}")
    if not registered(lesson, set(TITLES)):
        st.caption("Coming: its page is being built.")
        return
    # a link with the page's URL parameters: it opens the page set up, in this tab or (middle click) a new one
    page_link(st, lesson.page, f"Open {TITLES[lesson.page]}", ":material/arrow_forward:",
              query_params=encode_params(lesson.params))


st.header("Start here")
st.caption("A path through the pages in the order of a first course on CNNs for image classification: each lesson "
           "opens its page already set up, with one question to answer there.")
for row in range(0, len(LESSONS), 3):
    for col, i in zip(st.columns(3), range(row, min(row + 3, len(LESSONS))), strict=False):
        with col.container(border=True, height="stretch"):
            _lesson(i + 1, LESSONS[i])

st.header("Every page")
for info in all_pages():  # the app's own page list: a new page appears here by itself
    if info.default:
        continue
    with st.container(border=True):
        page_link(st, info.path, f"**{info.title}**", info.icon)
        st.write(info.blurb)

st.caption("Everything here is also scriptable: `python -m vizcore --help` lists the commands (JSON out).")
view_link()
