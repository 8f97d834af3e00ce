"""Home: what ConvScope is and what each page is for."""
from __future__ import annotations

import streamlit as st

st.title("ConvScope")
st.markdown("See how convolutional networks for image classification work — and how they train.")
