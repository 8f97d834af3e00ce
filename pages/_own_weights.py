"""Your own weights in the browser: upload a safetensors file or a weights-only state_dict for a zoo architecture or
a custom stack, checked in a child process (:mod:`vizcore.arch.own_model`), kept for this browser session only.

Each session gets a random token and a folder of its own in the data directory (:mod:`vizcore.core.uploads`); its
models are registered under private names that only this session's pages list. When the session ends (the browser
tab closed and Streamlit dropped its state) the folder is deleted and the names forgotten.
"""
from __future__ import annotations

import hashlib
import secrets
import weakref
from pathlib import Path

import streamlit as st

from pages._common import bound, error_sentence

_STATE = "own_weights_session"  # session_state: the _Session below
WEIGHT_TYPES = ["safetensors", "pt", "pth", "bin"]


class _Session:
    """This session's token and own models; deleting its folder and forgetting its names when collected."""

    def __init__(self) -> None:
        from vizcore.core import uploads
        from vizcore.models import registry as zoo

        self.token = secrets.token_hex(16)
        self.models: dict[str, object] = {}  # own name -> OwnModel
        self.pending: dict[str, str] = {}  # model selectbox key -> own name to select on the next run
        self.flash = ""  # what the last upload gave, shown once on the next run
        names = self.models
        weakref.finalize(self, _forget, self.token, names, uploads.remove_session, zoo.unregister_own)


def _forget(token: str, names: dict, remove_session, unregister) -> None:
    for n in list(names):
        unregister(n)
    remove_session(token)


def _session() -> _Session:
    s = st.session_state.get(_STATE)
    if not isinstance(s, _Session):
        from vizcore.core import uploads

        uploads.sweep_stale()  # folders of sessions a stopped server never removed
        s = _Session()
        st.session_state[_STATE] = s
    return s


def own_names(tag: str | None = None, base: str | None = None) -> list[str]:
    """Names of this session's own models (newest first), those with ``tag`` or built on zoo model ``base``."""
    from vizcore.arch import own_model
    from vizcore.models import registry as zoo

    out = []
    for name, own in reversed(list(_session().models.items())):
        try:
            entry = zoo.get_entry(name)
        except ValueError:  # the server restarted its registry: register again
            entry = own_model.register(own)  # type: ignore[arg-type]
        if (tag is None or tag in entry.tags) and (base is None or own.base == base):  # type: ignore[attr-defined]
            out.append(name)
    return out


def own_model_of(name: str):
    """This session's OwnModel named ``name``, or None (a zoo model, or another session's name)."""
    return _session().models.get(name)


def model_select(container, label: str, key: str, names: list[str], default: str, tag: str | None = None,
                 **kwargs) -> str:
    """A model selectbox listing this session's own models (with ``tag``) first, then ``names``; a model just added
    on this page is selected once."""
    from vizcore.models import registry as zoo

    s = _session()
    options = own_names(tag) + names
    pending = s.pending.pop(key, None)
    if pending in options:
        st.session_state[key] = pending
    if st.session_state.get(key) not in options:
        st.session_state[key] = default if default in options else options[0]
    bound(key, default if default in options else options[0], options=names)  # own models are this session's only
    return container.selectbox(label, options, key=key, format_func=lambda n: zoo.get_entry(n).title, **kwargs)


def add_own(base: str, raw: bytes, filename: str, spec_text: str | None = None, classes_raw: bytes | None = None,
            select_key: str | None = None):
    """Keep an uploaded weights file in this session's folder, check it in a child process and register it.
    Returns the OwnModel; ValueError/OSError in words (the caller shows them)."""
    from vizcore.arch import own_model
    from vizcore.core import uploads
    from vizcore.models import own_weights as ow

    s = _session()
    path = uploads.keep(s.token, raw, filename)
    try:
        own = own_model.validate(base, path, spec_text, classes_raw, shown_name=Path(filename).name[:80],
                                 owner=s.token)
    except (ValueError, OSError):
        uploads.remove(s.token, path)
        raise
    ow.sidecar(path, own_model.to_meta(own))
    own_model.register(own)
    s.models.pop(own.name, None)
    s.models[own.name] = own
    if select_key:
        s.pending[select_key] = own.name
    return own


def remove_own(name: str) -> None:
    """Forget one of this session's own models and delete its file; the next run says so (:func:`show_flash`)."""
    from vizcore.core import uploads
    from vizcore.models import registry as zoo

    s = _session()
    own = s.models.pop(name, None)
    if own is not None:
        zoo.unregister_own(name)
        uploads.remove(s.token, own.weights)  # type: ignore[attr-defined]
        s.flash = (f"Removed: {own.title}. Its file is deleted from the server and no page lists it "  # type: ignore[attr-defined]
                   "any more.")


def upload_form(container, base: str, key: str, select_key: str | None, spec_text: str | None = None) -> None:
    """The upload widgets for weights of ``base`` (a zoo name, or "spec" with ``spec_text``): the file, optional
    class names, and a button that checks and adds it. Shows the result in words."""
    from vizcore.models import own_weights as ow

    what = "this custom stack" if spec_text is not None else f"any {_title(base)} (any number of classes)"
    up = container.file_uploader(
        f"Weights of {what}: safetensors or a state_dict saved with torch.save (at most "
        f"{ow.MAX_FILE_BYTES // 2**20} MB; tensors only are read, no code runs)", type=WEIGHT_TYPES, key=f"{key}_file")
    names = container.file_uploader("Class names (optional): a .txt file, one name per line", type=["txt"],
                                    key=f"{key}_names")
    if container.button("Check and add my weights", key=f"{key}_add", disabled=up is None, type="primary"):
        raw = up.getvalue()  # type: ignore[union-attr]
        with st.spinner("Checking the file in a separate process (strict load, one forward pass)…"):
            try:
                own = add_own(base, raw, up.name, spec_text, names.getvalue() if names else None,  # type: ignore[union-attr]
                              select_key)
            except (ValueError, TypeError, OSError, MemoryError) as exc:
                container.error(f"Could not use {up.name}: {error_sentence(exc)}")  # type: ignore[union-attr]
                return
        _session().flash = (f"Added: {own.title}, checked in {own.check_seconds:.1f} s (strict load, one forward "
                            f"pass, finite outputs; Grad-CAM layer {own.cam_layer}). It is offered in the model list "
                            "of every inspection page for this browser session.")
        st.rerun()


def show_flash(container) -> None:
    """The last upload's result, once."""
    s = _session()
    if s.flash:
        container.success(s.flash)
        s.flash = ""


def _title(base: str) -> str:
    from vizcore.models import registry as zoo

    return zoo.get_entry(base).title


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()
