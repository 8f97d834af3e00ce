"""The view in the URL: a page's main choices as query parameters, so a link opens the same view.

A page declares each choice that belongs in the link just before drawing its widget (:func:`bound`), and ends with
:func:`view_link`, which writes the choices that differ from their defaults into the URL and shows the link. A link
opened in a fresh browser session sets those widgets before they are drawn. Parameters a page does not know, and
values that are not among a widget's choices or outside its range, are dropped from the URL with a note — never an
error.

Why not Streamlit's own ``bind="query-params"``: it writes a ``format_func`` label ("ResNet-18") rather than the
option ("resnet18") into the URL, and drops a bad value without a word. Here the URL holds stable option values
only, and the parameter name can differ from the widget key (a key such as ``rf_layer_resnet18`` is stored as
``rf_layer``).

Values: integers and floats as decimal text (``0.05``, ``2``), booleans as ``true``/``false``, options by their
encoded value, lists as the parameter repeated (``?cam_methods=gradcam&cam_methods=saliency``).
"""
from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import streamlit as st

_STATE = "_url_state"  # session_state: the _Book below


@dataclass(frozen=True)
class Spec:
    """What one URL parameter may hold."""

    key: str  # the widget key whose value it carries
    default: Any  # the widget's default: left out of the URL
    codes: tuple[tuple[Any, str], ...] | None = None  # (allowed value, its URL text); None: any value of the type
    lo: float | None = None  # smallest allowed number
    hi: float | None = None  # largest allowed number
    many: bool = False  # a list of options (a multiselect)
    most: int | None = None  # the most items such a list may hold


@dataclass
class _Book:
    """One session's bookkeeping: the page it was kept for, the values this session wrote into the URL, the
    parameters bound in the current run, and the notes about dropped parameters not shown yet."""

    page: str = ""
    written: dict[str, list[str]] = field(default_factory=dict)  # param -> the values this session wrote
    bound: dict[str, Spec] = field(default_factory=dict)  # param -> spec, this run
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------- pure part


def encode(value: Any) -> str:
    """A value as URL text: ``true``/``false``, integers, floats without a trailing ``.0`` (``2``, ``0.05``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        text = repr(float(value))
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def _text(value: Any, spec: Spec | None) -> str | None:
    if spec is None or spec.codes is None:
        return encode(value)
    return next((t for o, t in spec.codes if o == value), None)  # None: a choice a link cannot carry


def encode_value(value: Any, spec: Spec | None = None) -> list[str] | None:
    """A widget value as the list of its URL texts (one per item for a list); None when a value is not one the
    spec's options can carry (e.g. "Upload": a file is not in a link)."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    texts = [_text(v, spec) for v in items]
    return None if any(t is None for t in texts) else texts  # type: ignore[return-value]


def encode_params(values: Mapping[str, Any]) -> dict[str, str | list[str]]:
    """{param: value} as query parameters (for ``st.page_link(..., query_params=...)``)."""
    out: dict[str, str | list[str]] = {}
    for k, v in values.items():
        texts = encode_value(v) or []
        out[k] = texts if isinstance(v, (list, tuple)) else texts[0]
    return out


def _one(text: str, spec: Spec) -> Any:
    if spec.codes is not None:
        by_text = {t: o for o, t in spec.codes}
        if text not in by_text:
            shown = ", ".join(list(by_text)[:8]) + (", …" if len(by_text) > 8 else "")
            raise ValueError(f"expected one of {shown}, got {text!r}")
        return by_text[text]
    kind = spec.default
    if isinstance(kind, bool):
        if text.lower() not in ("true", "false"):
            raise ValueError(f"expected true or false, got {text!r}")
        return text.lower() == "true"
    if isinstance(kind, numbers.Integral):
        try:
            value: float = int(text)
        except ValueError:
            raise ValueError(f"expected a whole number, got {text!r}") from None
    elif isinstance(kind, numbers.Real):
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {text!r}")
    else:
        return text
    if (spec.lo is not None and value < spec.lo) or (spec.hi is not None and value > spec.hi):
        raise ValueError(f"expected a number from {encode(spec.lo)} to {encode(spec.hi)}, got {text}")
    return value


def decode(texts: Sequence[str], spec: Spec) -> Any:
    """The widget value a parameter's texts stand for; ValueError ("expected …, got …") when they are not valid."""
    if not texts:
        raise ValueError("expected a value, got none")
    if spec.many:
        out = []
        for t in texts:
            v = _one(t, spec)
            if v not in out:
                out.append(v)
        if spec.most is not None and len(out) > spec.most:
            raise ValueError(f"expected at most {spec.most} choices, got {len(out)}")
        return out
    if len(texts) > 1:
        raise ValueError(f"expected one value, got {len(texts)}")
    return _one(texts[0], spec)


