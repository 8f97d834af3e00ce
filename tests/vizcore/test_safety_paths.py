"""Server files: browser users choose among operator-configured data folders; folder scans are bounded and
their messages never list what a server folder holds."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from vizcore.core import paths
from vizcore.data import datasets


def _png() -> bytes:
    b = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(b, "PNG")
    return b.getvalue()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "data"
    monkeypatch.setenv(paths.ENV_VAR, str(d))
    monkeypatch.delenv(paths.FOLDERS_ENV_VAR, raising=False)
    return d


def test_data_folders_from_env_and_file(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, c = (tmp_path / "class1" / "photos", tmp_path / "class2" / "photos", tmp_path / "digits")
    for d in (a, b, c):
        d.mkdir(parents=True)
    assert paths.data_folders() == {}
    monkeypatch.setenv(paths.FOLDERS_ENV_VAR, os.pathsep.join([str(a), str(tmp_path / "missing")]))
    (data_dir / paths.FOLDERS_FILE).write_text(f"# folders for the class\n{b}\n{c}  # digits\n{a}\n")
    assert paths.data_folders() == {"photos": a, "class2/photos": b, "digits": c}
    assert paths.resolve_data_folder("class2/photos") == b


def test_unknown_data_folder_names_only_the_choices(tmp_path: Path, data_dir: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"^expected one of the configured data folders \(none configured \(set "
                                         r"CONVSCOPE_DATA_FOLDERS\)\), got '/etc'$"):
        paths.resolve_data_folder("/etc")
    (tmp_path / "photos").mkdir()
    monkeypatch.setenv(paths.FOLDERS_ENV_VAR, str(tmp_path / "photos"))
    with pytest.raises(ValueError, match=r"^expected one of the configured data folders \(photos\), got '\.\./'$"):
        paths.resolve_data_folder("../")


def test_inside_follows_links(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "escape").symlink_to(tmp_path)
    assert paths.inside(root / "sub", root) and paths.inside(root, root)
    assert not paths.inside(root / "escape", root) and not paths.inside(root / ".." / "x", root)


def test_folder_scan_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(6):
            (tmp_path / cls / f"{i}.png").write_bytes(_png())
    monkeypatch.setattr(datasets, "MAX_FILES_SCANNED", 10)  # 2 class folders + 12 files = 14 entries
    with pytest.raises(ValueError, match=rf"^expected an image folder of at most 10 files, got a larger one \(folder "
                                         rf"'{tmp_path.name}'\); choose a smaller folder$"):
        datasets.load_dataset("folder", size=8, root=tmp_path)
    monkeypatch.setattr(datasets, "MAX_FILES_SCANNED", 14)
    assert len(datasets.load_dataset("folder", "train", size=8, root=tmp_path)) == 10


def test_folder_messages_do_not_list_its_contents(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for hidden in (".ssh", ".config", "secrets"):
        (home / hidden).mkdir(parents=True)
    (home / ".ssh" / "id.png").write_bytes(_png())
    with pytest.raises(ValueError) as exc:
        datasets.load_dataset("folder", size=8, root=home)
    msg = str(exc.value)
    assert msg == "expected at least 2 class folders with images (.png, .jpg, ...) in folder 'home', got 0"
    assert str(tmp_path) not in msg


def test_folder_scan_does_not_follow_links_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    for i in range(3):
        (outside / f"{i}.png").write_bytes(_png())
    root = tmp_path / "root"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        (root / cls / "x.png").write_bytes(_png())
        (root / cls / "link").symlink_to(outside)
    classes, samples = datasets._scan_folder(root, "folder 'root'")
    assert classes == ["a", "b"] and sorted(Path(p).name for p, _ in samples) == ["x.png", "x.png"]
