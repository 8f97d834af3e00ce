"""Plotly figure builders, one module per topic, one palette: plain data in, ``go.Figure`` out; no Streamlit.

Every figure has a title, axis labels and units. May import: plotly, numpy and (for typing) any vizcore module."""
