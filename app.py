"""ConvScope: entry point. Page config, the device badge and navigation; pages do the rest."""
from __future__ import annotations

import pages._startup  # noqa: F401  first import of every page: imports all modules once, in one thread

import streamlit as st

from pages._common import sidebar_device

st.set_page_config(page_title="ConvScope", page_icon="🔬", layout="wide")

PAGES = {
    "Overview": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    ],
    "Building blocks": [
        st.Page("pages/conv_arithmetic.py", title="Conv Arithmetic", icon=":material/grid_on:"),
        st.Page("pages/architectures.py", title="Architectures", icon=":material/account_tree:"),
        st.Page("pages/model_scaling.py", title="Model tweaks & scaling", icon=":material/open_in_full:"),
    ],
    "Seeing inside": [
        st.Page("pages/receptive_field.py", title="Receptive Field", icon=":material/center_focus_strong:"),
        st.Page("pages/gradcam.py", title="Grad-CAM & attributions", icon=":material/local_fire_department:"),
        st.Page("pages/features.py", title="Features", icon=":material/filter:"),
        st.Page("pages/se_attention.py", title="SE Attention", icon=":material/tune:"),
    ],
    "Training": [
        st.Page("pages/training_lab.py", title="Training Lab", icon=":material/model_training:"),
        st.Page("pages/augmentation_lab.py", title="Augmentation Lab", icon=":material/auto_fix_high:"),
    ],
}

nav = st.navigation(PAGES)
sidebar_device()
nav.run()
