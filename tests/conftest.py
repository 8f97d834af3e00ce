"""Shared test set-up: a private data directory and a small thread count so runs are repeatable."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(autouse=True, scope="session")
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    d = tmp_path_factory.mktemp("convscope-data")
    os.environ["CONVSCOPE_DATA_DIR"] = str(d)
    os.environ.setdefault("TORCH_HOME", str(d / "torch_home"))
