"""Home: what ConvScope is and what each page is for."""
from __future__ import annotations

from pages._startup import through_app  # first import of every page: imports all modules once, in one thread

import streamlit as st

from pages._nav import all_pages, page_link

through_app()  # a fresh server's first deep links rerun through app.py's navigation

st.title("ConvScope")
st.markdown(
    "See how convolutional networks for image classification **work** and **train** — with real PyTorch "
    "models, real numbers and nothing to download: the defaults use synthetic shapes, sample photos shipped "
    "with scikit-image and models ConvScope trains itself.")

for info in all_pages():  # the app's own page list: a new page appears here by itself
    if info.default:
        continue
    with st.container(border=True):
        page_link(st, info.path, f"**{info.title}**", info.icon)
        st.write(info.blurb)

st.caption("Everything here is also scriptable: `python -m vizcore --help` lists the commands (JSON out).")
