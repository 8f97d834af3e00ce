"""A grid of subplots laid out once per shape: plotly's ``make_subplots`` works out the domains, axes and title
annotations anew on every call, which costs more than the data of a small figure (tens of milliseconds for a 4×3
grid). Here ``make_subplots`` itself lays out each shape of grid once; every figure then starts from a copy of that
layout as a plain dict, with its own subplot titles, and is validated once when built.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Sequence

from plotly.subplots import make_subplots


def axis_names(row: int, col: int, cols: int) -> tuple[str, str]:
    """The layout keys ("xaxis", "yaxis2", ...) of subplot (row, col), 1-based, in a grid of ``cols`` columns: as
    ``make_subplots`` numbers them, row by row from the top left. A trace refers to them as "x", "y2", ..."""
    k = (row - 1) * cols + col
    return ("xaxis", "yaxis") if k == 1 else (f"xaxis{k}", f"yaxis{k}")


def trace_axes(row: int, col: int, cols: int) -> dict[str, str]:
    """A trace's ``xaxis``/``yaxis`` for subplot (row, col): {"xaxis": "x2", "yaxis": "y2"}."""
    xa, ya = axis_names(row, col, cols)
    return {"xaxis": xa.replace("axis", ""), "yaxis": ya.replace("axis", "")}


@functools.lru_cache(maxsize=32)
def _layout_json(rows: int, cols: int, n_titles: int, options: str) -> str:
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"title {i}" for i in range(n_titles)] or None,
                        **json.loads(options))
    layout = fig.layout.to_plotly_json()
    layout.pop("template", None)  # a new figure takes the default template itself
    return json.dumps(layout)


def grid_layout(rows: int, cols: int, titles: Sequence[str] = (), **options) -> dict:
    """The layout ``make_subplots(rows, cols, subplot_titles=titles, **options)`` makes, as a fresh dict: add the
    traces with :func:`trace_axes`, update the axes under :func:`axis_names` and build ``go.Figure(data, layout)``.
    ``options``: make_subplots' JSON-able keywords (spacings, column widths)."""
    layout = json.loads(_layout_json(rows, cols, len(titles), json.dumps(options, sort_keys=True)))
    for note, text in zip(layout.get("annotations", []), titles, strict=True):
        note["text"] = text
    return layout
