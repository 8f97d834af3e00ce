"""Export: a plotly figure's numbers as one CSV table (or a bare 2-D map as one), and a file name for downloads.

The table is in long format, one row per plotted value, so every figure of the app fits the same reader:

* 1-D traces (scatter, bar, histogram, ...): one row per point, numbered by ``point``;
* 2-D traces (heatmap, contour): one row per cell with its ``row``, ``col`` and value ``z``;
* images (``go.Image``, from ``z`` or a PNG ``source``): one row per pixel with its ``row``, ``col`` and one column
  per channel (``r``, ``g``, ``b``).

Columns: ``trace`` (index in the figure), ``name``, ``type``, then ``xaxis``/``yaxis`` where the figure has
subplots, then whichever of ``x``, ``y``, ``z``, ``text``, ``hovertext``, ``customdata`` (one column per component
when each point carries several) and error bars (``error_y`` = plotly's ``array``, ``error_y_minus`` = its
``arrayminus``) some trace holds per point. A column a trace lacks is left empty on its rows. Numbers are written
with Python's shortest round-trip representation, so reading the CSV back gives the plotted values exactly.
Animation frames are not exported (the figure as first drawn is).
"""
from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import plotly.graph_objects as go

from vizcore.figures.images import PNG_PREFIX, pixels_of_source

Columns = dict[str, list[Any]]

_POINT_FIELDS = ("x", "y", "z", "text", "hovertext")
_GRID_FIELDS = ("text", "hovertext")
_ERRORS = ("error_x", "error_y")
# Column order of the table: where a trace is, which point or cell, its values, then what annotates them.
_ORDER = ("trace", "name", "type", "xaxis", "yaxis", "point", "row", "col", "x", "y", "z", "channel", "text",
          "hovertext", "customdata", "error")


def figure_to_csv(fig: go.Figure) -> str:
    """Every trace's data of ``fig`` as CSV text (long format; see the module docstring for the columns)."""
    if not isinstance(fig, go.Figure):
        raise TypeError(f"expected a plotly go.Figure, got {type(fig).__name__}")
    axes = [(getattr(t, "xaxis", None) or "x", getattr(t, "yaxis", None) or "y") for t in fig.data]
    subplots = any(a != ("x", "y") for a in axes)
    blocks: list[tuple[int, Columns]] = []
    for i, trace in enumerate(fig.data):
        cols = _trace_columns(trace)
        n = _length(cols)
        head: Columns = {"trace": [i] * n, "name": [trace.name or ""] * n, "type": [trace.type] * n}
        if subplots:
            head["xaxis"], head["yaxis"] = [axes[i][0]] * n, [axes[i][1]] * n
        blocks.append((n, {**head, **cols}))
    seen: list[str] = []
    for _, cols in blocks:
        seen += [c for c in cols if c not in seen]
    header = sorted(seen, key=lambda c: (_rank(c), seen.index(c))) or ["trace", "name", "type"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for n, cols in blocks:
        columns = [cols[c] if c in cols else [None] * n for c in header]  # csv writes None as an empty cell
        writer.writerows(zip(*columns))
    return out.getvalue()


def array_to_csv(values: Any, name: str = "value") -> str:
    """A 2-D map (values: (H, W), e.g. an attribution map under an overlay) as CSV: ``row,col,<name>``, row-major."""
    z = _array(values)
    if z.ndim != 2:
        raise ValueError(f"expected a 2-D map (H, W), got shape {z.shape}")
    cols = _grid_columns(None, z)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["row", "col", name])
    writer.writerows(zip(cols["row"], cols["col"], cols["z"]))
    return out.getvalue()


def figure_filename(fig: go.Figure, fallback: str = "figure", max_len: int = 60) -> str:
    """A file name stem from the figure's title (lower case, ``_`` between words), else from ``fallback``.

    >>> figure_filename(go.Figure(layout=dict(title="Gates of layer1.0, <b>largest</b> first")))
    'gates_of_layer1_0_largest_first'
    """
    title = getattr(getattr(fig.layout, "title", None), "text", None) or ""
    stem = _slug(re.sub(r"<[^>]*>", " ", str(title)), max_len) or _slug(fallback, max_len)
    return stem or "figure"


def _slug(text: str, max_len: int) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    stem = ""
    for w in words:
        if stem and len(stem) + 1 + len(w) > max_len:
            break
        stem = f"{stem}_{w}" if stem else w[:max_len]
    return stem


def _trace_columns(trace: Any) -> Columns:
    if trace.type == "image":
        return _image_columns(trace)
    z = getattr(trace, "z", None)
    if z is not None and np.ndim(_array(z)) == 2:
        return _grid_columns(trace, _array(z))
    return _point_columns(trace)


