"""Your own weights in the browser (AppTest; one browser session's state carried from page to page): a custom stack
and its weights uploaded on the Architectures page appear in the model list of every inspection page and work there,
and not in another session's; a pickle that would run code is refused in words and runs nothing; the session's
folder is removed with the session."""
from __future__ import annotations

import gc

import pytest
import torch
from safetensors.torch import save
from streamlit.testing.v1 import AppTest

from vizcore.arch import own_model, spec

STACK = "input 3 32 32\nconv 3 8 p1\nrelu\nse 2\npool max 2\nconv 3 16 p1\nrelu\ngap\nfc 10\n"
INSPECTION = {"pages/architectures.py": "arch_model", "pages/receptive_field.py": "rf_model",
              "pages/features.py": "ft_model", "pages/se_attention.py": "se_model", "pages/gradcam.py": "cam_model",
              "pages/adversarial.py": "adv_model"}


@pytest.fixture
def fast_check(monkeypatch, tmp_path):
    """The child process's check run in this process (same function; the child itself is tested in
    tests/vizcore/test_own_weights.py): a page test checks the page, not the interpreter's start-up time."""
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(own_model, "check_in_child", own_model.check_here)
    return tmp_path


def _weights() -> bytes:
    torch.manual_seed(0)  # the file's tensors say 1 input channel and 4 classes: the spec's lines follow them
    return save(spec.build(STACK.replace("input 3", "input 1").replace("fc 10", "fc 4")).model.state_dict())


@pytest.mark.slow
def test_a_spec_and_its_weights_go_through_every_inspection_page(fast_check) -> None:
    # page files, not app.py: under AppTest, a button click on a page reached through st.navigation is not delivered
    at = AppTest.from_file("../../pages/architectures.py", default_timeout=240)
    at.session_state["arch_view"] = "Custom stack"
    at.run()
    at.text_area(key="arch_spec").set_value(STACK).run()
    at.file_uploader(key="arch_spec_own_file").set_value(("mine.safetensors", _weights(), "application/octet-stream"))
    at.file_uploader(key="arch_spec_own_names").set_value(("names.txt", b"cat\ndog\nfox\nowl\n", "text/plain"))
    at.run()
    at.button(key="arch_spec_own_add").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Added: My weights: mine.safetensors (custom stack, 4 classes, 1×32×32)" in s.value for s in at.success)
    folders = list((fast_check / "uploads" / "sessions").iterdir())
    assert len(folders) == 1 and any(f.suffix == ".safetensors" for f in folders[0].iterdir())
    session = at.session_state["own_weights_session"]  # this browser session's token and own models
    (name,) = session.models
    stranger = AppTest.from_file("../../pages/gradcam.py", default_timeout=240).run()  # another browser session
    assert not [o for o in stranger.selectbox(key="cam_model").options if o.startswith("My weights")]
    for page, key in INSPECTION.items():
        at = AppTest.from_file(f"../../{page}", default_timeout=240)
        at.session_state["own_weights_session"] = session
        at.session_state[key] = name  # picked in the model list
        at.run()
        box = at.selectbox(key=key)
        assert box.options[0].startswith("My weights: mine.safetensors") and box.value == name, (page, box.options[:3])
        assert not at.exception, (page, [e.message for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])
        assert any("Your weights: mine.safetensors" in c.value for c in at.caption) or page.endswith("architectures.py")
        if page.endswith("gradcam.py"):  # the prediction names the file's classes
            text = " ".join(m.value for m in at.markdown) + " ".join(str(d.value) for d in at.dataframe)
            assert any(name in text for name in ("cat", "dog", "fox", "owl"))


@pytest.mark.slow
def test_a_pickle_that_would_run_code_is_refused_on_the_page_and_runs_nothing(fast_check) -> None:
    """(A zoo file with other classes through the weights picker: tests/pages/test_receptive_field_page.py.)"""
    import io

    at = AppTest.from_file("../../pages/receptive_field.py", default_timeout=240)
    at.session_state["rf_model"] = "small_cnn"
    at.run()
    at.radio(key="rf_weights").set_value("my weights").run()
    marker = fast_check / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    bad = io.BytesIO()
    torch.save({"features.0.weight": Payload()}, bad)
    at.file_uploader(key="rf_weights_own_file").set_value(("evil.pt", bad.getvalue(), "application/octet-stream"))
    at.run()
    at.button(key="rf_weights_own_add").click().run()
    assert not at.exception and not marker.exists()
    assert any("Could not use evil.pt" in e.value and "could run code" in e.value for e in at.error)
    assert not any(f.suffix == ".pt" for f in (fast_check / "uploads" / "sessions").rglob("*"))  # not kept


def test_the_session_folder_goes_with_the_session(fast_check) -> None:
    from pages import _own_weights
    from vizcore.core import uploads
    from vizcore.models import registry as zoo

    s = _own_weights._Session()
    path = uploads.keep(s.token, b"x" * 10, "w.pt")
    s.models["own_0123456789abcdef"] = None
    zoo._OWN["own_0123456789abcdef"] = zoo.get_entry("small_cnn")
    del s
    gc.collect()
    assert not path.parent.exists() and "own_0123456789abcdef" not in zoo._OWN


def test_weights_added_then_removed_leave_the_lists_and_the_server(fast_check) -> None:
    from safetensors.torch import save as save_bytes

    from vizcore.models import weights as mweights

    torch.manual_seed(0)
    raw = save_bytes(mweights.get_model("small_cnn", num_classes=3).state_dict())
    at = AppTest.from_file("../../pages/receptive_field.py", default_timeout=240)
    at.session_state["rf_model"] = "small_cnn"
    at.run()
    at.radio(key="rf_weights").set_value("my weights").run()
    at.file_uploader(key="rf_weights_own_file").set_value(("mine.safetensors", raw, "application/octet-stream"))
    at.run()
    at.button(key="rf_weights_own_add").click().run()
    assert not at.exception, [e.value for e in at.exception]
    kept = [f for f in (fast_check / "uploads" / "sessions").rglob("*.safetensors")]
    assert len(kept) == 1 and at.selectbox(key="rf_weights_mine").value.startswith("own_")
    assert at.selectbox(key="rf_model").options[0].startswith("My weights: mine.safetensors")
    at.button(key="rf_weights_mine_remove").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not kept[0].exists()  # the file left the server at once
    assert any(s.value.startswith("Removed: My weights: mine.safetensors") for s in at.success)
    assert not [b for b in at.selectbox if b.key == "rf_weights_mine"]  # no own weights listed any more
    assert at.file_uploader(key="rf_weights_own_file") is not None  # the form that adds some is back
    assert not any(o.startswith("My weights") for o in at.selectbox(key="rf_model").options)
