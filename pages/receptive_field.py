"""Placeholder until this page lands."""
import streamlit as st

st.title("receptive_field")
st.info("This page is being built.")