def _point_columns(trace: Any) -> Columns:
    """One row per point: every per-point array the trace carries."""
    arrays: Columns = {}
    for f in _POINT_FIELDS:
        arrays.update(_components(f, getattr(trace, f, None)))
    arrays.update(_components("customdata", getattr(trace, "customdata", None)))
    for e in _ERRORS:
        bars = getattr(trace, e, None)
        for part, col in (("array", e), ("arrayminus", f"{e}_minus")):
            v = getattr(bars, part, None) if bars is not None else None
            if _per_point(v):
                arrays[col] = _values(v)
    n = max((len(v) for v in arrays.values()), default=0)
    cols: Columns = {"point": list(range(n))} if n else {}
    for name, v in arrays.items():
        cols[name] = v + [None] * (n - len(v))
    return cols


def _grid_columns(trace: Any, z: np.ndarray) -> Columns:
    """One row per cell (row-major): row, col, the x/y labels where given, z and any per-cell text/customdata."""
    rows, cs = np.indices(z.shape)
    cols: Columns = {"row": rows.ravel().tolist(), "col": cs.ravel().tolist()}
    if trace is None:  # a bare map
        return {**cols, "z": _values(z)}
    for f, idx in (("x", cs), ("y", rows)):
        labels = getattr(trace, f, None)
        if _per_point(labels):
            lab = _values(labels)
            cols[f] = [lab[k] if k < len(lab) else None for k in idx.ravel().tolist()]
    cols["z"] = _values(z)
    for f in _GRID_FIELDS:
        v = getattr(trace, f, None)
        if _per_point(v) and _array(v).shape == z.shape:
            cols[f] = _values(v)
    custom = getattr(trace, "customdata", None)
    if custom is not None and _array(custom).shape[:2] == z.shape:
        cd = _array(custom)
        cols.update(_components("customdata", cd.reshape(z.size, *cd.shape[2:])))
    return cols


def _image_columns(trace: Any) -> Columns:
    """One row per pixel (row-major) with one column per channel, from ``z`` or from a PNG ``source`` made by
    :func:`vizcore.figures.images.png_source`; an image from any other source (a link) has none."""
    if trace.z is not None:
        z = _array(trace.z)
    elif isinstance(trace.source, str) and trace.source.startswith(PNG_PREFIX):
        z = pixels_of_source(trace.source)
    else:
        return {}
    if z.ndim != 3:
        raise ValueError(f"expected an image trace z of shape (H, W, C), got shape {z.shape}")
    names = list(trace.colormodel or ("rgba" if z.shape[2] == 4 else "rgb"))
    rows, cs = np.indices(z.shape[:2])
    cols: Columns = {"row": rows.ravel().tolist(), "col": cs.ravel().tolist()}
    for c in range(z.shape[2]):
        cols[names[c] if c < len(names) else f"channel_{c}"] = _values(z[..., c])
    return cols


def _rank(column: str) -> int:
    base = re.sub(r"_(\d+|minus|x|y)$", "", column)
    base = "channel" if len(base) == 1 and base not in ("x", "y", "z") or base == "channel" else base
    return _ORDER.index(base) if base in _ORDER else len(_ORDER)


def _components(name: str, value: Any) -> Columns:
    """A per-point array as one column, or one column per component (``name_0``, ``name_1``, ...)."""
    if not _per_point(value):
        return {}
    arr = _array(value)
    if arr.ndim <= 1:
        return {name: _values(arr)}
    flat = arr.reshape(arr.shape[0], -1)
    return {f"{name}_{k}": _values(flat[:, k]) for k in range(flat.shape[1])}


def _array(value: Any) -> np.ndarray:
    try:
        return np.asarray(value)
    except ValueError:  # ragged nesting: keep the rows as objects
        return np.asarray(list(value), dtype=object)


def _per_point(value: Any) -> bool:
    return value is not None and not isinstance(value, (str, bytes)) and isinstance(value, Iterable)


def _length(cols: Columns) -> int:
    return len(next(iter(cols.values()))) if cols else 0


def _values(value: Any) -> list[Any]:
    """Flat list of an array's values as Python scalars, NaN as None (an empty cell); float32/float16 as their own
    shortest text (``0.1``, not ``0.10000000149011612``)."""
    arr = _array(value).ravel()
    if arr.dtype == object:
        return [_scalar(v) for v in arr.tolist()]
    if arr.dtype.kind != "f":
        return arr.tolist()
    out: list[Any] = [str(v) for v in arr] if arr.dtype.itemsize < 8 else arr.tolist()
    for k in np.flatnonzero(np.isnan(arr)).tolist():
        out[k] = None
    return out


def _scalar(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    return None if isinstance(v, float) and math.isnan(v) else v
