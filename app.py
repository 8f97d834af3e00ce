"""ConvScope: entry point. Page config, the device badge and navigation; pages do the rest."""
from __future__ import annotations

from pages._startup import through_app  # first import of every page: imports all modules once, in one thread

import streamlit as st

from pages._common import sidebar_device
from pages._nav import SECTIONS

through_app()  # a fresh server's first deep links rerun through app.py's navigation

st.set_page_config(page_title="ConvScope", page_icon="🔬", layout="wide")

PAGES = {section: [st.Page(p.path, title=p.title, icon=p.icon, default=p.default) for p in pages]
         for section, pages in SECTIONS.items()}

nav = st.navigation(PAGES, expanded=True)  # every page in view: the lessons and the tests name them all
sidebar_device()
nav.run()
