"""The one colour palette of every ConvScope figure (Plotly's D3 categorical order) and its helpers."""
from __future__ import annotations

# Categorical colours, in order: series 0 is blue, 1 red, 2 green, ...
PALETTE: tuple[str, ...] = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
BLUE, RED, GREEN, PURPLE, ORANGE, BROWN, PINK, CYAN = PALETTE
GREY = "#7f7f7f"
LIGHT_GREY = "#c7c7c7"


def rgba(hex_colour: str, alpha: float) -> str:
    """'#1f77b4', 0.5 -> 'rgba(31,119,180,0.5)'."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"
