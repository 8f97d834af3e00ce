"""Plotly figure builders: plain data in, ``plotly.graph_objects.Figure`` out. Pure; no Streamlit.

Every figure has a title, axis labels and units. Sections follow the concepts they draw.
"""
from __future__ import annotations

import plotly.graph_objects as go

# ============================================================================ geometry & architectures


# ============================================================================ receptive fields


# ============================================================================ data & augmentation


# ============================================================================ training & comparison
