"""Placeholder until this page lands."""
import streamlit as st

st.title("conv_arithmetic")
st.info("This page is being built.")
