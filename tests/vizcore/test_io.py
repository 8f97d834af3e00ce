"""vizcore.core.io: atomic writes leave the old file or the complete new one, and no temporary file on failure."""
from __future__ import annotations

import errno

import pytest

from vizcore.core import io as vio


def test_write_replaces_whole_and_leaves_no_temporary(tmp_path) -> None:
    p = vio.write_text(tmp_path / "a" / "b.json", "old")
    assert p.read_text() == "old"
    vio.write_bytes(p, b"new")
    assert p.read_bytes() == b"new" and sorted(x.name for x in p.parent.iterdir()) == ["b.json"]
    vio.copy_file(p, tmp_path / "c.json")
    assert (tmp_path / "c.json").read_bytes() == b"new"


def test_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path) -> None:
    p = vio.write_text(tmp_path / "x.txt", "old")

    def disk_full(tmp) -> None:
        tmp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        vio.write_with(p, disk_full)
    assert p.read_text() == "old" and [x.name for x in tmp_path.iterdir()] == ["x.txt"]


def test_torch_save_is_atomic_too(tmp_path) -> None:
    import torch

    p = vio.torch_save({"w": torch.arange(3)}, tmp_path / "w.pt")
    assert torch.equal(torch.load(p, weights_only=True)["w"], torch.arange(3))
