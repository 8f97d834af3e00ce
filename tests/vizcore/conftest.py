"""Unit tests of vizcore: time estimates rest on fixed calibrated rates, except where the calibration is what is
tested."""
from __future__ import annotations

import pytest

CALIBRATED_RATES = (1500.0, 4500.0)  # training and evaluation images per second a calibration reports here
# the tests of the measurement itself, and of what is computed from measured rates
MEASURING = {"tests.vizcore.test_timing", "tests.vizcore.test_sweep"}


@pytest.fixture(autouse=True)
def fixed_calibration(request, monkeypatch) -> None:
    """A training run's preflight estimates its time; with no finished run to rest on, the estimate times a few
    training steps of the model on this machine (a second or more per model and size, in every test that starts a
    run). Here it reports CALIBRATED_RATES instead; the measurement is tested in tests/vizcore/test_timing.py and
    runs for real in the browser tests."""
    if request.module.__name__ in MEASURING:
        return
    from vizcore.train import calibration

    monkeypatch.setattr(calibration, "calibrate", lambda *args, **kwargs: CALIBRATED_RATES)
