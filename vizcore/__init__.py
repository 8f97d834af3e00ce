"""ConvScope's compute package: geometry, models, receptive fields, data and training.

Plain torch/numpy in, plain data (dataclasses, arrays, plotly figures) out. Never imports streamlit:
every capability is also reachable from ``python -m vizcore``.
"""
from __future__ import annotations

__version__ = "0.1.0"
