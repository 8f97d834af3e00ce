"""Bounded memory for every input: the budget, image decoding and resizing, conv arithmetic, custom specs.

Each former bomb is refused (or served) with a small tracemalloc peak; the numbers it would have needed are
computed independently (bytes = pixels x channels x element size)."""
from __future__ import annotations

import io
import json
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from vizcore.arch import geometry, spec
from vizcore.core import budget
from vizcore.data import images
from vizcore.figures import geometry as fgeo

MB = 1 << 20


def _png(w: int, h: int, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (w, h)).save(buf, format="PNG")
    return buf.getvalue()


def _peak(fn):
    tracemalloc.start()
    try:
        try:
            out = fn()
        except ValueError as exc:
            out = exc
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------------------------------------- the budget

def test_budget_default_env_and_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(budget.ENV_VAR, raising=False)
    assert budget.memory_budget_bytes() == 1024 * MB
    monkeypatch.setenv(budget.ENV_VAR, "64")
    assert budget.memory_budget_bytes() == 64 * MB
    budget.check_memory("a small map", 64 * MB)  # at the budget: allowed
    with pytest.raises(budget.MemoryBudgetError, match=r"a big map would need about 64\.0 MB, above this server's "
                                                       r"memory budget of 64\.0 MB \(CONVSCOPE_MEMORY_BUDGET_MB\)"):
        budget.check_memory("a big map", 64 * MB + 1)
    for bad in ("lots", "0", "-5"):
        monkeypatch.setenv(budget.ENV_VAR, bad)
        with pytest.raises(ValueError, match="expected CONVSCOPE_MEMORY_BUDGET_MB"):
            budget.memory_budget_bytes()


# ---------------------------------------------------------------------------------------------- images

def test_strip_png_is_refused_from_its_header() -> None:
    data = _png(30_000, 1)
    assert len(data) < 200  # a 1x30,000 PNG is a few hundred bytes ...
    # ... and resizing its short side to 224 first would make 224 x 6,720,000 x 3 bytes
    assert 224 * 30_000 * 224 * 3 > 4.5e9
    out, peak = _peak(lambda: images.decode_image(data))
    assert isinstance(out, ValueError) and "at most 50 times as long" in str(out)
    assert peak < 2 * MB
    with pytest.raises(ValueError, match=r"at most 50 times as long as it is wide, got 1x100000"):
        images.decode_image(_png(1, 100_000))


def test_fit_image_crops_before_resizing_any_aspect() -> None:
    strip = np.zeros((1, 30_000, 3), np.uint8)
    strip[0, (30_000 - 1) // 2] = 255  # the centre pixel (offset (W - side) // 2)
    out, peak = _peak(lambda: images.fit_image(strip, 224))
    assert out.shape == (224, 224, 3)
    assert (out == 255).all()  # the centre 1x1 square, upscaled
    assert peak < 5 * MB  # 224 x 224 x 3 output plus float work space, not gigabytes


def test_fit_image_square_is_unchanged_by_the_crop() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    wide = np.concatenate([np.zeros((40, 10, 3), np.uint8), img, np.zeros((40, 10, 3), np.uint8)], axis=1)
    np.testing.assert_array_equal(images.fit_image(wide, 20), images.fit_image(img, 20))


def test_float_tiff_with_one_inf_pixel_keeps_its_picture() -> None:
    arr = np.linspace(0.0, 1.0, 64, dtype=np.float32).reshape(8, 8)
    arr[0, 0] = np.inf
    buf = io.BytesIO()
    Image.fromarray(arr, mode="F").save(buf, format="TIFF")
    out = images.decode_image(buf.getvalue())
    finite = np.linspace(0.0, 1.0, 64).reshape(8, 8)
    lo, hi = finite[0, 1], finite.max()  # scaled by the finite pixels only
    expected = np.round((finite - lo) / (hi - lo) * 255).clip(0, 255).astype(np.uint8)
    expected[0, 0] = 255  # +Inf is the brightest value
    assert np.abs(out[:, :, 0].astype(int) - expected).max() <= 1  # float32 vs float64 rounding
    assert out[:, :, 0].std() > 60  # a gradient, not all black
    allinf = np.full((4, 4), np.nan, np.float32)
    buf = io.BytesIO()
    Image.fromarray(allinf, mode="F").save(buf, format="TIFF")
    with pytest.raises(ValueError, match="all NaN or infinite"):
        images.decode_image(buf.getvalue())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=0, max_size=512))
