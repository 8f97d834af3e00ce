"""Pages under hostile input: server-sized conv arithmetic, allocation failures, data folders, damaged store."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    d = tmp_path / "convscope"
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(d))
    monkeypatch.delenv("CONVSCOPE_DATA_FOLDERS", raising=False)
    yield d
    from vizcore.lab import queue as runs

    for lab in list(runs._LABS.values()):
        lab.shutdown(wait=True, timeout=30)
    runs._LABS.clear()


@pytest.mark.slow
def test_conv_arithmetic_at_its_widget_maxima() -> None:
    at = AppTest.from_file("../../pages/conv_arithmetic.py", default_timeout=120).run()
    for key, value in (("ca_h", 4096), ("ca_w", 4096), ("ca_k", 1), ("ca_p", 0), ("ca_cin", 4096),
                       ("ca_cout", 4096)):
        at.number_input(key=key).set_value(value)
    at.run()
    assert not at.exception
    assert next(m.value for m in at.metric if m.label == "Output (C×H×W)") == "4096×4096×4096"
    assert any("at most 256×256 pixels, got 4096×4096" in i.value for i in at.info)
    assert not at.get("plotly_chart")  # no 600 MB figure
    at.number_input(key="ca_h").set_value(200)
    at.number_input(key="ca_w").set_value(200).run()
    assert not at.exception and len(at.get("plotly_chart")) == 1  # drawable again


def _allocation_page() -> None:
    import streamlit as st

    from pages._common import user_errors

    kind = st.radio("fault", ["memory", "torch", "value"], key="fault")
    with user_errors("Not shown: "):
        if kind == "memory":
            raise MemoryError()
        if kind == "torch":
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 5400000000 bytes")
        raise ValueError("expected x, got y")
    st.write("unreachable")


def test_user_errors_turns_allocation_failures_into_a_sentence() -> None:
    at = AppTest.from_function(_allocation_page, default_timeout=60).run()
    assert not at.exception
    expected = ("Not shown: this request needs more memory than the server can give it; choose a smaller input, "
                "model or batch")
    assert [e.value for e in at.error] == [expected]
    at.radio(key="fault").set_value("torch").run()
    assert not at.exception and [e.value for e in at.error] == [expected]
    at.radio(key="fault").set_value("value").run()
    assert [e.value for e in at.error] == ["Not shown: expected x, got y"]  # the page keeps working


def test_training_lab_offers_only_configured_data_folders(data_dir: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    photos = tmp_path / "class" / "photos"
    for cls in ("cats", "dogs"):
        (photos / cls).mkdir(parents=True)
        buf = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buf, "PNG")
        (photos / cls / "a.png").write_bytes(buf.getvalue())
    monkeypatch.setenv("CONVSCOPE_DATA_FOLDERS", str(photos))
    at = AppTest.from_file("../../pages/training_lab.py", default_timeout=120)
    at.session_state["lab_dataset"] = "folder"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [t for t in at.text_input if t.label == "Data folder"]  # no free path box
    box = at.selectbox(key="lab_data_folder")
    assert box.options == ["photos"] and box.value == "photos"


def test_training_lab_survives_a_damaged_store(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "runs.sqlite").write_bytes(b"not a database" * 10)
    at = AppTest.from_file("../../pages/training_lab.py", default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    kept = [p.name for p in data_dir.iterdir() if p.name.startswith("runs.sqlite.corrupt-")]
    assert len(kept) == 1 and (data_dir / kept[0]).read_bytes() == b"not a database" * 10


@pytest.mark.slow
def test_training_lab_lists_the_other_runs_beside_a_damaged_record(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.seed import seed_store
    from vizcore.lab.store import RunStore

    d = tmp_path / "seeded"
    seeded = seed_store(d)
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(d))
    bad = seeded.done[0]
    store = RunStore(d / "runs.sqlite")
    store._db.execute("UPDATE runs SET config='{not json' WHERE id=?", (bad,))
    at = AppTest.from_file("../../pages/training_lab.py", default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    [warn] = [w.value for w in at.warning if bad in w.value]
    assert "damaged" in warn and f"runs --export {bad}" in warn
    [table] = [t.value for t in at.dataframe if "id" in t.value.columns and "status" in t.value.columns]
    assert bad not in set(table["id"]) and seeded.done[1] in set(table["id"])
    at.button(key=f"lab_delete_damaged_{bad}").click().run()
    assert not at.exception and not [w for w in at.warning if bad in w.value]
    assert not store.exists(bad) and store.damaged_runs() == []
    from vizcore.lab import queue as runs

    for lab in list(runs._LABS.values()):
        lab.shutdown(wait=True, timeout=30)
    runs._LABS.clear()
