"""Placeholder until this page lands."""
import streamlit as st

st.title("training_lab")
st.info("This page is being built.")