def test_random_bytes_decode_to_a_value_or_a_valueerror(data: bytes) -> None:
    try:
        out = images.decode_image(data)
    except ValueError:
        return
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 3), st.integers(1, 20_000), st.booleans(), st.sampled_from(["L", "RGB", "RGBA", "I;16", "F"]))
def test_extreme_aspect_images_give_a_value_or_a_valueerror_in_bounded_memory(short: int, long: int, tall: bool,
                                                                              mode: str) -> None:
    w, h = (short, long) if tall else (long, short)
    buf = io.BytesIO()
    Image.new(mode, (w, h)).save(buf, format="TIFF" if mode == "F" else "PNG")
    data = buf.getvalue()

    def decode_and_fit():
        return images.fit_image(images.decode_image(data), 224)

    out, peak = _peak(decode_and_fit)
    if isinstance(out, ValueError):
        assert max(w, h) > images.MAX_ASPECT * min(w, h)
    else:
        assert max(w, h) <= images.MAX_ASPECT * min(w, h)
        assert out.shape == (224, 224, 3)
    # decoded pixels (<= 20,000 x 3 x 4 bytes) and the 224 x 224 output, never a long side scaled up
    assert peak < 16 * MB


# ---------------------------------------------------------------------------------------------- conv arithmetic

def test_explain_counts_windows_and_samples_up_to_the_frame_cap() -> None:
    out, peak = _peak(lambda: geometry.explain(geometry.ConvGeometry(1_000_000, 1_000_000, 1, 1, 0)))
    assert (out.out_height, out.out_width) == (1_000_000, 1_000_000)
    assert out.n_windows == 10**12 and len(out.windows) == geometry.MAX_WINDOWS
    assert out.windows[0] == (0, 0, 0, 0) and out.windows[-1] == (999_999, 999_999, 999_999, 999_999)
    assert peak < 1 * MB
    small = geometry.explain(geometry.ConvGeometry(7, 7, 3, 2, 1))  # 4x4 outputs: all listed
    assert small.windows == tuple((r, c, 2 * r, 2 * c) for r in range(4) for c in range(4))
    with pytest.raises(ValueError, match="expected max_windows between 1 and 100000, got 0"):
        geometry.explain(geometry.ConvGeometry(7, 7, 3), max_windows=0)


def test_outsize_cli_at_a_million_pixels_is_instant_and_small() -> None:
    from vizcore.cli.main import main

    out, peak = _peak(lambda: main(["outsize", "--input", "1000000", "--kernel", "1", "--json"]))
    assert out == 0 and peak < 2 * MB


@pytest.mark.slow
def test_sliding_window_figure_is_bounded() -> None:
    g = geometry.ConvGeometry(254, 254, 64, 1, 1)
    fig = fgeo.sliding_window_figure(g, geometry.explain(g))
    assert len(fig.frames) == fgeo.MAX_TAPS // 64**2  # 24 frames of 4,096 taps each
    assert len(fig.to_json()) < 5 * MB
    g = geometry.ConvGeometry(4096, 4096, 1, 1, 0)
    e = geometry.explain(g)
    assert "at most 256×256 pixels, got 4096×4096" in fgeo.animation_limit(g, e)
    with pytest.raises(ValueError, match="animation is drawn for padded inputs of at most 256"):
        fgeo.sliding_window_figure(g, e)


def test_sliding_window_figure_marks_uncovered_pixels_from_all_windows() -> None:
    g = geometry.ConvGeometry(100, 100, 3, 3, 0)  # 97 = 32*3 + 1: floor drops the last row and column
    e = geometry.explain(g, max_windows=2)
    z = np.asarray(fgeo.sliding_window_figure(g, e).data[0].z)
    assert (z[:99, :99] == 1).all() and (z[99, :] == 2).all() and (z[:, 99] == 2).all()


# ---------------------------------------------------------------------------------------------- custom specs

def test_spec_bomb_is_refused_before_building() -> None:
    text = "input 3 8 8\n" + "conv 3 8192 p1\n" * 4
    # independent count: conv 3->8192 and 8192->8192 weights, float32
    first, second = 3 * 8192 * 9 + 8192, 8192 * 8192 * 9 + 8192
    assert 4 * (first + second) > 2 * 1024 * MB
    out, peak = _peak(lambda: spec.build(text))
    assert isinstance(out, spec.SpecError)
    assert str(out).startswith(f"line 3 ('conv 3 8192 p1'): the stack so far ({first + second:,} parameters")
    assert "memory budget" in str(out)
    assert peak < 5 * MB
    assert isinstance(spec.build(spec.EXAMPLE).model, object)  # ordinary specs still build


def test_spec_budget_follows_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(budget.ENV_VAR, "16")
    with pytest.raises(spec.SpecError, match=r"line 2 \('fc 2000'\): .*above this server's memory budget of 16\.0 MB"):
        spec.build("input 3 64 64\nfc 2000")  # 12,288 x 2,000 weights = 98 MB
    json.dumps(spec.build("input 3 8 8\nfc 10").input_shape)