def is_default(value: Any, spec: Spec) -> bool:
    """Whether ``value`` is the spec's default (floats compared to 1e-12, lists in order)."""
    d = spec.default
    if isinstance(value, numbers.Real) and isinstance(d, numbers.Real) and not isinstance(value, bool):
        return math.isclose(float(value), float(d), rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(value, (list, tuple)) and isinstance(d, (list, tuple)):
        return list(value) == list(d)
    return value == d


def plan(url: Mapping[str, list[str]], values: Mapping[str, Any], specs: Mapping[str, Spec],
         written: Mapping[str, list[str]]) -> tuple[dict[str, list[str]], list[str]]:
    """(the query parameters to show, notes about dropped ones).

    ``url``: the parameters now in the URL; ``values``: the current value of each bound parameter's widget (a
    parameter whose widget is not drawn is absent); ``specs``: the bound parameters; ``written``: what this session
    wrote itself. A bound parameter is kept only when its value differs from the default; an unbound one that this
    session wrote (a widget no longer shown) goes silently; any other unbound one goes with a note.
    """
    out: dict[str, list[str]] = {}
    notes: list[str] = []
    for param, spec in specs.items():
        if param in values and not is_default(values[param], spec):
            texts = encode_value(values[param], spec)
            if texts is not None:
                out[param] = texts
    for param, texts in url.items():
        if param in specs or param in written:
            continue
        shown = "&".join(f"{param}={t}" for t in texts) or param
        notes.append(f"`{shown}`: not a setting of this view as it is now")
    return out, notes


# ------------------------------------------------------------------------------------------- Streamlit part


def _page_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.page_script_hash if ctx is not None else ""


def _book() -> _Book:
    book = st.session_state.get(_STATE)
    if not isinstance(book, _Book):
        book = _Book()
        st.session_state[_STATE] = book
    page = _page_id()
    if book.page != page:  # another page: what was written belonged to the old URL
        book.page, book.written, book.bound, book.notes = page, {}, {}, []
    return book


def _url_params() -> dict[str, list[str]]:
    return {k: st.query_params.get_all(k) for k in st.query_params}


def words(options: Iterable[Any]) -> dict[Any, str]:
    """{option: a URL word for it} for options that are display words: "Compare models" -> "compare_models"."""
    return {o: re.sub(r"[^a-z0-9]+", "_", str(o).lower()).strip("_") for o in options}


def make_spec(key: str, default: Any, options: Iterable[Any] | Mapping[Any, str] | None = None,
              lo: float | None = None, hi: float | None = None, many: bool = False, most: int | None = None) -> Spec:
    """A :class:`Spec`; ``options`` a list of values (each written as :func:`encode` writes it) or a mapping
    {value: its URL text} for values that are display words ("Sample photo" -> "photo")."""
    if options is None:
        codes = None
    elif isinstance(options, Mapping):
        codes = tuple((o, str(t)) for o, t in options.items())
    else:
        codes = tuple((o, encode(o)) for o in options)
    return Spec(key, default, codes, lo, hi, many, most)


def bound(key: str, default: Any, *, param: str | None = None,
          options: Iterable[Any] | Mapping[Any, str] | None = None,
          lo: float | None = None, hi: float | None = None, many: bool = False, most: int | None = None) -> None:
    """Keep widget ``key`` in the URL as ``param`` (default: the key). Call it just before drawing the widget.

    ``default`` is the widget's default (never written to the URL); ``options`` its choices (a list, or a mapping
    {value: URL text}), or ``lo``/``hi`` its range; ``many`` for a multiselect (of at most ``most`` items). When the
    URL carries a value this session did not write (a link just opened), a valid one becomes the widget's value; an
    invalid one is dropped with a note shown by :func:`view_link`.
    """
    book = _book()
    name = param or key
    spec = make_spec(key, default, options, lo, hi, many, most)
    book.bound[name] = spec
    texts = st.query_params.get_all(name)
    if not texts or texts == book.written.get(name):
        return
    try:
        value = decode(texts, spec)
    except ValueError as exc:
        book.notes.append(f"`{name}`: {exc}")
        book.written.pop(name, None)
        return
    st.session_state[key] = value
    book.written[name] = texts


def view_link(container=None) -> str:
    """Write this run's bound choices into the URL (defaults left out), drop the rest, and show the link to this
    view with a copy button, and a note for each parameter of the link that was dropped. Call it once, at the end
    of the page. Returns the link (relative when the browser's address is not known, as in tests)."""
    box = container if container is not None else st.sidebar
    book = _book()
    values = {p: st.session_state[s.key] for p, s in book.bound.items() if s.key in st.session_state}
    url = _url_params()
    new, notes = plan(url, values, book.bound, book.written)
    if new != url:
        st.query_params.from_dict(new)
    book.written = {p: t for p, t in new.items()}
    query = urlencode(new, doseq=True)
    base = st.context.url or ""
    link = f"{base}?{query}" if query else (base or "?")
    box.caption("Link to this view (copy it to share what this page shows)")
    box.code(link, language=None, wrap_lines=True)
    dropped = book.notes + notes
    if dropped:
        box.info("Left out of the link because they do not fit this page: " + "; ".join(dropped) + ".")
    book.bound, book.notes = {}, []
    return link


def view_link_before_stop() -> None:
    """:func:`view_link` for a page about to stop early (an error shown in words): only when the run bound choices
    that no link has been written for yet, so a link is shown once per run."""
    if st.session_state.get(_STATE) is not None and _book().bound:
        view_link()
